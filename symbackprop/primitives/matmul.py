"""``matmul``: the 2-D matrix product (1-D operands are reshaped around it, numpy's rules).

>>> import symbackprop as sb
>>> matmul(sb.input("x", (None, 2)), sb.param("w", (2,))).shape
(N,)
"""

import numpy as np
import sympy as sp

from symbackprop.errors import DTypeError, ShapeError
from symbackprop.graph.node import Expr
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import FLOAT_DTYPES, as_node, result_dtype


@register
class MatMul(Primitive):
    op = "matmul"

    def build(self, a, b):
        from symbackprop.primitives.layout import reshape
        a, b = as_node(a, where="matmul"), as_node(b, where="matmul")
        for n in (a, b):
            if n.ndim not in (1, 2):
                raise ShapeError(f"matmul: operands must be 1-D or 2-D, got {n.describe()}")
            if n.dtype not in FLOAT_DTYPES:
                raise DTypeError(f"matmul: operands must be floating point, got {n.describe()}")
        a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        if a2.shape[1] != b2.shape[0]:
            raise ShapeError(f"matmul: inner dimensions differ: {a.describe()} @ {b.describe()}")
        out = Expr("matmul", (a2, b2), self.Attrs(), (a2.shape[0], b2.shape[1]), result_dtype([a, b]))
        keep = tuple(d for d, drop in ((out.shape[0], a.ndim == 1), (out.shape[1], b.ndim == 1)) if not drop)
        return reshape(out, keep) if keep != out.shape else out

    def make(self, args, attrs, dtype=None):
        return self.build(*args)

    def evaluate(self, node, args, n):
        return args[0] @ args[1]

    def vjp(self, node, g):
        from symbackprop.primitives.layout import transpose
        a, b = node.args
        return [self.build(g, transpose(b)), self.build(transpose(a), g)]

    def formula(self, node, texts):
        from symbackprop.graph.text import atomic
        a, b = (t if atomic(t) else f"({t})" for t in texts)
        return f"{a} @ {b}"

    def detail(self, node):
        return ""

    def render(self, node, args, renderer):
        from symbackprop.render.printer import LATEX, MATMUL, POW, UNICODE, Piece, wrap
        a, b = args
        return Piece(f"{wrap(UNICODE, a, POW)} {wrap(UNICODE, b, POW)}",
                     f"{wrap(LATEX, a, POW)} {wrap(LATEX, b, POW)}", MATMUL, node.ndim > 0)

    def expand(self, node, args, n):
        a, b = (np.asarray(x, dtype=object) for x in args)
        out = np.empty((a.shape[0], b.shape[1]), dtype=object)
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                out[i, j] = sp.Add(*[a[i, k] * b[k, j] for k in range(a.shape[1])])
        return out

    def rewrite(self, node, args):
        from symbackprop.primitives.constants import is_zero
        from symbackprop.primitives.layout import broadcast_to
        from symbackprop.primitives.leaf import const
        if is_zero(args[0]) or is_zero(args[1]):
            return broadcast_to(const(np.zeros((), dtype=node.dtype)), node.shape)
        return None

    def step(self, node, out, lo):
        """The product step, with operands that are 2-D transposes read through flags."""
        from codegen.program import MatMul as MatMulStep
        (x, tx), (y, ty) = [(arg.args[0], True) if lo.folded(arg) else (arg, False) for arg in node.args]
        return MatMulStep(out, lo.name(x), lo.name(y), tx, ty)

    def lower(self, node, out, lo):
        if lo.swapped(node):
            return None  # its one reader, a transpose, computes the swapped product
        return self.step(node, out, lo)


matmul = PRIMITIVES["matmul"].build
