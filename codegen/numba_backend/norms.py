"""Squared L2 norms of gradients in generated numba code: one small compiled function.

The training step's ``SquaredNorms`` (the gradient-flow record, gradient clipping) sums g²
of every gradient.  Written inline, that is one loop per param in the driver, each typed,
lowered and optimised afresh (W1: six loops, 5 % of the instructions of its cold
compile; a deep network has two per layer).  ``squared_norm(g)`` is compiled once per
dtype and called per gradient.  The sum is float64 whatever the gradient's dtype, and may
be reassociated, so it vectorises.

>>> import numpy as np
>>> from numba import njit
>>> @njit
... def total(a, b):
...     return squared_norm(a) + squared_norm(b)
>>> total(np.array([3.0, 4.0]), np.array([1.0], dtype=np.float32))
26.0
"""

import numpy as np
from numba.extending import overload

from codegen.numba_backend import CALLEE_WRAPPERS, KERNEL_KEYWORDS

# ``CALLEE_OPTIONS`` as keywords: only generated code calls it
_OPTIONS = {**KERNEL_KEYWORDS, **CALLEE_WRAPPERS}


def squared_norm(g):
    """Σ g² of a 1-D array, in float64 (what generated code calls; numba compiles the
    overload below)."""
    return float(np.dot(np.asarray(g, dtype=np.float64), np.asarray(g, dtype=np.float64)))


def _squared_norm(g):
    s = np.float64(0)
    for k in range(g.size):
        s += np.float64(g[k]) * np.float64(g[k])
    return s


# an overload, not an @njit function called directly: typed with plain argument types (see
# ``blas.gemm``), and compiled into the kernel, which numba caches whole
@overload(squared_norm, jit_options=_OPTIONS)
def _squared_norm_typed(g):
    return _squared_norm


__all__ = ["squared_norm"]
