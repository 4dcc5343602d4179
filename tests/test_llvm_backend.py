"""llvm backend: the numba backend's parity suite run on ``backend="llvm"`` (every op, loss
and optimizer against the numpy backend; the fused training loop; divergence; deterministic
IR; warm and corrupt cache), plus the accuracy of its own exp/tanh/sigmoid/softplus and a
check that LLVM vectorised the loops."""

import ctypes
import math
import os
import re

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from tests.backend_zoo import feeds, zoo
from tests.test_numba_backend import LOSS_CASES, _generate, rel_err
from tests.test_train import make_data, make_net

pytest.importorskip("llvmlite")
pytest.importorskip("scipy")

BACKEND = "llvm"


@pytest.fixture(scope="module", params=["float64", "float32"])
def zoo_case(request):
    dtype = request.param
    outputs = zoo(dtype)
    return dtype, outputs, sb.compile(outputs, backend=BACKEND), sb.compile(outputs, backend="numpy")


@pytest.mark.parametrize("n,seed", [(7, 0), (1, 1), (33, 2)])
def test_every_op_matches_numpy_backend_and_evaluator(zoo_case, n, seed):
    dtype, outputs, fn, numpy_fn = zoo_case
    f = feeds(n, seed, dtype)
    got, ref = fn(**f), numpy_fn(**f)
    oracle = sb.evaluate(outputs, f)
    tol = 1e-10 if dtype == "float64" else 1e-4
    for i, (g, r, o) in enumerate(zip(got, ref, oracle)):
        assert g.shape == r.shape and g.dtype == np.dtype(dtype), i
        assert rel_err(g, r) < tol, (i, rel_err(g, r))
        assert rel_err(r, o) < (1e-12 if dtype == "float64" else 1e-4), i


def test_repeated_calls_and_batch_size_changes_give_fresh_arrays(zoo_case):
    dtype, outputs, fn, numpy_fn = zoo_case
    a = fn(**feeds(5, 3, dtype))
    b = fn(**feeds(9, 4, dtype))
    a2 = fn(**feeds(5, 3, dtype))
    for x, y in zip(a, a2):
        np.testing.assert_array_equal(x, y)
    assert b[6].shape == (9, 3)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_products_as_loop_nests_match_numpy_backend(monkeypatch, dtype):
    """The register-blocked loop nests (small products, the default) and BLAS (every product,
    SMALL_PRODUCT = 0) on every product of the zoo."""
    from codegen.llvm_backend import emit
    outputs = zoo(dtype)
    fn, ref_fn = sb.compile(outputs, backend=BACKEND), sb.compile(outputs, backend="numpy")
    loop_calls = fn._run.source.count("gemm\"(")  # the IR is made on first use: read it before the switch
    monkeypatch.setattr(emit, "SMALL_PRODUCT", 0)
    blas_fn = sb.compile(outputs, backend=BACKEND)
    assert loop_calls < blas_fn._run.source.count("gemm\"(")
    f = feeds(11, 5, dtype)
    tol = 1e-10 if dtype == "float64" else 1e-4
    for i, (g, h, r) in enumerate(zip(fn(**f), blas_fn(**f), ref_fn(**f))):
        assert rel_err(g, r) < tol, (i, rel_err(g, r))
        assert rel_err(h, r) < tol, (i, rel_err(h, r))


@pytest.mark.parametrize("sizes,act,kind,opt", LOSS_CASES)
def test_training_50_epochs_ends_with_the_same_params(sizes, act, kind, opt):
    rng = np.random.default_rng(11)
    X, Y = make_data(kind, 37, sizes[0], sizes[-1], rng)
    results = {}
    for backend in ("numpy", BACKEND):
        tr = sb.Trainer(make_net(sizes, act), loss=kind, optimizer=opt(), backend=backend, seed=4)
        hist = tr.fit(X, Y, epochs=50, batch_size=8, verbose=False)  # 5 batches, the last partial
        results[backend] = (hist, tr.params, tr.gradients(X, Y), tr.predict(X))
    (h0, p0, g0, y0), (h1, p1, g1, y1) = results["numpy"], results[BACKEND]
    assert h0.steps == h1.steps == 250
    assert rel_err(h1.loss, h0.loss) < 1e-10
    for name in p0:
        assert rel_err(p1[name], p0[name]) < 1e-10, name
        assert rel_err(g1[1][name], g0[1][name]) < 1e-9, name
    assert rel_err(y1, y0) < 1e-10


