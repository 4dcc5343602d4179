"""symbackprop's benchmark harness: time per training step and compile time of our
backends against hand-written numpy and numba loops, PyTorch eager and JAX (jit + lax.scan).

Run ``python benchmarks/run.py --help`` or ``symbackprop bench --help``.  Not an installed
package: ``symbackprop bench`` finds this directory next to the ``symbackprop`` package.
"""
