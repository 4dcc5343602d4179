"""The leaves: ``input`` (data fed per call), ``param`` (trained weights), ``const`` (literals).

>>> input("x", (None, 2))
<input x: (N, 2) float64>
>>> param("W", (2, 1)).attrs
ParamAttrs(name='W')
"""

from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import DTypeError, ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Constant, Expr
from symbackprop.graph.scalar import N
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import FLOAT_DTYPES, dtype_name, leaf_name, no_empty_axes


class InputAttrs(NamedTuple):
    name: str


class ParamAttrs(NamedTuple):
    name: str


class ConstAttrs(NamedTuple):
    value: Constant


class _Named(Primitive):
    """input and param: a named array passed at call time."""
    leaf = True
    argument = True

    def make(self, args, attrs, dtype=None):
        raise AssertionError(f"{self.op} has no operands to rebuild on")

    def evaluate(self, node, args, n):
        raise AssertionError("leaves are fed, not evaluated")

    def formula(self, node, texts):
        return node.attrs.name

    def detail(self, node):
        return node.attrs.name

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, Piece
        name = renderer.namer.name(node)
        return Piece(str(name), name.latex, ATOM, node.ndim > 0)

    def expand(self, node, args, n):
        from symbackprop.render.expand import symbols_for
        return symbols_for(node, n)


@register
class Input(_Named):
    op = "input"
    Attrs = InputAttrs

    def build(self, name, shape, dtype="float64"):
        leaf_name(name, "input")
        what = f"input {name!r}"
        return Expr("input", (), InputAttrs(name), no_empty_axes(shp.normalize(shape, what), what),
                    dtype_name(dtype, what))


@register
class Param(_Named):
    op = "param"
    Attrs = ParamAttrs

    def build(self, name, shape, dtype="float64"):
        leaf_name(name, "param")
        what = f"param {name!r}"
        s = no_empty_axes(shp.normalize(shape, what), what)
        if N in s:
            raise ShapeError(f"{what}: a parameter cannot have the batch axis (None) in its shape {shp.fmt(s)}")
        dtype = dtype_name(dtype, what)
        if dtype not in FLOAT_DTYPES:
            raise DTypeError(f"{what}: parameters are floating point, got {dtype}")
        return Expr("param", (), ParamAttrs(name), s, dtype)


@register
class Const(Primitive):
    op = "const"
    Attrs = ConstAttrs
    leaf = True
    argument = False

    def build(self, value, dtype=None):
        array = np.asarray(value)
        if dtype is None:
            dtype = "int64" if array.dtype.kind in "iub" else ("float32" if array.dtype == np.float32 else "float64")
        dtype = dtype_name(dtype, "const")
        if array.dtype.kind not in "iubf":
            raise DTypeError(f"const: cannot hold an array of dtype {array.dtype}")
        no_empty_axes(array.shape, "const")
        array = array.astype(dtype)
        return Expr("const", (), ConstAttrs(Constant(array)), tuple(int(d) for d in array.shape), dtype)

    def make(self, args, attrs, dtype=None):
        return self.build(attrs.value.array, dtype)

    def evaluate(self, node, args, n):
        return node.attrs.value.array

    def formula(self, node, texts):
        array = node.attrs.value.array
        return str(array.item()) if array.ndim == 0 else f"const{shp.fmt(array.shape)}"

    def detail(self, node):
        return self.formula(node, ())

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, Piece
        st = renderer.style
        arr = node.attrs.value.array
        if arr.size == 1 or (arr.size and (arr == arr.flat[0]).all()):
            v = sp.nsimplify(float(arr.flat[0])) if float(arr.flat[0]).is_integer() else sp.Float(arr.flat[0])
            t = st.number(v) if v >= 0 else "−" + st.number(-v)
            return Piece(t, t.replace("−", "-"), ATOM, node.ndim > 0)
        t = "[" + ", ".join(f"{v:g}" for v in arr.ravel()[:6]) + (", …]" if arr.size > 6 else "]")
        return Piece(t, t.replace("…", r"\ldots"), ATOM, node.ndim > 0)

    def expand(self, node, args, n):
        arr = node.attrs.value.array
        return np.vectorize(lambda v: sp.nsimplify(v) if float(v).is_integer() else sp.Float(v),
                            otypes=[object])(arr) if arr.size else arr.astype(object)


input = PRIMITIVES["input"].build
param = PRIMITIVES["param"].build
const = PRIMITIVES["const"].build
