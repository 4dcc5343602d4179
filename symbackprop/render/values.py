"""A value as a drawing shows it in a node's box: short enough to read at a glance.

Scalars and tiny arrays (at most :data:`FULL_ELEMENTS` elements) are written in full with
4 significant digits; bigger ones as their shape and Frobenius norm, because a 16×16 matrix
of digits says nothing a reader can take in.

>>> import numpy as np
>>> value_text(np.array(0.25))
'0.25'
>>> value_text(np.array([[1.0, -2.5]]))
'[[1, −2.5]]'
>>> value_text(np.ones((100, 16)))
'(100, 16), ‖·‖ = 40'
>>> value_text(np.array([np.nan, np.inf]))
'[nan, inf]'
"""

import numpy as np

#: arrays with at most this many elements are written in full
FULL_ELEMENTS = 6


def number(x):
    """One number, 4 significant digits, a real minus sign (as the formulas print it)."""
    x = float(x)
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "−inf" if x < 0 else "inf"
    return f"{x:.4g}".replace("-", "−")


def value_text(value):
    """The text of ``value`` (a number or an array) for a drawing's node."""
    a = np.asarray(value)
    if a.ndim == 0:
        return number(a)
    if a.size <= FULL_ELEMENTS:
        return _nested(a)
    with np.errstate(all="ignore"):
        norm = float(np.sqrt(np.sum(np.square(a.astype(np.float64)))))
    return f"{tuple(a.shape)}, ‖·‖ = {number(norm)}"


def _nested(a):
    if a.ndim == 0:
        return number(a)
    return "[" + ", ".join(_nested(row) for row in a) + "]"
