"""``symbackprop bench``: time per training step and compile time against hand-written numpy
and numba loops, PyTorch eager and JAX (the workloads W1–W3, float64 and float32).

The harness itself lives in the repository's ``benchmarks/`` directory (not installed): this
command finds it next to the ``symbackprop`` package (a source checkout or editable install),
or in ``$SYMBACKPROP_BENCHMARKS`` or the current directory, and runs ``benchmarks/run.py``'s
``main``.  The options are defined here once, for both entry points.

>>> import argparse
>>> p = argparse.ArgumentParser(); add_arguments(p)
>>> a = p.parse_args(["--quick", "--workloads", "W1"]); a.quick, a.workloads, a.dtypes
(True, 'W1', 'float64,float32')
"""

import os
import sys
from pathlib import Path


def add_arguments(parser):
    """The harness's options (shared by ``symbackprop bench`` and ``python benchmarks/run.py``)."""
    parser.add_argument("--workloads", default="W1,W2,W3", help="comma-separated: W1,W2,W3 (default: all)")
    parser.add_argument("--dtypes", default="float64,float32", help="comma-separated (default: float64,float32)")
    parser.add_argument("--backends", default="numba,llvm,numpy",
                        help="symbackprop backends to measure, comma-separated from numba, numpy, llvm, jax "
                             "(default: numba,llvm,numpy; jax when asked, e.g. --backends jax,llvm)")
    parser.add_argument("--baselines", default="numpy,numba,torch,jax",
                        help="comma-separated from numpy,numba,torch,jax, or none (default: all; a baseline "
                             "whose library is not importable is shown as n/a)")
    parser.add_argument("--quick", action="store_true",
                        help="few short repeats; compile times only for W1 float64 on numba (CI smoke)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per implementation "
                                                                   "(default: 7, 2 with --quick)")
    parser.add_argument("--compile", choices=["all", "targets", "none"], default=None,
                        help="compile-time probes in fresh processes: for every backend, workload and dtype; only "
                             "where a target is set (W1 float64, numba and llvm); or none (default: all; "
                             "targets with --quick)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="limit OpenBLAS, PyTorch and (N=1) XLA thread pools to N (default: library defaults)")
    parser.add_argument("--busy", action="store_true",
                        help="busy machine: run one competing CPU-bound process beside the warm-up and timed fits "
                             "(the speed targets are then 1.2× of the fastest peer)")
    parser.add_argument("--json", metavar="FILE", help="also write every sample and the machine to FILE")
    parser.add_argument("--markdown", metavar="FILE", help="also write the results as a Markdown table (README)")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def register(subparsers):
    """Add the ``bench`` subcommand."""
    p = subparsers.add_parser("bench", help="benchmark training speed and compile time against numpy, numba, "
                                            "PyTorch and JAX",
                              description="Time per training step and compile time of symbackprop's backends on "
                                          "the workloads W1-W3 (float64 and float32) against hand-written "
                                          "numpy and numba loops, PyTorch eager and JAX, measured side by side; "
                                          "runs benchmarks/run.py from the source checkout.")
    add_arguments(p)
    p.set_defaults(func=run)


def locate():
    """The ``benchmarks`` directory holding ``run.py``, or None."""
    candidates = []
    if os.environ.get("SYMBACKPROP_BENCHMARKS"):
        candidates.append(Path(os.environ["SYMBACKPROP_BENCHMARKS"]))
    candidates.append(Path(__file__).resolve().parents[2] / "benchmarks")  # next to the package
    candidates.append(Path.cwd() / "benchmarks")
    for c in candidates:
        if (c / "run.py").is_file() and (c / "__init__.py").is_file():
            return c.resolve()
    return None


def run(args):
    """Run the harness; returns its exit status (2 when ``benchmarks/`` cannot be found)."""
    where = locate()
    if where is None:
        print("symbackprop bench: error: the benchmarks/ directory of a source checkout was not found next to "
              "the symbackprop package nor in the current directory; run it from a checkout of the repository "
              "or set SYMBACKPROP_BENCHMARKS to that directory", file=sys.stderr)
        return 2
    root = str(where.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks import run as harness
    return harness.main(args)