def test_float32_training_matches_numpy_backend():
    rng = np.random.default_rng(5)
    X, Y = make_data("cross_entropy", 40, 4, 3, rng)
    params = {}
    for backend in ("numpy", BACKEND):
        tr = sb.Trainer(make_net((4, 8, 3), "tanh"), loss="cross_entropy", optimizer=sb.optim.Adam(lr=0.01),
                        backend=backend, dtype="float32", seed=1)
        tr.fit(X, Y, epochs=20, batch_size=16, verbose=False)
        params[backend] = tr.params
    for name in params["numpy"]:
        assert params[BACKEND][name].dtype == np.float32
        np.testing.assert_allclose(params[BACKEND][name], params["numpy"][name], rtol=1e-4, atol=1e-5)


def test_training_matches_numba_backend_loss_history():
    pytest.importorskip("numba")
    rng = np.random.default_rng(2)
    X, Y = make_data("mse", 30, 3, 2, rng)
    hists = {}
    for backend in ("numba", BACKEND):
        tr = sb.Trainer(make_net((3, 6, 2), "tanh"), optimizer=sb.optim.SGD(lr=0.05, momentum=0.9), backend=backend,
                        seed=2)
        hists[backend] = tr.fit(X, Y, epochs=30, batch_size=7, verbose=False).loss
    assert rel_err(hists[BACKEND], hists["numba"]) < 1e-12


def test_divergence_stops_with_epoch_and_step():
    rng = np.random.default_rng(0)
    X, Y = make_data("mse", 20, 2, 1, rng)
    tr = sb.Trainer(make_net((2, 8, 1), "relu"), optimizer=sb.optim.SGD(lr=1e6), backend=BACKEND, seed=0)
    with pytest.raises(sb.TrainingDiverged) as e:
        tr.fit(X, Y * 1e3, epochs=50, batch_size=5, verbose=False)
    ref = sb.Trainer(make_net((2, 8, 1), "relu"), optimizer=sb.optim.SGD(lr=1e6), backend="numpy", seed=0)
    with pytest.raises(sb.TrainingDiverged) as e_ref:
        ref.fit(X, Y * 1e3, epochs=50, batch_size=5, verbose=False)
    assert e.value.epoch == e_ref.value.epoch
    assert abs(e.value.step - e_ref.value.step) <= 1  # checked after the update, numpy before
    assert f"epoch {e.value.epoch}" in str(e.value)


def test_export_source_is_llvm_ir_with_origins():
    tr = sb.Trainer(make_net((2, 4, 1), "tanh"), backend=BACKEND)
    tr.build((2,))
    src = tr.export_source()
    assert re.search(r'define i64 @"?train"?\(', src)
    assert "sbp_dgemm" not in src and re.search(r"<\d+ x double>", src)  # small products: vector loop nests, no BLAS
    assert "sbp.tanh" in src and not re.search(r'@"?tanh"?\(', src)  # the vectorisable tanh, not a libm call
    assert "; t" in src and "<-" in src                 # each step says what it computes
    from llvmlite import binding
    binding.parse_assembly(src).verify()


SCRIPT = """
import symbackprop as sb
from tests.test_train import make_net
tr = sb.Trainer(make_net((3, 5, 2), "tanh"), loss="cross_entropy", backend="llvm")
tr.build((3,))
import sys; sys.stdout.write(tr.export_source())
"""


