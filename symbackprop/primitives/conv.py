"""Convolution as three primitives, the three partial derivatives of one trilinear form

    B(x, w, g) = Σ g[n, o, y] · x[n, c, y·s + k − p] · w[o, c, k]      (x zero outside its range)

over batch n, output channel o, input channel c, kernel offset k and output position y
(every spatial axis at once; s the stride, p the padding on both sides):

- ``conv(x, w)`` = ∂B/∂g, the layer's cross-correlation ``x ⋆ W`` (PyTorch's ``conv2d``);
- ``conv_input(g, w)`` = ∂B/∂x, the input gradient ``δ ∗ W``: the full convolution of δ with
  the kernel (a correlation with the kernel rotated 180°, channels swapped; δ dilated by s);
- ``conv_weight(x, g)`` = ∂B/∂w, the weight gradient ``x ⋆ δ``: the input correlated with δ,
  summed over the batch.

Each one's vector-Jacobian products are the other two, so gradients of any order stay
convolutions, and formulas print as the textbooks write them.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 1, 5, 5)); W = sb.param("W", (2, 1, 3, 3))
>>> conv(x, W, stride=2, padding=1).shape
(N, 2, 3, 3)
>>> print(conv(x, W))
x ⋆ W
"""

from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import DTypeError, ShapeError
from symbackprop.graph.node import Expr
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import FLOAT_DTYPES, as_node, result_dtype
from symbackprop.primitives.windows import offsets, out_sizes, padded, pair, window


class ConvAttrs(NamedTuple):
    stride: tuple
    padding: tuple
    size: tuple  # conv_input: the input's spatial size; conv_weight: the kernel's; conv: ()


def _annotation(attrs):
    """' ⋆ ' decorations: stride and padding when not 1 and 0 (text, LaTeX subscript)."""
    parts = []
    if any(s != 1 for s in attrs.stride):
        parts.append(f"s={_tuple(attrs.stride)}")
    if any(attrs.padding):
        parts.append(f"p={_tuple(attrs.padding)}")
    return (f"[{','.join(parts)}]" if parts else ""), ("_{%s}" % r",\,".join(parts) if parts else "")


def _tuple(t):
    return str(t[0]) if len(set(t)) == 1 else "(" + ",".join(map(str, t)) + ")"


def _check_operands(what, a, b):
    for n in (a, b):
        if n.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"{what}: operands must be floating point, got {n.describe()}")


class _Conv(Primitive):
    """What the three share: attributes, the infix symbol, lowering to one Conv step."""

    Attrs = ConvAttrs
    mode = None
    symbol = None  # (text, LaTeX)

    def formula(self, node, texts):
        from symbackprop.graph.text import atomic
        a, b = (t if atomic(t) else f"({t})" for t in texts)
        return f"{a} {self.symbol[0]}{_annotation(node.attrs)[0]} {b}"

    def detail(self, node):
        a = node.attrs
        return f"stride={a.stride} padding={a.padding}" + (f" size={a.size}" if a.size else "")

    def render(self, node, args, renderer):
        from symbackprop.render.printer import LATEX, MATMUL, POW, UNICODE, Piece, wrap
        text, latex = _annotation(node.attrs)
        a, b = args
        return Piece(f"{wrap(UNICODE, a, POW)} {self.symbol[0]}{text} {wrap(UNICODE, b, POW)}",
                     f"{wrap(LATEX, a, POW)} {self.symbol[1]}{latex} {wrap(LATEX, b, POW)}", MATMUL, True)

    def rewrite(self, node, args):
        from symbackprop.primitives.constants import is_zero
        from symbackprop.primitives.layout import broadcast_to
        from symbackprop.primitives.leaf import const
        if is_zero(args[0]) or is_zero(args[1]):
            return broadcast_to(const(np.zeros((), dtype=node.dtype)), node.shape)
        return None

    def lower(self, node, out, lo):
        from codegen.program import Conv as ConvStep
        a, b = node.args
        return ConvStep(out, lo.name(a), lo.name(b), self.mode, node.attrs.stride, node.attrs.padding)


