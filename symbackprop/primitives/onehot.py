"""``onehot``: rows of 0s and 1s from integer class labels.

>>> import symbackprop as sb
>>> onehot(sb.input("y", (None,), dtype="int64"), 10).shape
(N, 10)
"""

from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import DerivationError, DTypeError, ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Expr
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import as_node, dtype_name


class OneHotAttrs(NamedTuple):
    k: int


@register
class OneHot(Primitive):
    op = "onehot"
    Attrs = OneHotAttrs

    def build(self, labels, k, dtype="float64"):
        labels = as_node(labels, where="onehot")
        if labels.dtype != "int64":
            raise DTypeError(f"onehot: labels must be int64, got {labels.describe()}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ShapeError(f"onehot: number of classes must be a positive int, got {k!r}")
        return Expr("onehot", (labels,), OneHotAttrs(k), labels.shape + (k,), dtype_name(dtype, "onehot"))

    def make(self, args, attrs, dtype=None):
        return self.build(args[0], attrs.k, dtype or "float64")

    def evaluate(self, node, args, n):
        return (args[0][..., None] == np.arange(node.attrs.k)).astype(node.dtype)

    def vjp(self, node, g):
        return [None]  # integer labels carry no gradient

    def formula(self, node, texts):
        return f"onehot({texts[0]}, {node.attrs.k})"

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, Piece
        return Piece(f"onehot({args[0].text})", r"\mathrm{onehot}\left(%s\right)" % args[0].latex, ATOM, True)

    def expand(self, node, args, n):
        labels = node.args[0]
        if labels.op != "input":
            raise DerivationError(f"expand: onehot of {labels.describe()}: only onehot of an input is expanded")
        dims = shp.concrete(node.shape, n)
        out = np.empty(dims, dtype=object)
        for idx in np.ndindex(*dims):
            parts = [i + 1 for i, d in zip(idx, dims) if d != 1]
            out[idx] = sp.Symbol(f"{labels.name}_{''.join(map(str, parts))}" if all(p < 10 for p in parts)
                                 else f"{labels.name}_{','.join(map(str, parts))}", real=True)
        return out

    def lower(self, node, out, lo):
        from codegen.program import OneHot as OneHotStep
        return OneHotStep(out, lo.name(node.args[0]), node.attrs.k)


onehot = PRIMITIVES["onehot"].build
