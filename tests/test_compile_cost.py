"""Compile cost that does not grow with depth: steps of one structure share one compiled
function, and a lowered training program is read back from the disk cache.

Structural checks only (how many functions, whether the lowering ran): timings belong to
``benchmarks/compile_scaling.py``.
"""

import numpy as np
import pytest

import symbackprop as sb
from codegen.llvm_backend.emit import ModuleBuilder, ProgramEmitter
from symbackprop.lower import cache as program_cache
from symbackprop.lower import training as lowering
from symbackprop.lower.training import lower_training


def mlp(depth, width=16, activation=sb.nn.Tanh):
    layers = [sb.nn.Linear(3, width), activation()]
    for _ in range(depth - 2):
        layers += [sb.nn.Linear(width, width), activation()]
    return sb.nn.Sequential(*layers, sb.nn.Linear(width, 1))


def program(depth, optimizer=None):
    net = mlp(depth)
    x = sb.input("x", (None, 3)); y = sb.input("y", (None, 1))
    names = [n for n, _ in net.parameter_shapes()]
    return lower_training(sb.mse(net(x), y), names, x, y, optimizer or sb.optim.SGD(lr=0.1))


def distinct_functions(tp):
    pe = ProgramEmitter(ModuleBuilder("m"), tp.step)
    return len({fn.name for fn, _, _ in pe.functions.values()}), len(pe.functions)


@pytest.mark.parametrize("optimizer", [sb.optim.SGD(lr=0.1), sb.optim.Adam(lr=0.01)], ids=["sgd", "adam"])
def test_distinct_kernels_do_not_grow_with_depth(optimizer):
    shallow, shallow_calls = distinct_functions(program(8, optimizer))
    deep, deep_calls = distinct_functions(program(24, optimizer))
    assert deep_calls > shallow_calls + 40       # 16 more layers: many more steps ...
    assert deep == shallow                        # ... and not one more function to compile
    assert deep < deep_calls / 4


def test_shared_functions_are_not_inlined_and_single_use_ones_are():
    tp = program(8)
    pe = ProgramEmitter(ModuleBuilder("m"), tp.step)
    uses = {}
    for fn, _, _ in pe.functions.values():
        uses[fn] = uses.get(fn, 0) + 1
    for fn, count in uses.items():
        attrs = {str(a) for a in fn.attributes}
        assert ("noinline" in attrs) == (count > 1), (fn.name, count, attrs)
        assert ("alwaysinline" in attrs) == (count == 1), (fn.name, count, attrs)


