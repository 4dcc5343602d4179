"""``reduce``: sum, max or logsumexp over some axes.

``mean`` is a sum times 1/size; ``logsumexp`` subtracts the maximum inside the kernel, so it
is stable for any values; ``max`` shares its cotangent equally among tied maxima.

>>> import symbackprop as sb
>>> reduce("sum", sb.input("x", (None, 3)), axis=1).attrs
ReduceAttrs(kind='sum', axes=(1,))
"""

from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError, DTypeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Expr
from symbackprop.graph.scalar import ARG, N
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import FLOAT_DTYPES, as_node

KINDS = ("sum", "max", "logsumexp")
_G = sp.Symbol("g", real=True)
_M = sp.Symbol("m", real=True)
_C = sp.Symbol("c", real=True)


class ReduceAttrs(NamedTuple):
    kind: str
    axes: tuple


def _keepdims(node, axes):
    """A reduced node reshaped so it broadcasts against its operand."""
    from symbackprop.primitives.layout import reshape
    kept = list(node.shape)
    for a in axes:
        kept.insert(a, 1)
    return reshape(node, tuple(kept))


def _logsumexp(x, axes):
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return np.squeeze(m, axis=axes) + np.log(np.sum(np.exp(x - m), axis=axes))


@register
class Reduce(Primitive):
    op = "reduce"
    Attrs = ReduceAttrs

    def build(self, kind, x, axis=None, keepdims=False):
        from symbackprop.primitives.layout import reshape
        x = as_node(x, where=str(kind))
        if kind not in KINDS:
            raise ArgumentError(f"reduce: kind must be one of {KINDS}, got {kind!r}")
        if x.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"{kind}: operand must be floating point, got {x.describe()}")
        axes = shp.normalize_axes(axis, x.ndim, what=kind)
        if not axes:
            return x
        out_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        out = Expr("reduce", (x,), ReduceAttrs(kind, axes), out_shape, x.dtype)
        if keepdims:
            out = reshape(out, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
        return out

    def make(self, args, attrs, dtype=None):
        return self.build(attrs.kind, args[0], attrs.axes)

    def evaluate(self, node, args, n):
        kind, axes = node.attrs
        x = args[0]
        value = np.sum(x, axis=axes) if kind == "sum" else np.max(x, axis=axes) if kind == "max" else \
            _logsumexp(x, axes)
        return np.asarray(value, dtype=node.dtype)

    def vjp(self, node, g):
        from symbackprop.primitives.elementwise import apply
        from symbackprop.primitives.layout import broadcast_to
        kind, axes = node.attrs
        x = node.args[0]
        gk = _keepdims(g, axes)
        if kind == "sum":
            return [broadcast_to(gk, x.shape)]
        value = _keepdims(node, axes)
        if kind == "logsumexp":  # ∂/∂x logsumexp(x) = softmax(x)
            return [apply(_G * sp.exp(ARG[0] - _M), {_G: gk, ARG[0]: x, _M: value}, where="gradient of logsumexp")]
        # max: the cotangent is shared equally among the elements equal to the maximum
        hit = sp.Piecewise((1, sp.Eq(ARG[0], _M)), (0, True))
        count = self.build("sum", apply(hit, {ARG[0]: x, _M: value}, where="gradient of max"), axes, keepdims=True)
        return [apply(_G * hit / _C, {_G: gk, ARG[0]: x, _M: value, _C: count}, where="gradient of max")]

    def formula(self, node, texts):
        kind, axes = node.attrs
        return f"{kind}({texts[0]}, axis={axes if len(axes) > 1 else axes[0]})"

    def detail(self, node):
        return f"{node.attrs.kind} axes={node.attrs.axes}"

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, LATEX, MUL, POW, UNICODE, Piece, wrap
        kind, axes = node.attrs
        x, a = node.args[0], args[0]
        tensor = node.ndim > 0
        if kind == "sum":
            if len(axes) == x.ndim:
                t, l = "Σ " + wrap(UNICODE, a, POW), r"\sum " + wrap(LATEX, a, POW)
            elif axes == (0,) and x.shape[0] == N:
                t, l = "Σₙ " + wrap(UNICODE, a, POW), r"\sum_{n} " + wrap(LATEX, a, POW)
            else:
                ax = ",".join(map(str, axes))
                t, l = f"Σ[axis {ax}] " + wrap(UNICODE, a, POW), r"\sum_{\mathrm{axis}\ %s} " % ax + wrap(LATEX, a, POW)
            return Piece(t, l, MUL, tensor)
        return Piece(f"{kind}({a.text})", r"\mathrm{%s}\left(%s\right)" % (kind, a.latex), ATOM, tensor)

    def expand(self, node, args, n):
        kind, axes = node.attrs
        x = np.asarray(args[0], dtype=object)
        moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
        flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
        out = np.empty(flat.shape[:-1], dtype=object)
        for idx in np.ndindex(*out.shape) if out.shape else [()]:
            items = list(flat[idx])
            if kind == "sum":
                out[idx] = sp.Add(*items)
            elif kind == "max":
                out[idx] = sp.Max(*items)
            else:
                out[idx] = sp.log(sp.Add(*[sp.exp(v) for v in items]))
        return out

    def rewrite(self, node, args):
        """``sum(broadcast_to(x))`` over only broadcast axes is ``x · count``; a sum of zeros is zeros."""
        from symbackprop.primitives.constants import is_zero
        from symbackprop.primitives.elementwise import apply
        from symbackprop.primitives.layout import broadcast_to, reshape
        from symbackprop.primitives.leaf import const
        if node.attrs.kind != "sum":
            return None
        arg = args[0]
        if arg.op != "broadcast_to":
            if is_zero(arg):
                return broadcast_to(const(np.zeros((), dtype=node.dtype)), node.shape)
            return None
        inner, shape = arg.args[0], arg.shape
        axes = node.attrs.axes
        lead = len(shape) - inner.ndim
        aligned = (1,) * lead + tuple(inner.shape)
        if not all(aligned[a] == 1 and shape[a] != 1 for a in axes):
            return None
        count = shp.size(tuple(shape[a] for a in axes))
        kept = tuple(d for i, d in enumerate(aligned) if i not in axes)
        u = sp.Symbol("u", real=True)
        out = apply(u * count, {u: reshape(inner, kept)}, where="simplify", dtype=node.dtype)
        return out if out.shape == node.shape else broadcast_to(out, node.shape)

    def lower(self, node, out, lo):
        from codegen.program import Reduce as ReduceStep
        return ReduceStep(out, lo.name(node.args[0]), node.attrs.kind, node.attrs.axes)


reduce = PRIMITIVES["reduce"].build