def test_generated_ir_is_deterministic_across_processes(tmp_path):
    sources = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed, SYMBACKPROP_CACHE_DIR=str(tmp_path))
        sources.add(_generate(SCRIPT, env))
    assert len(sources) == 1, "generated IR differs between processes: the disk cache would never hit"


def test_warm_cache_second_process_compiles_nothing_and_corrupt_cache_is_rebuilt(tmp_path):
    env = dict(os.environ, SYMBACKPROP_CACHE_DIR=str(tmp_path))
    script = """
import time, numpy as np, symbackprop as sb
from tests.test_train import make_net
X = np.random.default_rng(0).normal(size=(10, 2)); Y = X[:, :1] ** 2
tr = sb.Trainer(make_net((2, 3, 1), "tanh"), backend="llvm", seed=0)
tr.build((2,))
t = time.process_time()  # CPU time: a busy machine does not fail the test
h = tr.fit(X, Y, epochs=2, verbose=False)
print(tr._train_fn.kernel.warm, round(time.process_time() - t, 3), repr(h.loss[-1]))
"""
    first = _generate(script, env).split()
    second = _generate(script, env).split()
    assert first[0] == "False" and second[0] == "True"
    assert first[2] == second[2]
    assert float(second[1]) < 0.5  # loading cached object code, not compiling
    entries = list((tmp_path / "llvm").glob("*.o"))
    assert entries
    for path in entries:  # corrupt: a flipped byte, then garbage
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    third = _generate(script, env).split()
    assert third[0] == "False" and third[2] == first[2]
    for path in (tmp_path / "llvm").glob("*.o"):
        path.write_bytes(b"garbage")
    fourth = _generate(script, env).split()
    assert fourth[0] == "False" and fourth[2] == first[2]
    assert _generate(script, env).split()[0] == "True"


# ---- math functions --------------------------------------------------------------------------

_MATH = {}


def vector_function(name, dtype="float64"):
    """A native ``f(out, x, n)`` applying the backend's ``name`` elementwise in ``dtype``
    (compiled once per name and dtype)."""
    if (name, dtype) not in _MATH:
        from llvmlite import ir
        from codegen.llvm_backend import jit
        from codegen.llvm_backend.emit import I64, VOID, ModuleBuilder, load, loop, store
        from codegen.llvm_backend.mathfns import DOUBLE, FLOAT
        ty = DOUBLE if dtype == "float64" else FLOAT
        mb = ModuleBuilder(f"test_{name}_{dtype}")
        fn = ir.Function(mb.module, ir.FunctionType(VOID, [ty.as_pointer(), ty.as_pointer(), I64]), "f")
        fn.args[0].add_attribute("noalias")
        fn.args[1].add_attribute("noalias")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        with loop(b, fn.args[2]) as i:
            store(b, mb.math.call(b, name, load(b, fn.args[1], i)), fn.args[0], i)
        b.ret_void()
        text = mb.text()
        kernel = jit.Kernel(text, {"f": (None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64])})
        _MATH[(name, dtype)] = (kernel, text)
    kernel, _ = _MATH[(name, dtype)]

    def apply(x):
        x = np.ascontiguousarray(x, dtype=dtype)
        out = np.empty_like(x)
        kernel.functions["f"](out.ctypes.data, x.ctypes.data, x.size)
        return out
    return apply


def vector_function32(name):
    """``vector_function`` in float32."""
    return vector_function(name, "float32")


def ulps(got, want):
    """|got − want| in units of the spacing of ``want`` (the smallest subnormal below it)."""
    want = np.asarray(want, dtype=np.float64)
    spacing = np.maximum(np.spacing(np.abs(want)), np.finfo(np.float64).smallest_subnormal)
    with np.errstate(invalid="ignore"):
        err = np.abs(got - want) / spacing
    return np.where(got == want, 0.0, err)


