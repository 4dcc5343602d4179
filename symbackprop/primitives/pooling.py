"""Pooling over the trailing spatial axes, and the adjoints that make its gradients readable:

- ``pool(x)``: the max or the mean of each window (PyTorch's ``max_pool2d``/``avg_pool2d``);
- ``unpool``: the adjoint, δ sent back to the windows: max *routes* each δ to its window's
  argmax (the first maximum, in row-major order, as PyTorch does), average *spreads* it
  evenly over the window;
- ``pool_pick(x, c)``: c read at each window's argmax of x (the adjoint of max routing).

Windows may overlap (stride < kernel); positions no window reaches get zero gradient.

>>> import symbackprop as sb
>>> z = sb.input("z", (None, 8, 6, 6))
>>> pool("max", z, 2).shape
(N, 8, 3, 3)
>>> print(pool("max", z, 2))
maxpool[2×2](z)
"""

from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError, DTypeError, ShapeError
from symbackprop.graph.node import Expr
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import FLOAT_DTYPES, as_node
from symbackprop.primitives.windows import offsets, out_sizes, pair, window

KINDS = ("max", "avg")


class PoolAttrs(NamedTuple):
    kind: str
    kernel: tuple
    stride: tuple
    size: tuple = ()  # unpool: the spatial size of the pooled input


def _label(attrs):
    """'2×2' (and '/1' when the stride is not the kernel), text and LaTeX."""
    k = "×".join(map(str, attrs.kernel))
    lk = r"\times ".join(map(str, attrs.kernel))
    if attrs.stride != attrs.kernel:
        s = ",".join(map(str, attrs.stride))
        return f"{k}/{s}", r"%s,\,s=%s" % (lk, s)
    return k, lk


def _call(name, attrs, inner_text, inner_latex, tensor=True):
    from symbackprop.render.printer import ATOM, Piece
    t, l = _label(attrs)
    return Piece(f"{name}[{t}]({inner_text})", r"\operatorname{%s}_{%s}\left(%s\right)" % (name, l, inner_latex),
                 ATOM, tensor)


def _windows(x, attrs, count):
    """The windows of ``x`` stacked on a new last axis (..., *count, kernel size)."""
    return np.stack([window(x, k, attrs.stride, count) for k in offsets(attrs.kernel)], axis=-1)


def _first_max(stacked):
    """Index of each window's first maximum (a NaN counts as the maximum, as in np.max)."""
    return np.argmax(stacked, axis=-1)


class _Pooling(Primitive):
    Attrs = PoolAttrs
    mode = None

    def detail(self, node):
        a = node.attrs
        return f"{a.kind} kernel={a.kernel} stride={a.stride}"

    def lower(self, node, out, lo):
        from codegen.program import Pool as PoolStep
        a = node.attrs
        return PoolStep(out, tuple(lo.name(x) for x in node.args), self.mode_of(a), a.kernel, a.stride)

    def mode_of(self, attrs):
        return self.mode


@register
class Pool(_Pooling):
    op = "pool"

    def build(self, kind, x, kernel_size, stride=None, d=2):
        x = as_node(x, where=f"{kind}_pool")
        if kind not in KINDS:
            raise ArgumentError(f"pool: kind must be one of {KINDS}, got {kind!r}")
        if x.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"{kind}_pool: operand must be floating point, got {x.describe()}")
        if x.ndim < d + 1:
            raise ShapeError(f"{kind}_pool{d}d: expects (N, C, {', '.join(['…'] * d)}), got {x.describe()}")
        kernel = pair(kernel_size, d, f"{kind}_pool{d}d: kernel_size", 1)
        stride = kernel if stride is None else pair(stride, d, f"{kind}_pool{d}d: stride", 1)
        return self.make((x,), PoolAttrs(kind, kernel, stride))

    def make(self, args, attrs, dtype=None):
        x = args[0]
        d = len(attrs.kernel)
        spatial = out_sizes(x.shape[-d:], attrs.kernel, attrs.stride, (0,) * d, f"{attrs.kind}_pool {x.describe()}")
        return Expr("pool", (x,), attrs, tuple(x.shape[:-d]) + spatial, x.dtype)

    def mode_of(self, attrs):
        return attrs.kind

    def evaluate(self, node, args, n):
        a = node.attrs
        stacked = _windows(args[0], a, node.shape[-len(a.kernel):])
        if a.kind == "avg":
            return np.mean(stacked, axis=-1)
        return np.take_along_axis(stacked, _first_max(stacked)[..., None], axis=-1)[..., 0]

    def vjp(self, node, g):
        a = node.attrs
        x = node.args[0]
        size = tuple(x.shape[-len(a.kernel):])
        args = (x, g) if a.kind == "max" else (g,)
        return [PRIMITIVES["unpool"].make(args, a._replace(size=size))]

    def formula(self, node, texts):
        return f"{node.attrs.kind}pool[{_label(node.attrs)[0]}]({texts[0]})"

    def render(self, node, args, renderer):
        return _call(f"{node.attrs.kind}pool", node.attrs, args[0].text, args[0].latex)

    def expand(self, node, args, n):
        a = node.attrs
        stacked = _windows(np.asarray(args[0], dtype=object), a, node.shape[-len(a.kernel):])
        out = np.empty(stacked.shape[:-1], dtype=object)
        for idx in np.ndindex(*out.shape):
            items = list(stacked[idx])
            out[idx] = sp.Max(*items) if a.kind == "max" else sp.Add(*items) / len(items)
        return out


def _route_conditions(items):
    """Per window position j, the condition that it holds the first maximum of ``items``."""
    return [sp.And(*[items[j] > items[i] for i in range(j)], *[items[j] >= items[i] for i in range(j + 1, len(items))])
            for j in range(len(items))]


