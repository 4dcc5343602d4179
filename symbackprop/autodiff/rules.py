"""Vector-Jacobian products: each primitive's rule lives with its definition
(``symbackprop.primitives``, ``Primitive.vjp``); this is the one call autodiff makes.

A rule gets the node and its cotangent ``g`` (a graph node of the node's shape) and returns
one cotangent per operand (``None`` where no gradient flows), as new graph nodes.

>>> import symbackprop as sb
>>> a = sb.param("a", (2, 3)); b = sb.param("b", (3, 4))
>>> da, db = vjp(a @ b, sb.param("g", (2, 4)))
>>> da.shape, db.shape
((2, 3), (3, 4))
"""

from symbackprop.primitives import definition
from symbackprop.primitives.layout import unbroadcast  # noqa: F401 (re-exported)


def vjp(node, g):
    """Cotangents of ``node``'s operands given the cotangent ``g`` of ``node``."""
    return definition(node).vjp(node, g)
