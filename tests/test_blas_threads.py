"""The BLAS thread count of compiled kernels (``codegen/threads.py``): ``sb.set_blas_threads``
and ``SYMBACKPROP_BLAS_THREADS`` change the count threadpoolctl reads from scipy's BLAS, the
backends set it when they bind that BLAS, results do not depend on it; and the benchmark's
``--busy`` competitor (``benchmarks/busy.py``) runs during the timed fits and is gone after."""

import ctypes
import os
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

import symbackprop as sb
from codegen import threads

threadpoolctl = pytest.importorskip("threadpoolctl")
import scipy.linalg.cython_blas  # noqa: E402,F401  (loaded, so that threadpoolctl sees its library)

ROOT = Path(__file__).resolve().parents[1]


def scipy_blas_threads():
    """{library file: threads} of scipy's BLAS as threadpoolctl reads it, independently of
    codegen.threads (the wheels' own OpenBLAS, else every BLAS loaded)."""
    info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    own = [i for i in info if "scipy.libs" in i["filepath"]]
    return {i["filepath"]: i["num_threads"] for i in (own or info)}


def force_threads(n):
    """Set scipy's BLAS to ``n`` threads behind codegen.threads' back."""
    for c in threadpoolctl.ThreadpoolController().lib_controllers:
        if c.filepath in scipy_blas_threads():
            c.set_num_threads(n)


@pytest.fixture(autouse=True)
def restore(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    yield
    monkeypatch.delenv(threads.ENV, raising=False)
    sb.set_blas_threads(None)


def test_the_default_is_one_thread_and_the_setting_changes_what_the_blas_uses():
    assert scipy_blas_threads(), "threadpoolctl finds no BLAS of scipy's"
    sb.set_blas_threads(None)
    assert sb.blas_threads() == threads.DEFAULT == 1
    assert set(scipy_blas_threads().values()) == {1}
    assert sb.set_blas_threads(2) == 1
    assert sb.blas_threads() == 2 and set(scipy_blas_threads().values()) == {2}
    assert sb.set_blas_threads(1) == 2
    assert set(scipy_blas_threads().values()) == {1}


def test_the_environment_variable_sets_the_count_and_set_blas_threads_overrides_it(monkeypatch):
    monkeypatch.setenv(threads.ENV, "2")
    sb.set_blas_threads(None)  # back to the environment
    assert sb.blas_threads() == 2 and set(scipy_blas_threads().values()) == {2}
    sb.set_blas_threads(1)
    assert sb.blas_threads() == 1 and set(scipy_blas_threads().values()) == {1}


@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True, ""])
def test_a_count_that_is_not_a_whole_number_of_at_least_one_is_refused(bad):
    with pytest.raises(sb.ArgumentError, match="BLAS thread count"):
        sb.set_blas_threads(bad)


def test_a_bad_environment_value_is_named_in_the_error(monkeypatch):
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(sb.ArgumentError, match=threads.ENV):
        sb.blas_threads()


def blas_graph(dtype="float64"):
    """A loss whose products are too large for the llvm backend's own loop nests (64 × 128
    constant sizes): they are BLAS calls there, ``gemm`` (blas.py) on numba."""
    x = sb.input("x", (None, 64), dtype=dtype)
    W = sb.param("W", (64, 128), dtype=dtype)
    V = sb.param("V", (128, 64), dtype=dtype)
    L = sb.mean(sb.tanh(sb.tanh(x @ W) @ V) ** 2)
    g = sb.grad(L, [W, V])
    return [L, g[W], g[V]]


