"""The BLAS thread count of compiled kernels: ``sb.set_blas_threads(n)`` or the environment
variable ``SYMBACKPROP_BLAS_THREADS``; default 1.  With n > 1, each product decides by its
size: products of ``PARALLEL_MIN_MACS`` (2²¹ = 2,097,152) multiply-adds M·N·K and more run on
n threads, smaller ones on one.

The llvm backend calls scipy's ``dgemm``/``sgemm`` (``scipy.linalg.cython_blas``) for the
products its own loop nests do not take, and the numba backend's ``gemm`` calls the same
functions.  That BLAS is an OpenBLAS of its own (numpy's is another), with a pool of threads
that split each large product in equal parts and then spin waiting for the next one.  On a
machine whose cores are all taken, a part whose thread gets no core holds up the whole
product, and the spinning burns CPU time the other processes wanted: on 2 cores with a
competing busy loop beside other work (load average 3.5), the W2 training step (64-128-64-10,
batch 128, float64, llvm) took 16.7 ms and 7.0 ms of CPU time with 2 BLAS threads against
1.2 ms and 0.47 ms with one (JAX in the same run: 1.3 ms); a stalled product costs about
16 ms, a time slice of the process holding the other core.  So one thread is the default;
``set_blas_threads(n)`` with n > 1 is for a machine whose cores the training run has to
itself.

Where a second thread pays (2 cores, 1 vs 2 threads, interleaved blocks in one process,
median paired ratio of wall times): with both cores idle it saves 22% of a 0.5·10⁶
multiply-add product (128×64×64), 31% at 1.05·10⁶ (W2's 128×64×128), 36% at 2.1·10⁶ and
40–46% from 4·10⁶; with a neighbour using part of the other core the 0.5·10⁶ product is 29%
slower, 1.05·10⁶ saves 6%, 2.1·10⁶ 15%, 8·10⁶ 20%, 17·10⁶ 33%.  OpenBLAS itself stays on
one thread up to 262,144.  Hence the threshold: the sizes below it gain in a quiet moment
and lose to the least competition.  A W2 step (all its products 1.05·10⁶ and less) then
costs the same at n = 2 as at n = 1 beside a busy loop (load 2: 0.396 vs 0.400 ms on llvm,
0.383 vs 0.387 on numba), where every product on 2 threads took 1.07 and 0.91 ms (and
5.6–64 ms in other runs).  W3 (products of 17–51·10⁶) still runs its large products on n
threads, and beside the busy loop took 34–66 ms a step against 8–9 ms on one thread.

How: ``PARALLEL_MIN_MACS`` and the count are read at each product by native code
(``codegen/blas_switch.py``) from globals this module writes, so compiled kernels and their
disk caches hold no count and follow every later ``set_blas_threads``.  At n = 1 the switch
is one load and compare per product (no measurable cost: 1272 vs 1275 ns for an 8×8×8
dgemm through ctypes, switched vs direct); at n > 1 it asks OpenBLAS for its count (17 ns)
and calls ``openblas_set_num_threads`` (about 0.4 µs) only when the product wants another
count, so consecutive products of one kind make no calls.  The switch needs scipy's BLAS to
be one OpenBLAS with a thread pool of its own (the wheels' ``libscipy_openblas``); with
another (MKL, an OpenMP OpenBLAS), and on numba without ``numba_xxgemm`` (its ``np.dot``
path), every product runs on the count ``apply`` sets, as before.  The count is also set
with ``threadpoolctl`` on the library scipy's BLAS functions live in, when a backend binds
them and whenever the setting changes (so scipy's own BLAS calls see n); numpy's own BLAS
(the numpy backend's ``np.dot``, a user's ``a @ b``) is left alone.  A ``threadpool_limits``
of the user's on scipy's OpenBLAS does not hold inside kernels at n > 1: the switch sets the
count it wants.

>>> import codegen.threads as t
>>> previous = t.set_blas_threads(2); t.blas_threads()
2
>>> t.set_blas_threads(previous) == 2
True
"""

import glob
import numbers
import os
import sys
import threading

ENV = "SYMBACKPROP_BLAS_THREADS"
#: the count when neither ``set_blas_threads`` nor the environment says otherwise
DEFAULT = 1
#: with a count n > 1, products of fewer multiply-adds (M·N·K) than this run on one thread
#: (measured: see the module's docstring)
PARALLEL_MIN_MACS = 2_097_152  # 2²¹: 128 × 128 × 128

_lock = threading.Lock()
_setting = None  # the count set by set_blas_threads, or None: the environment, else DEFAULT
_controllers = []  # blas_libraries(), once found
_switches = []  # the native switch (blas_switch), once a backend has built it


def _parse(value, where):
    n = 0
    if isinstance(value, str):
        n = int(value.strip()) if value.strip().isdigit() else 0
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        n = int(value)
    if n < 1:
        from symbackprop.errors import ArgumentError
        raise ArgumentError(f"{where}: the BLAS thread count must be a whole number ≥ 1, got {value!r}")
    return n