@register
class Unpool(_Pooling):
    op = "unpool"

    def make(self, args, attrs, dtype=None):
        d = len(attrs.kernel)
        g = args[-1]
        if attrs.kind == "max":
            x = args[0]
            shape = x.shape
        else:
            shape = tuple(g.shape[:-d]) + tuple(attrs.size)
        expect = out_sizes(shape[-d:], attrs.kernel, attrs.stride, (0,) * d, "unpool")
        if tuple(g.shape[-d:]) != expect:
            raise ShapeError(f"unpool: δ {g.describe()} is not the pooled size {expect} of {shape}")
        return Expr("unpool", tuple(args), attrs, tuple(shape), g.dtype)

    def mode_of(self, attrs):
        return f"unpool_{attrs.kind}"

    def evaluate(self, node, args, n):
        a = node.attrs
        g = args[-1]
        d = len(a.kernel)
        out = np.zeros(g.shape[:-d] + tuple(node.shape[-d:]), dtype=node.dtype)
        count = g.shape[-d:]
        if a.kind == "avg":
            share = g / np.prod(a.kernel)
            for k in offsets(a.kernel):
                window(out, k, a.stride, count)[...] += share
            return out
        first = _first_max(_windows(args[0], a, count))
        for j, k in enumerate(offsets(a.kernel)):
            window(out, k, a.stride, count)[...] += np.where(first == j, g, 0)
        return out

    def vjp(self, node, c):
        a = node.attrs
        if a.kind == "avg":
            return [PRIMITIVES["pool"].make((c,), a._replace(size=()))]
        return [None, PRIMITIVES["pool_pick"].make((node.args[0], c), a._replace(size=()))]

    def formula(self, node, texts):
        if node.attrs.kind == "avg":
            return f"spread[{_label(node.attrs)[0]}]({texts[0]})"
        return f"route[{_label(node.attrs)[0]}]({texts[1]} → argmax {texts[0]})"

    def render(self, node, args, renderer):
        if node.attrs.kind == "avg":
            return _call("spread", node.attrs, args[0].text, args[0].latex)
        x, g = args
        return _call("route", node.attrs, f"{g.text} → argmax {x.text}",
                     r"%s \to \operatorname{argmax} %s" % (g.latex, x.latex))

    def expand(self, node, args, n):
        a = node.attrs
        d = len(a.kernel)
        g = np.asarray(args[-1], dtype=object)
        out = np.full(g.shape[:-d] + tuple(node.shape[-d:]), sp.S.Zero, dtype=object)
        count = g.shape[-d:]
        keys = list(offsets(a.kernel))
        stacked = _windows(np.asarray(args[0], dtype=object), a, count) if a.kind == "max" else None
        for idx in np.ndindex(*g.shape):
            lead, y = idx[:-d], idx[-d:]
            conditions = _route_conditions(list(stacked[idx])) if stacked is not None else None
            for j, k in enumerate(keys):
                pos = lead + tuple(yi * s + ki for yi, s, ki in zip(y, a.stride, k))
                share = g[idx] / len(keys) if conditions is None else sp.Piecewise((g[idx], conditions[j]), (0, True))
                out[pos] = out[pos] + share
        return out


@register
class PoolPick(_Pooling):
    op = "pool_pick"
    mode = "pick"

    def make(self, args, attrs, dtype=None):
        x, c = args
        if x.shape != c.shape:
            raise ShapeError(f"pool_pick: {x.describe()} and {c.describe()} must have one shape")
        d = len(attrs.kernel)
        spatial = out_sizes(x.shape[-d:], attrs.kernel, attrs.stride, (0,) * d, "pool_pick")
        return Expr("pool_pick", (x, c), attrs, tuple(x.shape[:-d]) + spatial, c.dtype)

    def evaluate(self, node, args, n):
        a = node.attrs
        count = node.shape[-len(a.kernel):]
        first = _first_max(_windows(args[0], a, count))
        return np.take_along_axis(_windows(args[1], a, count), first[..., None], axis=-1)[..., 0]

    def vjp(self, node, g):
        return [None, PRIMITIVES["unpool"].make((node.args[0], g), node.attrs._replace(size=()))]

    def formula(self, node, texts):
        return f"pick[{_label(node.attrs)[0]}]({texts[1]} at argmax {texts[0]})"

    def render(self, node, args, renderer):
        x, c = args
        return _call("pick", node.attrs, f"{c.text} at argmax {x.text}",
                     r"%s \text{ at } \operatorname{argmax} %s" % (c.latex, x.latex))

    def expand(self, node, args, n):
        a = node.attrs
        count = node.shape[-len(a.kernel):]
        xs = _windows(np.asarray(args[0], dtype=object), a, count)
        cs = _windows(np.asarray(args[1], dtype=object), a, count)
        out = np.empty(xs.shape[:-1], dtype=object)
        for idx in np.ndindex(*out.shape):
            conditions = _route_conditions(list(xs[idx]))
            out[idx] = sp.Add(*[sp.Piecewise((cj, cond), (0, True)) for cj, cond in zip(cs[idx], conditions)])
        return out


def pool(kind, x, kernel_size, stride=None, d=2):
    """Max or average pooling of ``x`` over its last ``d`` axes with windows of ``kernel_size``
    moved by ``stride`` (default: the kernel size, as PyTorch).

    >>> import symbackprop as sb
    >>> pool("avg", sb.input("x", (None, 1, 4, 4)), 2).shape
    (N, 1, 2, 2)
    """
    return PRIMITIVES["pool"].build(kind, x, kernel_size, stride, d)
