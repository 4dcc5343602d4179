"""numba backend: steps of one structure compile to one shared function, products call BLAS
directly, and shared functions stay out of line in their callers.

Structural checks and results only: timings belong to ``benchmarks/compile_scaling.py``.
"""

import re

import numpy as np
import pytest

pytest.importorskip("numba")

import symbackprop as sb
from codegen.numba_backend import blas, noinline, sharing
from codegen.numba_backend.emit import Emitter
from codegen.numba_backend.training import training_source
from symbackprop.lower.training import lower_training


def mlp(depth, width=8):
    layers = [sb.nn.Linear(3, width), sb.nn.Tanh()]
    for _ in range(depth - 2):
        layers += [sb.nn.Linear(width, width), sb.nn.Tanh()]
    return sb.nn.Sequential(*layers, sb.nn.Linear(width, 1))


def program(depth, optimizer=None):
    net = mlp(depth)
    x = sb.input("x", (None, 3)); y = sb.input("y", (None, 1))
    names = [n for n, _ in net.parameter_shapes()]
    return lower_training(sb.mse(net(x), y), names, x, y, optimizer or sb.optim.SGD(lr=0.1))


def shared_definitions(source):
    return re.findall(r"(?m)^def (shared_\d+)\(", source)


@pytest.mark.parametrize("optimizer", [sb.optim.SGD(lr=0.1), sb.optim.Adam(lr=0.01)], ids=["sgd", "adam"])
def test_a_deep_mlp_has_one_function_per_distinct_layer_kernel(optimizer):
    tp = program(8, optimizer)
    plan = sharing.SharedSteps(Emitter(tp.step))
    source = training_source(tp)
    names = shared_definitions(source)
    assert names == list(plan.names.values())          # one definition per distinct structure
    assert len(names) == len(set(plan.names))
    for name in names:                                  # ... each called by two steps or more
        assert len(re.findall(rf"(?m)^\s+{name}\(", source)) >= sharing.MIN_SHARED, name
    # sixteen more layers add calls, not functions
    deeper = shared_definitions(training_source(program(24, optimizer)))
    assert len(deeper) == len(names)


def test_each_shared_function_says_what_it_computes_and_how_many_steps_share_it():
    source = training_source(program(8))
    for match in re.finditer(r"(?m)^# (.*)\n#   and (\d+) more steps of this structure .*\n@njit\(.*\)\ndef shared_", source):
        assert match.group(1) and int(match.group(2)) >= 1
    assert len(re.findall(r"more steps of this structure", source)) == len(shared_definitions(source))


def test_a_structure_that_occurs_once_stays_inline():
    tp = program(3)  # 3 → 8 → 8 → 1: the first and last layers' kernels are distinct
    source = training_source(tp)
    driver = source[source.index("def train("):]
    assert "for " in driver.split("# ", 3)[-1]         # loops written in the driver itself
    assert re.search(r"(?m)^\s+gemm\(", driver)         # products call BLAS directly, no np.dot
    assert "np.dot(" not in source


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    return X, np.sin(X.sum(axis=1, keepdims=True))


