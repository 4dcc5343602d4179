"""The layout primitives: ``transpose``, ``broadcast_to`` and ``reshape`` move or repeat values
without computing anything.

>>> import symbackprop as sb
>>> transpose(sb.param("W", (2, 3))).shape
(3, 2)
>>> reshape(sb.input("x", (None, 2, 3)), (None, 6)).attrs
ReshapeAttrs(shape=(N, 6))
"""

import builtins
from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Expr
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import as_node


class TransposeAttrs(NamedTuple):
    perm: tuple


class BroadcastAttrs(NamedTuple):
    shape: tuple


class ReshapeAttrs(NamedTuple):
    shape: tuple


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added to an operand of ``shape`` (the adjoint
    of broadcasting).

    >>> import symbackprop as sb
    >>> unbroadcast(sb.input("g", (None, 3)), (3,)).shape
    (3,)
    """
    from symbackprop.primitives.reduction import reduce
    lead = g.ndim - len(shape)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1]
    if axes:
        g = reduce("sum", g, tuple(axes))
    return reshape(g, shape)


@register
class Transpose(Primitive):
    op = "transpose"
    Attrs = TransposeAttrs

    def build(self, x, axes=None):
        x = as_node(x, where="transpose")
        perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
        if sorted(a % x.ndim if isinstance(a, int) and -x.ndim <= a < x.ndim else -1 for a in perm) != \
                list(range(x.ndim)):
            raise ShapeError(f"transpose: {perm} is not a permutation of the axes of {x.describe()}")
        perm = tuple(a % x.ndim for a in perm)
        if perm == tuple(range(x.ndim)):
            return x
        if x.op == "transpose":  # transpose of a transpose is one transpose
            inner = x.attrs.perm
            return self.build(x.args[0], tuple(inner[p] for p in perm))
        return Expr("transpose", (x,), TransposeAttrs(perm), tuple(x.shape[p] for p in perm), x.dtype)

    def make(self, args, attrs, dtype=None):
        return self.build(args[0], attrs.perm)

    def evaluate(self, node, args, n):
        return np.transpose(args[0], node.attrs.perm)

    def vjp(self, node, g):
        perm = node.attrs.perm
        return [self.build(g, tuple(sorted(range(len(perm)), key=lambda i: perm[i])))]

    def formula(self, node, texts):
        from symbackprop.graph.text import atomic
        t = texts[0]
        return f"{t if atomic(t) else '(' + t + ')'}.T" if node.ndim == 2 else f"transpose({t}, {node.attrs.perm})"

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, LATEX, POW, UNICODE, Piece, wrap
        a = args[0]
        if node.ndim == 2:
            return Piece(wrap(UNICODE, a, ATOM) + "ᵀ", wrap(LATEX, a, ATOM) + r"^{\top}", POW, True)
        return Piece(f"transpose({a.text}, {node.attrs.perm})", r"\mathrm{transpose}\left(%s\right)" % a.latex,
                     ATOM, True)

    def expand(self, node, args, n):
        return np.transpose(np.asarray(args[0], dtype=object), node.attrs.perm)

    def rewrite(self, node, args):
        from symbackprop.primitives.matmul import matmul
        if node.ndim == 2 and args[0].op == "matmul":  # (a b)ᵀ = bᵀ aᵀ
            a, b = args[0].args
            return matmul(self.build(b), self.build(a))
        return None

    def lower(self, node, out, lo):
        from codegen.program import MatMul, Transpose as TransposeStep
        x = node.args[0]
        if lo.folded(node) and not lo.is_output(node):
            return None  # a flag of each product reading it
        if lo.swapped(x):  # (op(a)·op(b))ᵀ computed as op(b)ᵀ·op(a)ᵀ
            product = lo.step_of(x)
            return MatMul(out, product.b, product.a, not product.trans_b, not product.trans_a)
        return TransposeStep(out, lo.name(x), node.attrs.perm)


@register
class BroadcastTo(Primitive):
    op = "broadcast_to"
    Attrs = BroadcastAttrs
    layout = True

    def build(self, x, shape):
        x = as_node(x, where="broadcast_to")
        target = shp.normalize(shape, "broadcast_to")
        ok = len(target) >= x.ndim and all(
            d == 1 or d == t for d, t in zip(x.shape, target[len(target) - x.ndim:]))
        if not ok:
            raise ShapeError(f"broadcast_to: cannot broadcast {x.describe()} to {shp.fmt(target)}")
        if target == x.shape:
            return x
        return Expr("broadcast_to", (x,), BroadcastAttrs(target), target, x.dtype)

    def make(self, args, attrs, dtype=None):
        return self.build(args[0], attrs.shape)

    def evaluate(self, node, args, n):
        return np.broadcast_to(args[0], shp.concrete(node.shape, n))

    def vjp(self, node, g):
        return [unbroadcast(g, node.args[0].shape)]

    def formula(self, node, texts):
        return f"broadcast_to({texts[0]}, {shp.fmt(node.shape)})"

    def detail(self, node):
        return ""

    def render(self, node, args, renderer):
        return args[0]

    def expand(self, node, args, n):
        return np.broadcast_to(np.asarray(args[0], dtype=object), shp.concrete(node.shape, n))

    def lower(self, node, out, lo):
        from codegen.program import Broadcast
        return Broadcast(out, lo.name(node.args[0]))


@register
class Reshape(Primitive):
    op = "reshape"
    Attrs = ReshapeAttrs
    layout = True

    def build(self, x, shape):
        x = as_node(x, where="reshape")
        raw = (shape,) if isinstance(shape, int) or shape is None else tuple(shape)
        if builtins.sum(1 for d in raw if isinstance(d, int) and d == -1) > 1:
            raise ShapeError(f"reshape: more than one -1 in {raw!r}")
        inferring = any(isinstance(d, int) and d == -1 for d in raw)
        if not inferring and shp.normalize(raw, "reshape") == x.shape:
            return x  # the adjoint of every broadcast ends here: no size arithmetic
        total = shp.size(x.shape)
        if inferring:
            known = shp.size(shp.normalize(tuple(d for d in raw if not (isinstance(d, int) and d == -1)), "reshape"))
            inferred = sp.simplify(sp.sympify(total) / known)
            if not (inferred.is_Integer or (inferred.is_integer and inferred.free_symbols <= {shp.N})):
                raise ShapeError(f"reshape: cannot infer -1 in {raw!r} from {x.describe()}")
            inferred = int(inferred) if inferred.is_Integer else inferred
            raw = tuple(inferred if isinstance(d, int) and d == -1 else d for d in raw)
        target = shp.normalize(raw, "reshape")
        if sp.simplify(sp.sympify(shp.size(target)) - total) != 0:
            raise ShapeError(f"reshape: cannot reshape {x.describe()} ({total} elements) to {shp.fmt(target)}")
        if target == x.shape:
            return x
        if x.op == "reshape":
            x = x.args[0]
            if target == x.shape:
                return x
        return Expr("reshape", (x,), ReshapeAttrs(target), target, x.dtype)

    def make(self, args, attrs, dtype=None):
        return self.build(args[0], attrs.shape)

    def evaluate(self, node, args, n):
        return np.reshape(args[0], shp.concrete(node.shape, n))

    def vjp(self, node, g):
        return [self.build(g, node.args[0].shape)]

    def formula(self, node, texts):
        return f"reshape({texts[0]}, {shp.fmt(node.shape)})"

    def detail(self, node):
        return ""

    def render(self, node, args, renderer):
        return args[0]

    def expand(self, node, args, n):
        return np.reshape(np.asarray(args[0], dtype=object), shp.concrete(node.shape, n))

    def lower(self, node, out, lo):
        from codegen.program import Reshape as ReshapeStep
        return ReshapeStep(out, lo.name(node.args[0]))


transpose = PRIMITIVES["transpose"].build
broadcast_to = PRIMITIVES["broadcast_to"].build
reshape = PRIMITIVES["reshape"].build
