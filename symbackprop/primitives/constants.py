"""Questions passes ask of a node: is it a constant, seen through reshapes and broadcasts?

>>> from symbackprop.primitives.leaf import const
>>> from symbackprop.primitives.layout import broadcast_to
>>> scalar_constant(broadcast_to(const(2.0), (3,)))
2.0
"""

from functools import lru_cache

import numpy as np
import sympy as sp

from symbackprop.primitives.base import definition


def _through_layout(node):
    while definition(node).layout:
        node = node.args[0]
    return node


def scalar_constant(node):
    """The number a node holds when it is a size-1 constant seen through broadcasts and
    reshapes, else None."""
    node = _through_layout(node)
    if node.op == "const" and node.attrs.value.array.size == 1:
        return node.attrs.value.array.item()
    return None


def scalar_value(node):
    """A size-1 constant or a function of the batch size alone (``1/N``), seen through
    broadcasts and reshapes, as a sympy number or expression; else None.

    >>> import symbackprop as sb
    >>> from symbackprop.primitives.layout import broadcast_to
    >>> scalar_value(broadcast_to(sb.mean(sb.input("t", (None,))) * 0 + 1, (2,)))
    1
    """
    node = _through_layout(node)
    if node.op == "const" and node.attrs.value.array.size == 1 and node.dtype != "int64":
        return sympy_number(node.attrs.value.array.item())
    if node.op == "map" and not node.args:
        return node.attrs.body.expr
    return None


@lru_cache(maxsize=1 << 12)
def sympy_number(value):
    """A scalar constant's value as a sympy number, made once per value.

    >>> sympy_number(2.0), sympy_number(0.5)
    (2, 0.500000000000000)
    """
    return sp.Integer(int(value)) if float(value).is_integer() else sp.Float(value)


def is_zero(node):
    """True for an all-zero constant (possibly broadcast or reshaped)."""
    if node.op == "const":
        return not np.any(node.attrs.value.array)
    value = scalar_constant(node)
    return value is not None and value == 0
