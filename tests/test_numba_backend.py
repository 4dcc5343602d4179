"""numba backend: parity with the numpy backend and the evaluator on every op, loss and
optimizer; the fused training loop; the kernel cache.  Kernels are shared per module."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import symbackprop as sb
from tests.backend_zoo import feeds, zoo
from tests.test_train import make_data, make_net

pytest.importorskip("numba")


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-12))) if a.size else 0.0


@pytest.fixture(scope="module", params=["float64", "float32"])
def zoo_case(request):
    dtype = request.param
    outputs = zoo(dtype)
    return dtype, outputs, sb.compile(outputs, backend="numba"), sb.compile(outputs, backend="numpy")


@pytest.mark.parametrize("n,seed", [(7, 0), (1, 1), (33, 2)])
def test_every_op_matches_numpy_backend_and_evaluator(zoo_case, n, seed):
    dtype, outputs, numba_fn, numpy_fn = zoo_case
    f = feeds(n, seed, dtype)
    got, ref = numba_fn(**f), numpy_fn(**f)
    oracle = sb.evaluate(outputs, f)
    tol = 1e-10 if dtype == "float64" else 1e-4
    for i, (g, r, o) in enumerate(zip(got, ref, oracle)):
        assert g.shape == r.shape and g.dtype == np.dtype(dtype), i
        assert rel_err(g, r) < tol, (i, rel_err(g, r))
        assert rel_err(r, o) < (1e-12 if dtype == "float64" else 1e-4), i


def test_repeated_calls_and_batch_size_changes_give_fresh_arrays(zoo_case):
    dtype, outputs, numba_fn, numpy_fn = zoo_case
    a = numba_fn(**feeds(5, 3, dtype))
    b = numba_fn(**feeds(9, 4, dtype))
    a2 = numba_fn(**feeds(5, 3, dtype))
    for x, y in zip(a, a2):
        np.testing.assert_array_equal(x, y)
    assert b[6].shape == (9, 3)


LOSS_CASES = [((3, 6, 2), "tanh", "mse", lambda: sb.optim.SGD(lr=0.05, momentum=0.9, weight_decay=0.01)),
              ((4, 8, 3), "relu", "cross_entropy", lambda: sb.optim.Adam(lr=0.01, weight_decay=0.001)),
              ((2, 5, 1), "sigmoid", "bce", lambda: sb.optim.SGD(lr=0.1, momentum=0.5, nesterov=True)),
              ((3, 4, 4, 1), "gelu", "hinge", lambda: sb.optim.SGD(lr=0.05))]


@pytest.mark.parametrize("sizes,act,kind,opt", LOSS_CASES)
def test_training_50_epochs_ends_with_the_same_params(sizes, act, kind, opt):
    rng = np.random.default_rng(11)
    X, Y = make_data(kind, 37, sizes[0], sizes[-1], rng)
    results = {}
    for backend in ("numpy", "numba"):
        tr = sb.Trainer(make_net(sizes, act), loss=kind, optimizer=opt(), backend=backend, seed=4)
        hist = tr.fit(X, Y, epochs=50, batch_size=8, verbose=False)  # 5 batches, the last partial
        results[backend] = (hist, tr.params, tr.gradients(X, Y), tr.predict(X))
    (h0, p0, g0, y0), (h1, p1, g1, y1) = results["numpy"], results["numba"]
    assert h0.steps == h1.steps == 250
    assert rel_err(h1.loss, h0.loss) < 1e-10
    for name in p0:
        assert rel_err(p1[name], p0[name]) < 1e-10, name
        assert rel_err(g1[1][name], g0[1][name]) < 1e-9, name
    assert rel_err(y1, y0) < 1e-10


FLOAT32_CASES = [((4, 8, 3), "tanh", "cross_entropy", lambda: sb.optim.Adam(lr=0.01))] + \
    [c for c in LOSS_CASES if c[1] != "tanh"] + [((3, 6, 1), "softplus", "mse", lambda: sb.optim.SGD(lr=0.05))]


@pytest.mark.parametrize("sizes,act,kind,opt", FLOAT32_CASES)
def test_float32_training_matches_numpy_backend(sizes, act, kind, opt):
    rng = np.random.default_rng(5)
    X, Y = make_data(kind, 40, sizes[0], sizes[-1], rng)
    params, losses = {}, {}
    for backend in ("numpy", "numba"):
        tr = sb.Trainer(make_net(sizes, act), loss=kind, optimizer=opt(), backend=backend, dtype="float32", seed=1)
        losses[backend] = tr.fit(X, Y, epochs=20, batch_size=16, verbose=False).loss
        params[backend] = tr.params
    assert rel_err(losses["numba"], losses["numpy"]) < 1e-4
    for name in params["numpy"]:
        assert params["numba"][name].dtype == np.float32
        np.testing.assert_allclose(params["numba"][name], params["numpy"][name], rtol=1e-4, atol=1e-5)


_FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*(e[-+]?\d+)?|\d+e[-+]?\d+)|np\.(nan|inf)\b")


def test_float32_kernels_compute_in_float32():
    """No float64 literal, batch size or hyperparameter reaches a float32 loop (numba would
    promote the loop to float64); hoisted scalars are computed in float64 and rounded once."""
    sources = []
    for act, opt in (("tanh", sb.optim.Adam(lr=0.01)), ("sigmoid", sb.optim.SGD(lr=0.1, momentum=0.9))):
        tr = sb.Trainer(make_net((3, 5, 2), act), loss="cross_entropy", optimizer=opt, backend="numba",
                        dtype="float32")
        tr.build((3,))
        sources.append(tr.export_source())
    sources.append(sb.compile(zoo("float32"), backend="numba")._run.source)  # every op of the IR
    for src in sources:
        assert "nf = np.float32(n)" in src
        assert "ftanh32(" in src or "fsigmoid32(" in src
        loop = None  # indentation of the step or update loop we are in
        for line in src.splitlines():
            code = line.split("#")[0]
            indent = len(code) - len(code.lstrip())
            if loop is not None and code.strip() and indent <= loop:
                loop = None
            if loop is None and re.match(r"\s*for _[su]\w* in range", code):
                loop = indent
            if re.match(r"\s*_\w+ = np\.float32\(", code) or re.match(r"\s*(total|chk) = 0\.0$", code):
                continue  # a hoisted scalar rounded to float32; the float64 loss and finiteness sums
            code = re.sub(r"np\.float32\([^()]*\)", "", code)
            assert not _FLOAT_LITERAL.search(code), line
            if loop is not None:
                assert not re.search(r"\b(hyper|tt)\b", code), line  # float64: cast once, before the loop


def test_divergence_stops_with_epoch_and_step():
    rng = np.random.default_rng(0)
    X, Y = make_data("mse", 20, 2, 1, rng)
    tr = sb.Trainer(make_net((2, 8, 1), "relu"), optimizer=sb.optim.SGD(lr=1e6), backend="numba", seed=0)
    with pytest.raises(sb.TrainingDiverged) as e:
        tr.fit(X, Y * 1e3, epochs=50, batch_size=5, verbose=False)
    ref = sb.Trainer(make_net((2, 8, 1), "relu"), optimizer=sb.optim.SGD(lr=1e6), backend="numpy", seed=0)
    with pytest.raises(sb.TrainingDiverged) as e_ref:
        ref.fit(X, Y * 1e3, epochs=50, batch_size=5, verbose=False)
    assert e.value.epoch == e_ref.value.epoch
    assert abs(e.value.step - e_ref.value.step) <= 1  # numba checks after the update, numpy before
    assert f"epoch {e.value.epoch}" in str(e.value)


def test_export_source_is_readable_loops_with_origins():
    tr = sb.Trainer(make_net((2, 4, 1), "tanh"), backend="numba")
    tr.build((2,))
    src = tr.export_source()
    assert "@njit(" in src and "def train(" in src and "gemm(" in src
    assert "ftanh(" in src          # the vectorisable tanh, not a libm call
    assert "# t" in src and "<-" in src  # each step says what it computes
    with pytest.raises(sb.CompileError):
        sb.Trainer(make_net((2, 1), "tanh"), backend="numpy").export_source()


def _generate(script, env):
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout


SCRIPT = """
import symbackprop as sb
from tests.test_train import make_net
tr = sb.Trainer(make_net((3, 5, 2), "tanh"), loss="cross_entropy", backend="numba")
tr.build((3,))
import sys; sys.stdout.write(tr.export_source())
"""


def test_generated_source_is_deterministic_across_processes(tmp_path):
    sources = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed, SYMBACKPROP_CACHE_DIR=str(tmp_path))
        sources.add(_generate(SCRIPT, env))
    assert len(sources) == 1, "generated kernels differ between processes: the disk cache would never hit"


def test_warm_cache_second_process_compiles_nothing_and_corrupt_cache_is_rebuilt(tmp_path):
    env = dict(os.environ, SYMBACKPROP_CACHE_DIR=str(tmp_path))
    script = """
import time, numpy as np, symbackprop as sb
from tests.test_train import make_net
X = np.random.default_rng(0).normal(size=(10, 2)); Y = X[:, :1] ** 2
tr = sb.Trainer(make_net((2, 3, 1), "tanh"), backend="numba", seed=0)
tr.build((2,))
t = time.process_time()  # CPU time: a busy machine does not fail the test
h = tr.fit(X, Y, epochs=2, verbose=False)
print(tr._train_fn.kernel.warm, round(time.process_time() - t, 3), repr(h.loss[-1]))
"""
    first = _generate(script, env).split()
    second = _generate(script, env).split()
    assert first[0] == "False" and second[0] == "True"
    assert first[2] == second[2]
    assert float(second[1]) < 2.0  # loading cached machine code, not compiling (cold is several s)
    # corrupt every cache file: the next process must rebuild, not crash or trust it
    for path in tmp_path.rglob("*"):
        if path.is_file():
            path.write_bytes(b"garbage")
    third = _generate(script, env).split()
    assert third[2] == first[2]