@register
class Conv(_Conv):
    op = "conv"
    mode = "forward"
    symbol = ("⋆", r"\star")

    def build(self, x, w, stride=1, padding=0):
        x, w = as_node(x, where="conv"), as_node(w, where="conv")
        d = w.ndim - 2
        if d < 1:
            raise ShapeError(f"conv: the kernel must be (out_channels, in_channels, *kernel_size), got {w.describe()}")
        if x.ndim != d + 2:
            raise ShapeError(f"conv: a {d}-D kernel {w.describe()} needs an input (N, C, {', '.join(['…'] * d)}) "
                         f"of {d + 2} axes, got {x.describe()}")
        _check_operands("conv", x, w)
        attrs = ConvAttrs(pair(stride, d, "conv: stride", 1), pair(padding, d, "conv: padding", 0), ())
        return self.make((x, w), attrs)

    def make(self, args, attrs, dtype=None):
        x, w = args
        if x.shape[1] != w.shape[1]:
            raise ShapeError(f"conv: the input has {x.shape[1]} channels but the kernel expects {w.shape[1]}: "
                             f"{x.describe()} ⋆ {w.describe()}")
        spatial = out_sizes(x.shape[2:], w.shape[2:], attrs.stride, attrs.padding, f"conv {x.describe()}")
        return Expr("conv", (x, w), attrs, (x.shape[0], w.shape[0]) + spatial, result_dtype([x, w]))

    def evaluate(self, node, args, n):
        x, w = args
        a = node.attrs
        xp = padded(x, a.padding)
        out = np.zeros((x.shape[0],) + node.shape[1:], dtype=node.dtype)
        for k in offsets(w.shape[2:]):
            out += np.einsum("nc...,oc->no...", window(xp, k, a.stride, node.shape[2:]), w[(Ellipsis,) + k])
        return out

    def vjp(self, node, g):
        x, w = node.args
        a = node.attrs
        return [PRIMITIVES["conv_input"].make((g, w), a._replace(size=tuple(x.shape[2:]))),
                PRIMITIVES["conv_weight"].make((x, g), a._replace(size=tuple(w.shape[2:])))]

    def expand(self, node, args, n):
        x, w = (np.asarray(v, dtype=object) for v in args)
        a = node.attrs
        out = np.full((x.shape[0],) + tuple(node.shape[1:]), sp.S.Zero, dtype=object)
        for idx in np.ndindex(*out.shape):
            nn, o, y = idx[0], idx[1], idx[2:]
            terms = []
            for c in range(x.shape[1]):
                for k in offsets(w.shape[2:]):
                    pos = tuple(yi * s + ki - p for yi, s, ki, p in zip(y, a.stride, k, a.padding))
                    if all(0 <= q < size for q, size in zip(pos, x.shape[2:])):
                        terms.append(x[(nn, c) + pos] * w[(o, c) + k])
            out[idx] = sp.Add(*terms)
        return out


@register
class ConvInput(_Conv):
    op = "conv_input"
    mode = "input"
    symbol = ("∗", r"\ast")

    def make(self, args, attrs, dtype=None):
        g, w = args
        _check_operands("conv_input", g, w)
        if g.shape[1] != w.shape[0]:
            raise ShapeError(f"conv_input: δ has {g.shape[1]} channels, the kernel {w.shape[0]}: "
                             f"{g.describe()} ∗ {w.describe()}")
        spatial = out_sizes(attrs.size, w.shape[2:], attrs.stride, attrs.padding, "conv_input")
        if spatial != tuple(g.shape[2:]):
            raise ShapeError(f"conv_input: δ {g.describe()} does not have the output size {spatial} of an input "
                             f"of size {attrs.size}")
        return Expr("conv_input", (g, w), attrs, (g.shape[0], w.shape[1]) + tuple(attrs.size), result_dtype([g, w]))

    def evaluate(self, node, args, n):
        g, w = args
        a = node.attrs
        size = tuple(s + 2 * p for s, p in zip(a.size, a.padding))
        out = np.zeros((g.shape[0], w.shape[1]) + size, dtype=node.dtype)
        for k in offsets(w.shape[2:]):
            window(out, k, a.stride, g.shape[2:])[...] += np.einsum("no...,oc->nc...", g, w[(Ellipsis,) + k])
        crop = (Ellipsis,) + tuple(slice(p, p + s) for p, s in zip(a.padding, a.size))
        return np.ascontiguousarray(out[crop])

    def vjp(self, node, c):
        g, w = node.args
        a = node.attrs
        return [PRIMITIVES["conv"].make((c, w), a._replace(size=())),
                PRIMITIVES["conv_weight"].make((c, g), a._replace(size=tuple(w.shape[2:])))]

    def expand(self, node, args, n):
        g, w = (np.asarray(v, dtype=object) for v in args)
        a = node.attrs
        out = np.full((g.shape[0],) + tuple(node.shape[1:]), sp.S.Zero, dtype=object)
        for idx in np.ndindex(*g.shape):
            nn, o, y = idx[0], idx[1], idx[2:]
            for c in range(w.shape[1]):
                for k in offsets(w.shape[2:]):
                    pos = tuple(yi * s + ki - p for yi, s, ki, p in zip(y, a.stride, k, a.padding))
                    if all(0 <= q < size for q, size in zip(pos, a.size)):
                        out[(nn, c) + pos] += g[idx] * w[(o, c) + k]
        return out