def feeds(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return dict(x=rng.normal(size=(n, 64)), W=rng.normal(size=(64, 128)) / 8, V=rng.normal(size=(128, 64)) / 11)


#: batch sizes whose products (rows × 64 × 128 multiply-adds) are below and above the threshold
#: at which, with n > 1 threads, a product runs on n threads (threads.PARALLEL_MIN_MACS)
SMALL_ROWS = threads.PARALLEL_MIN_MACS // (64 * 128) // 2
LARGE_ROWS = 2 * threads.PARALLEL_MIN_MACS // (64 * 128) + 1


@pytest.mark.parametrize("backend", ["llvm", "numba"])
def test_results_are_the_same_with_one_and_two_blas_threads(backend):
    pytest.importorskip("llvmlite" if backend == "llvm" else "numba")
    outputs = blas_graph()
    f = sb.compile(outputs, backend=backend)
    for rows in (SMALL_ROWS, LARGE_ROWS):  # every product on one thread; every product on n
        want = sb.compile(outputs, backend="numpy")(**feeds(rows))
        for n in (1, 2):
            sb.set_blas_threads(n)
            assert set(scipy_blas_threads().values()) == {n}
            got = f(**feeds(rows))
            for a, b in zip(got, want):
                assert np.max(np.abs(a - b)) <= 1e-10 * max(1.0, np.max(np.abs(b)))


# ---- the per-product switch (codegen/blas_switch.py) ------------------------------------------

@pytest.fixture(scope="module")
def product_kernels():
    """``x @ W`` (one BLAS product of rows × 64 × 128 multiply-adds) compiled on both backends
    while the count is 1 (the default)."""
    previous = sb.set_blas_threads(1)
    x, W = sb.input("x", (None, 64)), sb.param("W", (64, 128))
    kernels = {}
    for backend in ("llvm", "numba"):
        try:
            kernels[backend] = sb.compile([x @ W], backend=backend)
        except ImportError:  # the backend's compiler is not installed
            pass
    sb.set_blas_threads(previous)
    return kernels


def run_product(kernels, backend, rows, seed=1):
    """Run the kernel on ``rows`` rows; check it against numpy; the count scipy's BLAS is
    left at (the count of the product, the kernel's only one)."""
    if backend not in kernels:
        pytest.skip(f"no {backend} backend")
    rng = np.random.default_rng(seed)
    x, W = rng.normal(size=(rows, 64)), rng.normal(size=(64, 128))
    got = np.asarray(kernels[backend](x=x, W=W)[0])
    want = x @ W
    assert np.max(np.abs(got - want)) <= 1e-10 * np.max(np.abs(want))
    counts = set(scipy_blas_threads().values())
    assert len(counts) == 1
    return counts.pop()


@pytest.mark.parametrize("backend", ["llvm", "numba"])
def test_with_two_threads_a_product_below_the_threshold_runs_on_one_and_one_above_on_two(product_kernels,
                                                                                         backend):
    sb.set_blas_threads(2)
    assert run_product(product_kernels, backend, LARGE_ROWS) == 2
    assert run_product(product_kernels, backend, SMALL_ROWS) == 1
    assert run_product(product_kernels, backend, LARGE_ROWS) == 2
    at = threads.PARALLEL_MIN_MACS // (64 * 128)  # 256 rows: exactly the threshold (2²¹)
    assert at * 64 * 128 == threads.PARALLEL_MIN_MACS
    assert run_product(product_kernels, backend, at - 1) == 1
    assert run_product(product_kernels, backend, at) == 2
    assert SMALL_ROWS * 64 * 128 < threads.PARALLEL_MIN_MACS <= LARGE_ROWS * 64 * 128


@pytest.mark.parametrize("backend", ["llvm", "numba"])
def test_a_kernel_compiled_under_one_thread_follows_later_changes_of_the_setting(product_kernels, backend):
    # compiled while the count was 1; the count is read at each product, not baked in
    sb.set_blas_threads(1)
    assert run_product(product_kernels, backend, LARGE_ROWS) == 1
    sb.set_blas_threads(3)
    assert run_product(product_kernels, backend, LARGE_ROWS) == 3
    sb.set_blas_threads(1)
    assert run_product(product_kernels, backend, LARGE_ROWS) == 1


@pytest.mark.parametrize("backend", ["llvm", "numba"])
def test_float32_products_switch_too(backend):
    pytest.importorskip("llvmlite" if backend == "llvm" else "numba")
    x, W = sb.input("x", (None, 64), dtype="float32"), sb.param("W", (64, 128), dtype="float32")
    f = sb.compile([x @ W], backend=backend)
    sb.set_blas_threads(2)
    rng = np.random.default_rng(2)
    for rows, count in ((LARGE_ROWS, 2), (SMALL_ROWS, 1)):
        xv, Wv = rng.normal(size=(rows, 64)).astype(np.float32), rng.normal(size=(64, 128)).astype(np.float32)
        got = np.asarray(f(x=xv, W=Wv)[0])
        assert got.dtype == np.float32
        assert np.max(np.abs(got - xv.astype(np.float64) @ Wv)) <= 1e-4 * np.max(np.abs(got))
        assert set(scipy_blas_threads().values()) == {count}


@pytest.fixture()
def blas_calls():
    """Calls of OpenBLAS's set/get_num_threads made by the switch, recorded (["get", ("set",
    n), …]) by ctypes callbacks that forward to the real functions."""
    switch = threads.native_switch()
    real = switch.thread_functions
    if not all(real):
        pytest.skip("scipy's BLAS is not an OpenBLAS with a thread pool of its own: no switch")
    SET, GET = ctypes.CFUNCTYPE(None, ctypes.c_int), ctypes.CFUNCTYPE(ctypes.c_int)
    real_set, real_get = SET(real[0]), GET(real[1])
    calls = []

    def on_set(n):
        calls.append(("set", n))
        real_set(n)

    def on_get():
        calls.append("get")
        return real_get()

    callbacks = SET(on_set), GET(on_get)  # kept alive until restored
    switch.bind_threads(*(ctypes.cast(c, ctypes.c_void_p).value for c in callbacks))
    try:
        yield calls
    finally:
        switch.bind_threads(*real)


@pytest.mark.parametrize("backend", ["llvm", "numba"])
def test_the_switch_calls_nothing_at_one_thread_and_sets_the_count_only_when_it_changes(product_kernels,
                                                                                         backend, blas_calls):
    sb.set_blas_threads(1)
    for rows in (SMALL_ROWS, LARGE_ROWS):
        run_product(product_kernels, backend, rows)
    assert blas_calls == []  # the default path: one load and compare per product
    sb.set_blas_threads(2)
    for rows in (SMALL_ROWS, SMALL_ROWS, LARGE_ROWS, LARGE_ROWS, SMALL_ROWS):
        run_product(product_kernels, backend, rows)
    assert blas_calls.count("get") == 5
    assert [c for c in blas_calls if c != "get"] == [("set", 1), ("set", 2), ("set", 1)]


def test_the_llvm_kernels_code_is_the_same_whatever_the_count():
    pytest.importorskip("llvmlite")
    sources = []
    for n in (1, 2):
        sb.set_blas_threads(n)
        sources.append(sb.compile(blas_graph(), backend="llvm")._run.source)
    assert sources[0] == sources[1] and "sbp_dgemm" in sources[0]


def test_the_llvm_backend_sets_the_count_when_it_binds_blas():
    pytest.importorskip("llvmlite")
    from codegen.llvm_backend import jit
    jit._init()
    force_threads(2)
    assert set(scipy_blas_threads().values()) == {2}
    jit._bind_blas()
    assert set(scipy_blas_threads().values()) == {1}


def test_a_numba_kernel_with_products_sets_the_count_when_it_is_built():
    pytest.importorskip("numba")
    force_threads(2)
    sb.compile(blas_graph("float64"), backend="numba")
    assert set(scipy_blas_threads().values()) == {1}


# ---- the benchmark's busy machine -------------------------------------------------------------

@pytest.fixture()
def harness():
    sys.path.insert(0, str(ROOT))
    from benchmarks import busy, run
    return busy, run


def cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads CPU time from /proc")
def test_the_competitor_burns_cpu_while_the_block_runs_and_is_gone_after(harness):
    busy, _ = harness
    with busy.competitor() as pid:
        assert busy.running(pid)
        deadline = time.monotonic() + 20
        while cpu_seconds(pid) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cpu_seconds(pid) >= 0.2  # a busy loop, not a sleeper
    assert not busy.running(pid)
    with busy.competitor(False) as none:
        assert none is None


def test_run_workload_with_busy_runs_every_fit_beside_the_competitor(harness, monkeypatch):
    busy, run = harness
    from benchmarks.ours import Ours
    from benchmarks.workloads import WORKLOADS
    seen, pids = [], []
    real_competitor, real_fit = busy.competitor, Ours.fit

    def competitor(on=True):
        cm = real_competitor(on)

        class Recording:
            def __enter__(self):
                pids.append(cm.__enter__())
                return pids[-1]

            def __exit__(self, *exc):
                return cm.__exit__(*exc)
        return Recording()

    def fit(self, epochs):
        seen.append(busy.running(pids[-1]) if pids else False)
        return real_fit(self, epochs)

    monkeypatch.setattr(busy, "competitor", competitor)
    monkeypatch.setattr(Ours, "fit", fit)
    args = types.SimpleNamespace(quick=True, backends=["numpy"], baselines=[], compile="none", busy=True)
    cfg = dict(repeats=1, min_repeats=1, budget=60.0, probe_timeout=60)
    res = run.run_workload(WORKLOADS["W1"], "float64", args, cfg, "/nonexistent", log=lambda msg: None)
    assert res["rows"][0]["median"] is not None
    assert len(pids) == 1 and pids[0] is not None
    assert seen == [True, True]  # the warm-up fit and the timed one
    assert not busy.running(pids[0])


def _row(label, median):
    return {"label": label, "median": median}


def test_busy_results_are_judged_against_one_point_two_times_the_fastest_peer(harness):
    _, run = harness
    w2 = {"workload": "W2", "dtype": "float64", "rows": [_row("symbackprop llvm", 1.15e-3),
                                                         _row("JAX jit+scan", 1.0e-3)]}
    quiet = [met for group, text, met in run.targets([w2]) if group == "ours"]
    busy = [(text, met) for group, text, met in run.targets([w2], busy=True) if group == "ours"]
    assert quiet == [False] and busy[0][1] is True and "within 1.2×" in busy[0][0]