def fit(X, Y, backend, dtype="float64", optimizer=None):
    tr = sb.Trainer(mlp(8), optimizer=optimizer or sb.optim.SGD(lr=0.05, momentum=0.9), backend=backend,
                    seed=1, dtype=dtype)
    hist = tr.fit(X.astype(dtype), Y.astype(dtype), epochs=3, batch_size=16, verbose=False)
    return hist.loss, tr.params


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_shared_and_inline_kernels_give_the_same_training(data, monkeypatch, optimizer):
    X, Y = data
    made = {"sgd": lambda: sb.optim.SGD(lr=0.05, momentum=0.9), "adam": lambda: sb.optim.Adam(lr=0.01)}
    loss_shared, params_shared = fit(X, Y, "numba", optimizer=made[optimizer]())
    monkeypatch.setattr(sharing, "MIN_SHARED", 10 ** 9)  # every step inline, as before sharing
    loss_inline, params_inline = fit(X, Y, "numba", optimizer=made[optimizer]())
    loss_numpy, params_numpy = fit(X, Y, "numpy", optimizer=made[optimizer]())
    np.testing.assert_allclose(loss_shared, loss_inline, rtol=1e-12)
    np.testing.assert_allclose(loss_shared, loss_numpy, rtol=1e-10)
    for name, value in params_inline.items():
        np.testing.assert_allclose(params_shared[name], value, rtol=1e-12, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(params_shared[name], params_numpy[name], rtol=1e-10, atol=1e-13, err_msg=name)


def test_shared_kernels_in_float32_train_as_the_numpy_reference(data):
    X, Y = data
    loss, params = fit(X, Y, "numba", "float32")
    want_loss, want = fit(X, Y, "numpy", "float32")
    np.testing.assert_allclose(loss, want_loss, rtol=2e-4)
    for name, value in want.items():
        assert params[name].dtype == np.float32
        np.testing.assert_allclose(params[name], value, rtol=2e-3, atol=2e-5, err_msg=name)


# ---- products --------------------------------------------------------------------------

@pytest.mark.parametrize("gemm", [blas.gemm_direct, blas.gemm_dot], ids=["direct", "np.dot"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_is_numpys_product_for_every_transpose(gemm, dtype):
    rng = np.random.default_rng(0)
    for trans_a in (False, True):
        for trans_b in (False, True):
            for m, n, k in [(5, 7, 3), (1, 1, 1), (64, 10, 128), (0, 3, 2), (3, 4, 0)]:
                A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
                B = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
                C = np.full(m * n, np.nan, dtype)
                gemm(A.reshape(-1), B.reshape(-1), C, m, n, k, trans_a, trans_b)
                want = (A.T if trans_a else A).astype(np.float64) @ (B.T if trans_b else B).astype(np.float64)
                tol = 1e-10 if dtype == "float64" else 1e-5
                np.testing.assert_allclose(C.reshape(m, n), want, rtol=tol, atol=tol * max(k, 1),
                                           err_msg=f"{trans_a} {trans_b} {(m, n, k)}")


def test_products_call_numbas_blas_binding_directly():
    assert blas.DIRECT  # this numba has xxgemm in its helper library: no np.dot anywhere
    assert blas._IMPL is blas.gemm_direct


def test_gemm_compiles_once_whatever_the_literal_sizes_and_flags():
    from numba import njit
    from numba.core import event

    compiled = []

    class Count(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            if ev.data["dispatcher"].py_func.__name__ == "gemm_direct":
                compiled.append(ev.data["args"])

    @njit
    def products(a, b, c):  # literal sizes and flags, as generated code passes them
        blas.gemm(a, b, c, 2, 3, 4, False, True)
        blas.gemm(a, b, c, 3, 2, 4, True, False)
        blas.gemm(a, b, c, 1, 6, 2, False, False)

    a, b, c = (np.arange(12, dtype=np.float32) for _ in range(3))
    listener = Count()
    event.register("numba:compile", listener)
    try:
        products(a, b, c)
    finally:
        event.unregister("numba:compile", listener)
    assert len(compiled) <= 1, compiled  # one float32 gemm (none if another test compiled it)
    np.testing.assert_allclose(c[:6].reshape(1, 6), a[:2].reshape(1, 2) @ b[:12].reshape(2, 6))


# ---- out of line -----------------------------------------------------------------------

SOURCE = '''
import numpy as np
from numba import njit

@njit(nogil=True)
def shared_0(p0, p1, n, nf):
    for i in range(p0.size):
        p0[i] = np.tanh(p1[i]) * 2.0 + 1.0

@njit(nogil=True)
def kernel(a, b, c):
    shared_0(b, a, 1, 1.0)
    shared_0(c, b, 1, 1.0)
    return 0
'''


def test_shared_functions_are_called_not_inlined_by_the_driver():
    # the module must be one of ours for the marking: numba names symbols after the module
    x = np.linspace(0, 1, 8)
    assert noinline.install()
    namespace = {"__name__": noinline.MODULE_MARKER + "test"}
    exec(compile(SOURCE, "<test>", "exec"), namespace)
    b, c = np.empty(8), np.empty(8)
    namespace["kernel"](x, b, c)
    ir = "\n".join(namespace["kernel"].inspect_llvm().values())
    calls = re.findall(r"call [^\n]*@\"?_ZN\S*shared_0", ir)
    assert len(calls) == 2, ir[:2000]
    np.testing.assert_allclose(c, np.tanh(np.tanh(x) * 2 + 1) * 2 + 1, rtol=1e-14)


def test_mark_touches_only_the_shared_functions_of_generated_modules():
    import llvmlite.binding as ll
    ll.initialize_native_target(); ll.initialize_native_asmprinter()
    ir = ('define void @"_ZN24symbackprop_kernel_abc8shared_0E"() {\n  ret void\n}\n'
          'define void @"_ZN5codegen4fexpE"() {\n  ret void\n}\n'
          'define void @"_ZN24symbackprop_kernel_abc5trainE"() {\n  ret void\n}\n')
    module = ll.parse_assembly(ir)
    assert noinline.mark(module) == 1
    marked = {fn.name: any(b"noinline" in bytes(a) for a in fn.attributes) for fn in module.functions}
    assert marked == {"_ZN24symbackprop_kernel_abc8shared_0E": True, "_ZN5codegen4fexpE": False,
                      "_ZN24symbackprop_kernel_abc5trainE": False}


def test_without_numbas_private_linking_method_nothing_is_changed_and_kernels_still_work(
        data, monkeypatch, tmp_path):
    from numba.core.codegen import CPUCodeLibrary
    was = noinline.uninstall()
    try:
        with monkeypatch.context() as m:
            m.delattr(CPUCodeLibrary, "_get_module_for_linking")  # a numba without the method
            assert noinline.install() is False
        assert not noinline.installed()
        assert CPUCodeLibrary._get_module_for_linking.__name__ == "_get_module_for_linking"
        assert not hasattr(CPUCodeLibrary._get_module_for_linking, "__wrapped__")  # numba's own
        # compiled without the marking (a fresh cache, so nothing comes from a marked build):
        # LLVM may inline the shared functions; the results are the same
        monkeypatch.setattr(noinline, "install", lambda: False)
        monkeypatch.setenv("SYMBACKPROP_CACHE_DIR", str(tmp_path))
        X, Y = data
        optimizer = sb.optim.SGD(lr=0.02)  # a model no other test compiles in this process
        loss, params = fit(X, Y, "numba", optimizer=optimizer)
        want_loss, want = fit(X, Y, "numpy", optimizer=sb.optim.SGD(lr=0.02))
        assert not noinline.installed()
        np.testing.assert_allclose(loss, want_loss, rtol=1e-10)
        for name, value in want.items():
            np.testing.assert_allclose(params[name], value, rtol=1e-10, atol=1e-13, err_msg=name)
    finally:
        monkeypatch.undo()
        if was:
            noinline.install()


def test_a_long_program_runs_as_parts_and_computes_as_numpy(data):
    # sb.compile of a deep chain's loss and gradients: more steps than one part holds
    x = sb.input("x", (None, 3)); y = sb.input("y", (None, 1))
    Ws = [sb.param("W0", (3, 8))] + [sb.param(f"W{i}", (8, 8)) for i in range(1, 10)] + [sb.param("W10", (8, 1))]
    h = x
    for W in Ws[:-1]:
        h = sb.tanh(h @ W)
    L = sb.mean((h @ Ws[-1] - y) ** 2)
    g = sb.grad(L, Ws)
    outputs = [L] + [g[W] for W in Ws]
    X, Y = data
    rng = np.random.default_rng(2)
    feeds = {"x": X, "y": Y, **{W.name: rng.normal(size=W.shape) / 3 for W in Ws}}
    f = sb.compile(outputs, backend="numba")
    source = f._run.source
    assert re.search(r"(?m)^def part_\d+\(", source)
    for got, want in zip(f(**feeds), sb.compile(outputs, backend="numpy")(**feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_functions_only_generated_code_calls_are_compiled_without_wrappers():
    # the Python and C wrappers of a shared function or a part were lowered, optimised and
    # compiled for nothing (0.1-0.2 s of W1's cold compile, ~1 s on a depth-16 MLP)
    from codegen.numba_backend import CALLEE_OPTIONS, ENTRY_OPTIONS
    source = training_source(program(40))
    decorated = dict((name, options) for options, name in
                     re.findall(r"(?m)^@njit\((.*)\)\ndef (\w+)\(", source))
    assert any(n.startswith("part_") for n in decorated) and any(n.startswith("shared_") for n in decorated)
    for name, options in decorated.items():
        assert options == (ENTRY_OPTIONS if name == "train" else CALLEE_OPTIONS), name
    if "no_cpython_wrapper" in CALLEE_OPTIONS:  # this numba has the options
        assert "no_cfunc_wrapper=True" in ENTRY_OPTIONS and "no_cpython_wrapper" not in ENTRY_OPTIONS


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_squared_norms_are_one_compiled_function_called_per_gradient(data, dtype):
    # each gradient's Σ g² is a call of norms.squared_norm, not a loop of the driver, and the
    # recorded gradient norms are the numpy reference's
    from symbackprop.optim.options import configure
    X, Y = data
    tp = program(4, configure(sb.optim.SGD(lr=0.1), 8))   # as the Trainer configures it: norms recorded
    source = training_source(tp)
    count = len(tp.params)
    assert len(re.findall(r"= squared_norm\(", source)) == count
    assert not re.search(r"(?m)^\s+for _s\d+_k\d+ in range", source)
    norms = {}
    for backend in ("numpy", "numba"):
        tr = sb.Trainer(mlp(4), optimizer=sb.optim.SGD(lr=0.05), backend=backend, seed=1, dtype=dtype)
        norms[backend] = tr.fit(X.astype(dtype), Y.astype(dtype), epochs=3, batch_size=16, verbose=False).grad_norms
    assert norms["numba"].keys() == norms["numpy"].keys()
    for name in norms["numpy"]:
        np.testing.assert_allclose(norms["numba"][name], norms["numpy"][name], rtol=1e-10 if dtype == "float64" else 1e-4)
