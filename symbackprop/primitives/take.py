"""``take`` (a gather of constant integer indices along one axis, ``np.take``) and its adjoint
``scatter_add`` (``np.add.at`` into zeros), each the other's vector-Jacobian product: a value
taken twice gets both of their cotangents.

>>> import numpy as np, symbackprop as sb
>>> E = sb.param("E", (5, 3))
>>> take(E, np.array([4, 0, 4]), axis=0).shape
(3, 3)
>>> print(take(E, np.array([4, 0, 4]), axis=0))
take(E, [4, 0, 4], axis=0)
"""

from typing import NamedTuple

import numpy as np

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Constant, Expr
from symbackprop.graph.scalar import N
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import as_node


class TakeAttrs(NamedTuple):
    indices: Constant  # int64 array, each in [0, length of the axis)
    axis: int


class ScatterAttrs(NamedTuple):
    indices: Constant
    axis: int
    length: int  # of the result along ``axis``


def _indices_text(indices):
    a = indices.array
    items = ", ".join(str(v) for v in a.ravel()[:8]) + (", …" if a.size > 8 else "")
    return f"[{items}]" if a.ndim == 1 else f"indices{shp.fmt(a.shape)}"


def _check(x, axis, what):
    (axis,) = shp.normalize_axes(axis, x.ndim, what=what)
    if not isinstance(x.shape[axis], int):
        raise ShapeError(f"{what} {x.describe()}: cannot index the batch axis (axis {axis}) with constants")
    return axis


def _expand_take(array, idx, axis):
    return np.take(np.asarray(array, dtype=object), idx, axis=axis)


@register
class Take(Primitive):
    op = "take"
    Attrs = TakeAttrs

    def build(self, x, indices, axis=0):
        x = as_node(x, where="take")
        if x.ndim == 0:
            raise ShapeError("take: a scalar has no axis to take from")
        axis = _check(x, axis, "take")
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu" or idx.size == 0:
            raise ArgumentError(f"take: indices must be a non-empty array of integers, got {indices!r}")
        d = x.shape[axis]
        if idx.min() < -d or idx.max() >= d:
            bad = idx.ravel()[np.flatnonzero((idx.ravel() < -d) | (idx.ravel() >= d))[0]]
            raise ShapeError(f"take {x.describe()}: index {bad} is out of range for axis {axis} of length {d}")
        return self.make((x,), TakeAttrs(Constant((idx % d).astype(np.int64)), axis))

    def make(self, args, attrs, dtype=None):
        x = args[0]
        idx = attrs.indices.array
        shape = tuple(x.shape[:attrs.axis]) + tuple(int(d) for d in idx.shape) + tuple(x.shape[attrs.axis + 1:])
        return Expr("take", (x,), attrs, shape, x.dtype)

    def evaluate(self, node, args, n):
        return np.take(args[0], node.attrs.indices.array, axis=node.attrs.axis)

    def vjp(self, node, g):
        a, x = node.attrs, node.args[0]
        return [PRIMITIVES["scatter_add"].make((g,), ScatterAttrs(a.indices, a.axis, x.shape[a.axis]))]

    def formula(self, node, texts):
        return f"take({texts[0]}, {_indices_text(node.attrs.indices)}, axis={node.attrs.axis})"

    def detail(self, node):
        return f"{_indices_text(node.attrs.indices)} axis={node.attrs.axis}"

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, Piece
        idx = _indices_text(node.attrs.indices)
        return Piece(f"take({args[0].text}, {idx}, axis={node.attrs.axis})",
                     r"\mathrm{take}_{%d}\left(%s,\ %s\right)" % (node.attrs.axis, args[0].latex,
                                                                  idx.replace("…", r"\ldots")), ATOM, True)

    def expand(self, node, args, n):
        return _expand_take(args[0], node.attrs.indices.array, node.attrs.axis)

    def lower(self, node, out, lo):
        from codegen.program import Take as TakeStep
        return TakeStep(out, lo.name(node.args[0]), lo.constant(node.attrs.indices.array), node.attrs.axis)


@register
class ScatterAdd(Primitive):
    op = "scatter_add"
    Attrs = ScatterAttrs

    def make(self, args, attrs, dtype=None):
        g = args[0]
        idx = attrs.indices.array
        k = idx.ndim
        shape = tuple(g.shape[:attrs.axis]) + (attrs.length,) + tuple(g.shape[attrs.axis + k:])
        return Expr("scatter_add", (g,), attrs, shape, g.dtype)

    def evaluate(self, node, args, n):
        a = node.attrs
        out = np.zeros(shp.concrete(node.shape, n), dtype=node.dtype)
        g = args[0]
        idx = a.indices.array
        # move the indexed axes to the front, add each slice at its index (repeats accumulate)
        moved = np.moveaxis(out, a.axis, 0)
        g = np.moveaxis(g.reshape(g.shape[:a.axis] + (-1,) + g.shape[a.axis + idx.ndim:]), a.axis, 0)
        np.add.at(moved, idx.ravel(), g)
        return out

    def vjp(self, node, g):
        a = node.attrs
        return [PRIMITIVES["take"].make((g,), TakeAttrs(a.indices, a.axis))]

    def formula(self, node, texts):
        a = node.attrs
        return f"scatter_add({texts[0]}, {_indices_text(a.indices)}, axis={a.axis}, length={a.length})"

    def detail(self, node):
        a = node.attrs
        return f"{_indices_text(a.indices)} axis={a.axis} length={a.length}"

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, Piece
        a = node.attrs
        idx = _indices_text(a.indices)
        return Piece(f"scatter_add({args[0].text}, {idx}, axis={a.axis})",
                     r"\mathrm{scatter\_add}_{%d}\left(%s,\ %s\right)" % (a.axis, args[0].latex,
                                                                          idx.replace("…", r"\ldots")), ATOM, True)

    def expand(self, node, args, n):
        import sympy as sp
        a = node.attrs
        out = np.full(shp.concrete(node.shape, n), sp.S.Zero, dtype=object)
        g = np.asarray(args[0], dtype=object)
        idx = a.indices.array
        moved = np.moveaxis(out, a.axis, 0)
        g = np.moveaxis(g.reshape(g.shape[:a.axis] + (-1,) + g.shape[a.axis + idx.ndim:]), a.axis, 0)
        for j, i in enumerate(idx.ravel()):
            moved[i] = moved[i] + g[j]
        return out

    def lower(self, node, out, lo):
        from codegen.program import ScatterAdd as ScatterStep
        a = node.attrs
        return ScatterStep(out, lo.name(node.args[0]), lo.constant(a.indices.array), a.axis)


def take(x, indices, axis=0):
    """Elements of ``x`` at constant integer ``indices`` along ``axis`` (``np.take``); negative
    indices count from the end.

    >>> import symbackprop as sb
    >>> take(sb.input("x", (None, 4)), [3, 0], axis=1).shape
    (N, 2)
    """
    return PRIMITIVES["take"].build(x, indices, axis)
