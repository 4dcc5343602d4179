"""Compile time of one workload in a fresh process: ``python -m benchmarks.compile_probe W1
float64 numba`` prints one JSON line with the seconds from ``Trainer(...)`` to the end of the
first training step (one minibatch), and the seconds ``import symbackprop`` took before it.

The harness runs it twice with the same empty ``SYMBACKPROP_CACHE_DIR``: cold, then cached.
"""

import json
import sys
import time


def main(argv):
    key, dtype, backend = argv
    t0 = time.perf_counter()
    import symbackprop  # noqa: F401  (imports numba, sympy: not part of the compile time)
    import_seconds = time.perf_counter() - t0
    from benchmarks.workloads import WORKLOADS
    w = WORKLOADS[key]
    X, Y = w.data(dtype)
    X, Y = X[:w.batch], Y[:w.batch]  # one minibatch: fit does exactly one step
    t0 = time.perf_counter()
    tr = w.trainer(backend, dtype)
    warm = None
    if hasattr(tr, "compile"):  # Trainer.compile(X, Y) -> (seconds, warm): build without training
        warm = bool(tr.compile(X, Y)[1])
    built = time.perf_counter() - t0
    hist = tr.fit(X, Y, epochs=1, batch_size=w.batch, verbose=False)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "build_seconds": built, "import_seconds": import_seconds,
                      "steps": hist.steps, "kernel_was_cached": warm}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