def blas_threads():
    """The BLAS thread count compiled kernels use: the last ``set_blas_threads``, else
    ``$SYMBACKPROP_BLAS_THREADS``, else ``DEFAULT`` (1).

    >>> isinstance(blas_threads(), int)
    True
    """
    if _setting is not None:
        return _setting
    env = os.environ.get(ENV, "").strip()
    return _parse(env, ENV) if env else DEFAULT


def set_blas_threads(n):
    """Use ``n`` BLAS threads for the products of compiled kernels (llvm and numba backends);
    ``None`` goes back to ``$SYMBACKPROP_BLAS_THREADS`` or the default, 1.  Takes effect at
    once, in this process; returns the previous count.

    >>> previous = set_blas_threads(1); set_blas_threads(previous) == 1
    True
    """
    global _setting
    previous = blas_threads()
    _setting = None if n is None else _parse(n, "set_blas_threads")
    apply()
    return previous


def blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries scipy's ``cython_blas`` calls: scipy's
    own OpenBLAS when it has one (the wheels), else every BLAS loaded in this process (a shared
    system OpenBLAS or MKL); [] without threadpoolctl or scipy.

    >>> all(c.user_api == "blas" for c in blas_libraries())
    True
    """
    if _controllers:
        return _controllers
    try:
        import scipy
        import threadpoolctl
    except ImportError:  # no BLAS of scipy's to limit, or no way to
        return []
    own = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__))),
                                        "scipy.libs", "libscipy_openblas*")))
    try:  # the wheel's library by its path: scanning every loaded library costs 20-100 ms
        found = [threadpoolctl.OpenBLASController(filepath=path, prefix="libscipy_openblas") for path in own]
    except Exception:  # another threadpoolctl or library layout: the scan below
        found = []
    if not found:
        blas = [c for c in threadpoolctl.ThreadpoolController().lib_controllers if c.user_api == "blas"]
        found = [c for c in blas if c.filepath in own] or blas
        if not own and "scipy.linalg.cython_blas" not in sys.modules:
            return found  # scipy's BLAS may not be loaded yet: look again next time
    _controllers.extend(found)
    return _controllers


def use_scipy_blas():
    """Load scipy's BLAS (numba's ``np.dot`` would load it at its first call, after this
    module could set its threads), build the per-product switch its ``gemm`` calls and
    apply the count; the numba backend calls this for kernels with products."""
    import scipy.linalg.cython_blas  # noqa: F401
    native_switch()


def _thread_functions(controller):
    """The addresses of ``openblas_set_num_threads``/``openblas_get_num_threads`` of an
    OpenBLAS with its own thread pool (pthreads), under whatever prefix and suffix its build
    gave them (scipy's wheels: ``scipy_openblas_…``); None for another BLAS or layer."""
    if getattr(controller, "internal_api", None) != "openblas":
        return None
    if getattr(controller, "threading_layer", None) == "openmp":  # per-thread counts: another API
        return None
    import ctypes
    try:
        lib = ctypes.CDLL(controller.filepath)
    except OSError:
        return None
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64"):
            names = (f"{prefix}openblas_set_num_threads{suffix}", f"{prefix}openblas_get_num_threads{suffix}")
            if all(hasattr(lib, name) for name in names):
                return tuple(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in names)
    return None


def native_switch():
    """The per-product switch compiled kernels call before their BLAS products
    (``codegen/blas_switch.py``), built on first use, bound to scipy's OpenBLAS and set to
    the count; a backend calls this when it binds scipy's BLAS.  The switch stays off (every
    product on the count ``apply`` set) when that BLAS is not one OpenBLAS with a thread
    pool of its own.

    >>> s = native_switch(); s.wanted in (1, blas_threads())
    True
    """
    from codegen import blas_switch
    switch = blas_switch.switch()
    with _lock:
        if not switch.can_switch:
            libraries = blas_libraries()
            functions = _thread_functions(libraries[0]) if len(libraries) == 1 else None
            if functions is not None:
                switch.bind_threads(*functions)
        _switches[:] = [switch]
    apply()
    return switch


def apply():
    """Set the count on the BLAS libraries of ``blas_libraries()``; a backend calls this once
    it has loaded scipy's BLAS.  Returns {library file: count}.

    >>> import scipy.linalg.cython_blas
    >>> set(apply().values()) <= {blas_threads()}
    True
    """
    n = blas_threads()
    with _lock:
        done = {}
        for c in blas_libraries():
            if c.num_threads != n:
                c.set_num_threads(n)
            if c.num_threads != n:
                # threadpoolctl lets only the first thread that limited an OpenBLAS pool limit it
                # again; this count is the process's own setting, whichever thread compiles
                getattr(type(c), "clear_controlling_thread", lambda force: None)(force=True)
                c.set_num_threads(n)
            done[c.filepath] = n
        for switch in _switches:  # kernels read the count at each product: compiled code never goes stale
            switch.configure(n, PARALLEL_MIN_MACS)
        return done
