"""``--threads N``: limit the BLAS and framework thread pools of this process (default: leave
every library at its default, as the reference runs measure; symbackprop's own kernels use
``codegen.threads``' count, 1 unless ``SYMBACKPROP_BLAS_THREADS`` says otherwise, and
``--threads N`` sets that to N too).

On a 2-core machine shared with other processes, multi-threaded BLAS and OpenMP pools can
stall (threads spin waiting for a core), so single-threaded numbers are the steadier
comparison.  OpenBLAS is limited through its own ``*_set_num_threads`` in every OpenBLAS
library loaded here (numpy's and scipy's, which numba's ``np.dot`` calls), PyTorch through
``torch.set_num_threads`` (by the baseline, reading ``LIMIT``), XLA through ``XLA_FLAGS``
(single-threaded Eigen; only for N = 1, and only before jax is imported).  Flags alone do
not hold every pool: jax 0.10's XLA still ran W3 on 1.8 cores with them (measured as CPU
time ÷ wall time), so the process is also pinned to N CPUs (``sched_setaffinity``, where
the OS has it) and nothing in it can use more.
"""

import ctypes
import os
import sys

#: the requested thread count, or None for library defaults
LIMIT = None

_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
            "openblas_set_num_threads64_", "MKL_Set_Num_Threads")


def limit(n):
    """Limit thread pools to ``n``; returns a description of what was limited."""
    global LIMIT
    LIMIT = n
    done = []
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS numba's np.dot calls)
    except ImportError:
        pass
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if line.strip() else ""
                if path.endswith(".so") or ".so." in path:
                    name = os.path.basename(path).lower()
                    if "openblas" in name or "mkl_rt" in name:
                        paths.add(path)
    except OSError:
        pass
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in _SETTERS:
            if hasattr(lib, sym):
                getattr(lib, sym)(ctypes.c_int(n))
                done.append(os.path.basename(path).split("-")[0])
                break
    if n == 1 and "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
        done.append("XLA")
    import codegen.threads  # our compiled kernels' BLAS count, applied again whenever a backend binds BLAS
    codegen.threads.set_blas_threads(n)
    done.append("torch")
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:max(1, n)]
        os.sched_setaffinity(0, cpus)
        done.append(f"process pinned to CPU {','.join(map(str, cpus))}")
    return f"threads limited to {n}: " + ", ".join(done)