def _reference(name, x):
    import scipy.special
    if name == "exp":
        return np.array([math.exp(v) if v < 709.78 else (math.inf if v > 709.79 else np.exp(v)) for v in x])
    if name == "tanh":  # the true value: glibc's tanh is itself 2 ulp off near |x| = 0.2 (ours is 1.5)
        if np.finfo(np.longdouble).nmant > 60:
            return np.tanh(x.astype(np.longdouble)).astype(np.float64)
        return np.array([math.tanh(v) for v in x])
    if name == "sigmoid":  # scipy's expit flushes subnormal results to 0: exact values by mpmath
        import mpmath
        return np.array([float(1 / (1 + mpmath.exp(-mpmath.mpf(float(v))))) for v in x])
    return np.logaddexp(0.0, x)


SWEEPS = {"exp": (-745.13, 709.78), "tanh": (-20.0, 20.0), "sigmoid": (-745.0, 40.0), "softplus": (-40.0, 40.0)}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_own_math_within_2_ulp_of_libm_on_a_dense_sweep(name):
    lo, hi = SWEEPS[name]
    x = np.concatenate([np.linspace(lo, hi, 400_001), np.linspace(-1, 1, 100_001),
                        np.geomspace(1e-300, 1, 20_001), -np.geomspace(1e-300, 1, 20_001)])
    if name == "sigmoid":  # the mpmath reference is slow: a 40,000-point sweep
        x = np.concatenate([np.linspace(lo, hi, 30_001), np.linspace(-1, 1, 5_001), np.geomspace(1e-300, 1, 2_001),
                            -np.geomspace(1e-300, 1, 2_001)])
    got, want = vector_function(name)(x), _reference(name, x)
    err = ulps(got, want)
    assert float(err.max()) <= 2.0, (name, float(err.max()), x[int(err.argmax())])


def test_own_math_edge_cases():
    exp, tanh = vector_function("exp"), vector_function("tanh")
    sigmoid, softplus = vector_function("sigmoid"), vector_function("softplus")
    inf, nan = np.inf, np.nan
    edges = np.array([0.0, -0.0, inf, -inf, nan, 709.782712893384, 709.7828, 710.0, 1e308,
                      -708.3964185322641, -745.1332191019411, -745.14, -746.0, -1e308, 5e-324, -5e-324])
    with np.errstate(all="ignore"):
        want = np.exp(edges)
    got = exp(edges)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.all(ulps(got[ok], want[ok]) <= 2.0), list(zip(edges[ok], got[ok], want[ok]))
    assert exp(np.array([709.7828]))[0] == inf and exp(np.array([-745.2]))[0] == 0.0
    assert exp(np.array([-745.13]))[0] == 5e-324  # the smallest subnormal
    t = tanh(np.array([0.0, -0.0, inf, -inf, nan, 1e-300, -1e-300, 0.04, -0.04, 0.0399999999, 19.1, 1e308]))
    assert t[0] == 0.0 and math.copysign(1, t[0]) == 1 and t[1] == 0.0 and math.copysign(1, t[1]) == -1
    assert t[2] == 1.0 and t[3] == -1.0 and np.isnan(t[4])
    assert t[5] == 1e-300 and t[6] == -1e-300 and t[10] == 1.0 and t[11] == 1.0
    assert np.all(ulps(t[7:10], np.tanh([0.04, -0.04, 0.0399999999])) <= 2)
    s = sigmoid(np.array([0.0, inf, -inf, nan, 800.0, -800.0, -745.0]))
    assert s[0] == 0.5 and s[1] == 1.0 and s[2] == 0.0 and np.isnan(s[3]) and s[4] == 1.0 and s[5] == 0.0
    assert s[6] > 0
    p = softplus(np.array([0.0, inf, -inf, nan, 1e308, -1e308]))
    assert p[0] == math.log(2) and p[1] == inf and p[2] == 0.0 and np.isnan(p[3]) and p[4] == 1e308 and p[5] == 0.0


