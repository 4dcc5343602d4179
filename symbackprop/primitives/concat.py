"""``concat``: nodes joined along an axis (``np.concatenate``); ``stack`` is a concat of nodes
given a new axis of length 1.  The adjoint of a concat slices the cotangent back apart.

>>> import symbackprop as sb
>>> a, b = sb.input("a", (None, 2)), sb.input("b", (None, 3))
>>> concat([a, b], axis=1).shape
(N, 5)
>>> print(concat([a, b], axis=1))
[a, b]
>>> stack([a, a * 2], axis=1).shape
(N, 2, 2)
"""

from typing import NamedTuple

import numpy as np

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Expr
from symbackprop.graph.scalar import N
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import as_node, result_dtype


class ConcatAttrs(NamedTuple):
    axis: int


def _nodes(nodes, what):
    if isinstance(nodes, Expr) or not isinstance(nodes, (list, tuple)) or not nodes:
        raise ArgumentError(f"{what}: expected a non-empty list of nodes, got {type(nodes).__name__}")
    return [as_node(n, where=what) for n in nodes]


@register
class Concat(Primitive):
    op = "concat"
    Attrs = ConcatAttrs

    def build(self, nodes, axis=0):
        nodes = _nodes(nodes, "concat")
        ndim = nodes[0].ndim
        if ndim == 0:
            raise ShapeError("concat: scalars cannot be concatenated; stack them instead")
        (axis,) = shp.normalize_axes(axis, ndim, what="concat")
        return self.make(nodes, ConcatAttrs(axis))

    def make(self, args, attrs, dtype=None):
        from symbackprop.primitives.elementwise import apply
        import sympy as sp
        args, axis = list(args), attrs.axis
        first = args[0]
        for k, n in enumerate(args):
            if n.ndim != first.ndim or any(d != e for i, (d, e) in enumerate(zip(n.shape, first.shape)) if i != axis):
                raise ShapeError(f"concat along axis {axis}: operand {k} {n.describe()} does not fit operand 0 "
                                 f"{first.describe()} (all axes but {axis} must agree)")
            if not isinstance(n.shape[axis], int):
                raise ShapeError(f"concat: cannot join along the batch axis (axis {axis} of {n.describe()})")
        if len(args) == 1:
            return args[0]
        dtype = dtype or result_dtype(args)
        u = sp.Symbol("u", real=True)
        args = [n if n.dtype == dtype else apply(u, {u: n}, dtype=dtype) for n in args]
        shape = tuple(sum(n.shape[axis] for n in args) if i == axis else d for i, d in enumerate(first.shape))
        return Expr("concat", tuple(args), attrs, shape, dtype)

    def evaluate(self, node, args, n):
        return np.concatenate(args, axis=node.attrs.axis).astype(node.dtype, copy=False)

    def vjp(self, node, g):
        axis, start, out = node.attrs.axis, 0, []
        for arg in node.args:
            key = tuple(slice(start, start + arg.shape[axis]) if i == axis else slice(None) for i in range(node.ndim))
            out.append(PRIMITIVES["slice"].build(g, key))
            start += arg.shape[axis]
        return out

    def formula(self, node, texts):
        axis = node.attrs.axis
        return f"[{', '.join(texts)}]" if axis == node.ndim - 1 else f"concat([{', '.join(texts)}], axis={axis})"

    def detail(self, node):
        return f"axis={node.attrs.axis}"

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, Piece
        axis = node.attrs.axis
        if axis == node.ndim - 1:  # side by side: [a, b]
            return Piece(f"[{', '.join(a.text for a in args)}]",
                         r"\left[%s\right]" % r",\ ".join(a.latex for a in args), ATOM, True)
        return Piece(f"concat([{', '.join(a.text for a in args)}], axis={axis})",
                     r"\mathrm{concat}_{%d}\left(%s\right)" % (axis, r",\ ".join(a.latex for a in args)), ATOM, True)

    def expand(self, node, args, n):
        return np.concatenate([np.asarray(a, dtype=object) for a in args], axis=node.attrs.axis)

    def lower(self, node, out, lo):
        from codegen.program import Concat as ConcatStep
        return ConcatStep(out, tuple(lo.name(a) for a in node.args), node.attrs.axis)


def concat(nodes, axis=0):
    """Join nodes along an existing axis, as ``np.concatenate``.

    >>> import symbackprop as sb
    >>> concat([sb.param("a", (2,)), sb.param("b", (3,))]).shape
    (5,)
    """
    return PRIMITIVES["concat"].build(nodes, axis)


def stack(nodes, axis=0):
    """Join nodes of one shape along a new axis, as ``np.stack``.

    >>> import symbackprop as sb
    >>> stack([sb.param("a", (2,)), sb.param("b", (2,))]).shape
    (2, 2)
    """
    from symbackprop.primitives.layout import reshape
    nodes = _nodes(nodes, "stack")
    for k, n in enumerate(nodes):
        if n.shape != nodes[0].shape:
            raise ShapeError(f"stack: operand {k} {n.describe()} differs in shape from operand 0 {nodes[0].describe()}")
    ndim = nodes[0].ndim + 1
    (axis,) = shp.normalize_axes(axis, ndim, what="stack")
    grown = [reshape(n, n.shape[:axis] + (1,) + n.shape[axis:]) for n in nodes]
    return concat(grown, axis)