@pytest.fixture(scope="module")
def deep_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    return X, np.sin(X.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_deep_mlp_with_shared_kernels_trains_as_the_numpy_reference(deep_data, optimizer):
    # twelve layers: the hidden layers' forward, backward and update steps all run through
    # shared functions, called with each layer's own buffers (and &check[index] per param)
    X, Y = deep_data
    made = {"sgd": lambda: sb.optim.SGD(lr=0.05, momentum=0.9), "adam": lambda: sb.optim.Adam(lr=0.01)}
    trainers = {b: sb.Trainer(mlp(12), optimizer=made[optimizer](), backend=b, seed=1) for b in ("numpy", "llvm")}
    hist = {b: tr.fit(X, Y, epochs=4, batch_size=16, verbose=False) for b, tr in trainers.items()}
    np.testing.assert_allclose(hist["llvm"].loss, hist["numpy"].loss, rtol=1e-10)
    for name, value in trainers["numpy"].params.items():
        np.testing.assert_allclose(trainers["llvm"].params[name], value, rtol=1e-10, atol=1e-13, err_msg=name)


def test_a_shared_update_writes_its_own_params_check(deep_data):
    # every hidden layer's bias update is one function; each call must write its own
    # element of the finiteness check. With lr = -1 and weight decay 0.5 (values the driver
    # takes as they are) a bias of 1.7e308 grows past the largest double in its update only,
    # while the saturated tanh keeps the loss finite.
    from codegen import llvm_backend
    X, Y = deep_data
    tp = program(6)
    net_params = {n: np.asarray(v) for n, v in mlp(6).init_params(seed=0).items()}
    for victim in ("2.bias", "6.bias"):
        params = [net_params[n].copy() for n in tp.params]
        params[tp.params.index(victim)][:] = 1.7e308
        train = llvm_backend.build_training(tp)
        perm = np.arange(40, dtype=np.int64)[None, :]
        steps, losses, status = train(X, Y, params, [[] for _ in params], [-1.0, 0.0, 0.5], perm, 0, 40)
        assert status is not None and status[2] == 1 + tp.params.index(victim), (victim, status)


def test_the_training_program_is_read_back_from_the_disk_cache(tmp_path, monkeypatch, deep_data):
    monkeypatch.setenv("SYMBACKPROP_CACHE_DIR", str(tmp_path))
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return lower_training(*args, **kwargs)

    monkeypatch.setattr(lowering, "lower_training", counting)
    X, Y = deep_data
    results = []
    for _ in range(2):   # the second Trainer finds the program (and the kernel) on disk
        tr = sb.Trainer(mlp(5), optimizer=sb.optim.Adam(lr=0.01), backend="llvm", seed=2)
        results.append(tr.fit(X, Y, epochs=3, batch_size=10, verbose=False).loss)
    assert len(calls) == 1
    assert list((tmp_path / "programs").glob("p_*.pkl"))
    np.testing.assert_array_equal(results[0], results[1])


def test_a_changed_model_or_optimizer_misses_the_program_cache():
    x = sb.input("x", (None, 3)); y = sb.input("y", (None, 1))
    net = mlp(3)
    L = sb.mse(net(x), y)
    names = [n for n, _ in net.parameter_shapes()]
    key = program_cache.program_key(L, names, x, y, sb.optim.SGD(lr=0.1))
    assert key == program_cache.program_key(L, names, x, y, sb.optim.SGD(lr=0.5))  # a value, not a rule
    assert key != program_cache.program_key(L, names, x, y, sb.optim.SGD(lr=0.1, momentum=0.9))
    assert key != program_cache.program_key(L, names, x, y, sb.optim.Adam())
    assert key != program_cache.program_key(L, names[::-1], x, y, sb.optim.SGD(lr=0.1))
    other = sb.mse(mlp(3, activation=sb.nn.ReLU)(x), y)
    assert key != program_cache.program_key(other, names, x, y, sb.optim.SGD(lr=0.1))


def test_a_corrupt_program_cache_entry_is_rebuilt(tmp_path, monkeypatch, deep_data):
    monkeypatch.setenv("SYMBACKPROP_CACHE_DIR", str(tmp_path))
    X, Y = deep_data
    first = sb.Trainer(mlp(3), backend="numpy", seed=0).fit(X, Y, epochs=2, batch_size=20, verbose=False).loss
    for path in (tmp_path / "programs").glob("p_*.pkl"):
        path.write_bytes(b"not a pickle")
    again = sb.Trainer(mlp(3), backend="numpy", seed=0).fit(X, Y, epochs=2, batch_size=20, verbose=False).loss
    np.testing.assert_array_equal(first, again)


def test_a_deeper_network_compiles_only_its_driver_and_reuses_the_shared_kernels(tmp_path, monkeypatch, deep_data):
    # the kernels shared by the hidden layers are modules of their own, cached by structure:
    # one more layer changes the training function only (and the results equal numpy's)
    monkeypatch.setenv("SYMBACKPROP_CACHE_DIR", str(tmp_path))
    X, Y = deep_data
    kernels, losses = [], {}
    for depth in (6, 7, 7):
        tr = sb.Trainer(mlp(depth), optimizer=sb.optim.SGD(lr=0.05), backend="llvm", seed=1)
        losses[depth] = tr.fit(X, Y, epochs=2, batch_size=16, verbose=False).loss
        kernels.append(tr._train_fn.kernel)
    first, deeper, again = kernels
    parts = first.ir.parts
    assert len(parts) >= 4 and first.compiled == len(parts) + 1     # forward, backward, outer, update ...
    assert deeper.compiled == 1 and not deeper.warm                  # ... all reused: only the driver
    assert again.warm and again.compiled == 0
    assert "sbp.k." in deeper.source and "separately compiled kernel" in deeper.source
    reference = sb.Trainer(mlp(7), optimizer=sb.optim.SGD(lr=0.05), backend="numpy", seed=1)
    np.testing.assert_allclose(losses[7], reference.fit(X, Y, epochs=2, batch_size=16, verbose=False).loss,
                               rtol=1e-10)


def test_a_missing_part_is_rebuilt(tmp_path, monkeypatch, deep_data):
    # the driver's entry lists its parts' keys: with one part gone the program is built again
    monkeypatch.setenv("SYMBACKPROP_CACHE_DIR", str(tmp_path))
    X, Y = deep_data
    runs = []
    for k in range(2):
        tr = sb.Trainer(mlp(6), optimizer=sb.optim.SGD(lr=0.05), backend="llvm", seed=1)
        runs.append((tr.fit(X, Y, epochs=2, batch_size=16, verbose=False).loss, tr._train_fn.kernel))
        if k == 0:
            from codegen.llvm_backend import jit
            part_key = jit.key_of("part\n" + tr._train_fn.kernel.ir.parts[0][0])
            (tmp_path / "llvm" / f"k_{part_key}.o").unlink()
    (first, _), (second, kernel) = runs
    assert not kernel.warm and kernel.compiled == 2    # the lost part and the driver
    np.testing.assert_array_equal(first, second)


def test_a_long_program_is_an_unoptimised_driver_calling_separate_kernels(deep_data):
    # past DRIVER_ONLY_CALLS step calls every kernel (single-use ones too) is a module of its
    # own and the driver defines nothing else; a shared update still writes its own check
    from codegen import llvm_backend
    from codegen.llvm_backend import emit
    X, Y = deep_data
    shallow, deep = program(6), program(12)
    assert not ProgramEmitter(ModuleBuilder("m"), shallow.step, separate=True).driver_only
    pe = ProgramEmitter(ModuleBuilder("m"), deep.step, separate=True)
    assert pe.driver_only and len(pe.functions) > emit.DRIVER_ONLY_CALLS
    net_params = {n: np.asarray(v) for n, v in mlp(12).init_params(seed=0).items()}
    for victim in ("2.bias", "20.bias"):
        params = [net_params[n].copy() for n in deep.params]
        params[deep.params.index(victim)][:] = 1.7e308
        train = llvm_backend.build_training(deep)
        perm = np.arange(40, dtype=np.int64)[None, :]
        steps, losses, status = train(X, Y, params, [[] for _ in params], [-1.0, 0.0, 0.5], perm, 0, 40)
        assert status is not None and status[2] == 1 + deep.params.index(victim), (victim, status)
    linked = train.kernel.ir
    assert linked.driver and linked.text.count("\ndefine ") == 1 and len(linked.parts) >= 8


def _chain(x, links):
    v = x
    for i in range(links):
        v = sb.sin(v) + v if i % 2 == 0 else sb.tanh(v) * 0.5 + v
    return sb.sum(v)


def _llvm_and_numpy(outputs, feeds):
    got = sb.compile(outputs, backend="llvm")(**feeds)
    want = sb.compile(outputs, backend="numpy")(**feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-300)
    return got


def test_a_very_long_program_calls_its_kernels_from_a_table():
    # past TABLE_CALLS the driver is a constant table of calls and one loop reading it
    from codegen.llvm_backend import emit
    x = sb.input("x", (None, 3))
    L = _chain(x, 300)
    outputs = [L, sb.grad(L, x)]
    feeds = {"x": np.random.default_rng(0).normal(size=(5, 3))}
    _llvm_and_numpy(outputs, feeds)
    source = sb.compile(outputs, backend="llvm")._run.kernel.ir.text
    assert "sbp.calls" in source and "switch i64" in source
    assert source.count("call void @") <= 40 < emit.TABLE_CALLS  # one call per kernel, not per step


def test_a_long_program_with_a_slot_not_linear_in_the_batch_falls_back_to_call_instructions():
    # an N×N value puts N² in the offsets after it: no table of a·n + b offsets then
    x = sb.input("x", (None, 3))
    gram = x @ sb.transpose(x)
    L = _chain(gram, 300) + _chain(x, 10)
    outputs = [L, sb.grad(L, x)]
    feeds = {"x": np.random.default_rng(1).normal(size=(4, 3)) * 0.3}
    _llvm_and_numpy(outputs, feeds)
    source = sb.compile(outputs, backend="llvm")._run.kernel.ir.text
    assert "sbp.calls" not in source


def test_a_table_driven_training_loop_trains_as_numpy_and_names_a_bad_param(deep_data):
    from codegen import numpy_backend
    from codegen.llvm_backend import emit
    X, Y = deep_data
    deep = program(48)
    pe = ProgramEmitter(ModuleBuilder("m"), deep.step, separate=True)
    assert len(pe.functions) > emit.TABLE_CALLS
    net_params = {n: np.asarray(v) for n, v in mlp(48).init_params(seed=0).items()}
    perm = np.arange(40, dtype=np.int64)[None, :]
    results = {}
    for name, backend in (("llvm", llvm_backend_module()), ("numpy", numpy_backend)):
        params = [net_params[n].copy() for n in deep.params]
        train = backend.build_training(deep)
        steps, losses, status = train(X, Y, params, [[] for _ in params], [0.01, 0.0, 0.5], perm, 0, 10)
        assert status is None
        results[name] = (losses, params)
    np.testing.assert_allclose(results["llvm"][0], results["numpy"][0], rtol=1e-10)
    for a, b in zip(results["llvm"][1], results["numpy"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert "sbp.calls" in train_source(deep)
    victim = "60.bias"
    params = [net_params[n].copy() for n in deep.params]
    params[deep.params.index(victim)][:] = 1.7e308
    steps, losses, status = llvm_backend_module().build_training(deep)(
        X, Y, params, [[] for _ in params], [-1.0, 0.0, 0.5], perm, 0, 40)
    assert status is not None and status[2] == 1 + deep.params.index(victim), status


def llvm_backend_module():
    from codegen import llvm_backend
    return llvm_backend


def train_source(tp):
    return llvm_backend_module().build_training(tp).kernel.ir.text