def ulps32(got, want):
    """|got − want| in float32 ulps of ``want`` (a float64 reference)."""
    want = np.asarray(want, dtype=np.float64)
    spacing = np.maximum(np.spacing(np.abs(want).astype(np.float32)).astype(np.float64),
                         float(np.finfo(np.float32).smallest_subnormal))
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.float64) - want) / spacing
    return np.where(got == want.astype(np.float32), 0.0, err)


SWEEPS32 = {"exp": (-104.0, 88.7), "tanh": (-10.0, 10.0), "sigmoid": (-100.0, 30.0), "softplus": (-40.0, 40.0)}
REFERENCE64 = {"exp": np.exp, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
               "softplus": lambda x: np.logaddexp(0, x)}


@pytest.mark.parametrize("name", sorted(SWEEPS32))
def test_own_float32_math_within_3_ulp_on_a_dense_sweep_and_at_the_edges(name):
    """float32 maps compute in float32: exp (measured ≤ 0.9 ulp), tanh and sigmoid (≤ 2.1),
    softplus (≤ 1.5) against the float64 result; edges exactly as numpy's float32."""
    lo, hi = SWEEPS32[name]
    x = np.concatenate([np.linspace(lo, hi, 400_001), np.linspace(-1, 1, 100_001), np.geomspace(1e-37, 1, 20_001),
                        -np.geomspace(1e-37, 1, 20_001)]).astype(np.float32)
    f = vector_function32(name)
    with np.errstate(all="ignore"):
        err = ulps32(f(x), REFERENCE64[name](x.astype(np.float64)))
    assert float(err.max()) <= 3.0, (name, float(err.max()), x[int(err.argmax())])
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.72, 89.0, -103.97, -104.0, -110.0, 1e-40], np.float32)
    with np.errstate(all="ignore"):
        want = REFERENCE64[name](edges.astype(np.float64)).astype(np.float32)
    got = f(edges)
    np.testing.assert_array_equal(got, want)
    assert [math.copysign(1, v) for v in got[:2]] == [math.copysign(1, v) for v in want[:2]]


def test_nan_semantics_of_selects_follow_numpy():
    x = sb.input("x", (None,))
    outs = [sb.relu(x), sb.abs(x), sb.max(x, axis=0), sb.leaky_relu(x, 0.1)]
    fn, ref = sb.compile(outs, backend=BACKEND), sb.compile(outs, backend="numpy")
    v = np.array([1.0, np.nan, -2.0, 0.0, -0.0, np.inf, -np.inf])
    for g, r in zip(fn(x=v), ref(x=v)):
        np.testing.assert_array_equal(g, r)


# ---- vectorisation ---------------------------------------------------------------------------

def test_loops_are_vectorised_and_use_no_libm_for_exp_or_tanh():
    """Read the optimised IR once: the tanh map, the sums and the update loops are vector code."""
    from codegen.llvm_backend import jit
    from codegen.llvm_backend.training import training_ir
    from symbackprop.lower.training import lower_training
    tr = sb.Trainer(make_net((2, 16, 16, 1), "tanh"), backend=BACKEND, optimizer=sb.optim.Adam(lr=0.01))
    tr.build((2,))
    tp = lower_training(tr.loss_expr, tr._names, tr.x, tr.y, tr.optimizer)
    opt = jit.optimised_ir(training_ir(tp)[0])
    width = re.findall(r"<(\d+) x double>", opt)
    assert width and max(int(w) for w in width) >= 2
    assert re.search(r"call <\d+ x double> @llvm\.floor\.v\d+f64", opt)  # the exp inside tanh, vectorised
    assert re.search(r"@llvm\.vector\.reduce\.fadd", opt)                # sums (and the gradient check)
    assert not re.search(r'call double @"?(exp|tanh)"?\(', opt)
    assert "sbp_dgemm" not in opt  # W1's products are register-blocked vector loops
    assert re.search(r"fmul contract <\d+ x double>", opt) or re.search(r"@llvm\.fmuladd\.v\d+f64", opt)