@register
class ConvWeight(_Conv):
    op = "conv_weight"
    mode = "weight"
    symbol = ("⋆", r"\star")

    def make(self, args, attrs, dtype=None):
        x, g = args
        _check_operands("conv_weight", x, g)
        spatial = out_sizes(x.shape[2:], attrs.size, attrs.stride, attrs.padding, "conv_weight")
        if spatial != tuple(g.shape[2:]) or x.shape[0] != g.shape[0]:
            raise ShapeError(f"conv_weight: δ {g.describe()} is not the output of input {x.describe()} with a "
                             f"kernel of size {attrs.size}")
        return Expr("conv_weight", (x, g), attrs, (g.shape[1], x.shape[1]) + tuple(attrs.size), result_dtype([x, g]))

    def evaluate(self, node, args, n):
        x, g = args
        a = node.attrs
        xp = padded(x, a.padding)
        out = np.zeros(node.shape, dtype=node.dtype)
        for k in offsets(a.size):
            win = window(xp, k, a.stride, g.shape[2:])
            out[(Ellipsis,) + k] = np.einsum("nop,ncp->oc", g.reshape(g.shape[:2] + (-1,)),
                                             win.reshape(win.shape[:2] + (-1,)))
        return out

    def vjp(self, node, c):
        x, g = node.args
        a = node.attrs
        return [PRIMITIVES["conv_input"].make((g, c), a._replace(size=tuple(x.shape[2:]))),
                PRIMITIVES["conv"].make((x, c), a._replace(size=()))]

    def expand(self, node, args, n):
        x, g = (np.asarray(v, dtype=object) for v in args)
        a = node.attrs
        out = np.full(node.shape, sp.S.Zero, dtype=object)
        for idx in np.ndindex(*node.shape):
            o, c, k = idx[0], idx[1], idx[2:]
            terms = []
            for gi in np.ndindex(*g.shape):
                if gi[1] != o:
                    continue
                pos = tuple(yi * s + ki - p for yi, s, ki, p in zip(gi[2:], a.stride, k, a.padding))
                if all(0 <= q < size for q, size in zip(pos, x.shape[2:])):
                    terms.append(x[(gi[0], c) + pos] * g[gi])
            out[idx] = sp.Add(*terms)
        return out


def conv(x, w, b=None, stride=1, padding=0):
    """The convolution layer's cross-correlation ``x ⋆ W`` (+ ``b`` per output channel), over
    the spatial axes after (batch, channels): PyTorch's ``conv1d``/``conv2d`` with ``x`` of
    shape (N, C, *size) and ``w`` of shape (out_channels, C, *kernel_size).

    >>> import symbackprop as sb
    >>> conv(sb.input("x", (None, 3, 8, 8)), sb.param("W", (4, 3, 3, 3)), padding=1).shape
    (N, 4, 8, 8)
    """
    out = PRIMITIVES["conv"].build(x, w, stride, padding)
    if b is not None:
        from symbackprop.primitives.layout import reshape
        b = as_node(b, where="conv bias")
        if b.shape != (out.shape[1],):
            raise ShapeError(f"conv: the bias must have shape ({out.shape[1]},) (one per output channel), "
                             f"got {b.describe()}")
        out = out + reshape(b, (out.shape[1],) + (1,) * (out.ndim - 2))
    return out
