"""Constructors of the IR's primitive ops; each checks shapes when the node is built.

Primitives: ``input param const map matmul reduce transpose broadcast_to reshape onehot``.
Everything else (``+``, ``tanh``, ``mean``, ``softmax``, ...) is built from these.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 3))
>>> (x @ W).shape
(N, 3)
>>> sb.input("x", (None, 2)) @ sb.param("V", (3, 1))
Traceback (most recent call last):
...
symbackprop.errors.ShapeError: matmul: inner dimensions differ: input x (N, 2) float64 @ param V (3, 1) float64
"""

import builtins
import numbers

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError, DTypeError, ShapeError, UnsupportedFunction
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Constant, Expr
from symbackprop.graph.scalar import ARG, N, NAMED_FUNCTIONS

FLOAT_DTYPES = ("float64", "float32")
DTYPES = FLOAT_DTYPES + ("int64",)


def _dtype(dtype, what):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise DTypeError(f"{what}: dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")
    return name


def _name(name, what):
    """A leaf's name: a non-empty printable string.  Names appear in formulas, error messages
    and comments of generated code, so a newline or control character (which could end a
    comment and start code) is refused here, where the leaf is made."""
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"{what}: a name must be a non-empty string, got {name!r}")
    if not name.isprintable():
        raise ArgumentError(f"{what}: name {name!r} holds a non-printable character (newline, tab, control "
                            "character); use printable characters only")
    return name


def _no_empty_axes(shape, what):
    if any(isinstance(d, int) and d == 0 for d in shape):
        raise ShapeError(f"{what}: shape {shp.fmt(shape)} has an axis of length 0; every axis needs at least "
                         "one element (the batch axis is None)")
    return shape


# ---- leaves ------------------------------------------------------------------------------
def input(name, shape, dtype="float64"):
    """Data fed per call; ``None`` in ``shape`` is the batch axis.

    >>> input("x", (None, 2))
    <input x: (N, 2) float64>
    """
    _name(name, "input")
    return Expr("input", (), (name,), _no_empty_axes(shp.normalize(shape, f"input {name!r}"), f"input {name!r}"),
                _dtype(dtype, f"input {name!r}"))


def param(name, shape, dtype="float64"):
    """A trained weight.  Params have no batch axis.

    >>> param("W", (2, 1))
    <param W: (2, 1) float64>
    """
    _name(name, "param")
    s = _no_empty_axes(shp.normalize(shape, f"param {name!r}"), f"param {name!r}")
    if N in s:
        raise ShapeError(f"param {name!r}: a parameter cannot have the batch axis (None) in its shape {shp.fmt(s)}")
    dtype = _dtype(dtype, f"param {name!r}")
    if dtype not in FLOAT_DTYPES:
        raise DTypeError(f"param {name!r}: parameters are floating point, got {dtype}")
    return Expr("param", (), (_name(name, "param"),), s, dtype)


def const(value, dtype=None):
    """A literal array.  Scalars combined with nodes by operators are folded into map bodies
    instead, so use ``const`` for arrays.

    >>> const([1.0, 2.0]).shape
    (2,)
    """
    array = np.asarray(value)
    if dtype is None:
        dtype = "int64" if array.dtype.kind in "iub" else ("float32" if array.dtype == np.float32 else "float64")
    dtype = _dtype(dtype, "const")
    if array.dtype.kind not in "iubf":
        raise DTypeError(f"const: cannot hold an array of dtype {array.dtype}")
    _no_empty_axes(array.shape, "const")
    array = array.astype(dtype)
    return Expr("const", (), (Constant(array),), tuple(int(d) for d in array.shape), dtype)


def _as_node(value, like=None, where=None):
    if isinstance(value, Expr):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        dtype = like.dtype if like is not None and like.dtype in FLOAT_DTYPES and value.dtype.kind == "f" else None
        return const(value, dtype)
    what = f"{type(value).__name__} {value!r}" if isinstance(value, (str, bytes)) else type(value).__name__
    if isinstance(value, np.ndarray):
        what = f"numpy array of dtype {value.dtype}"
    hint = "; wrap a list in np.array(...)" if isinstance(value, (list, tuple)) else ""
    raise ArgumentError(f"{where or 'operand'}: expected a graph node, a number or a numeric numpy array, "
                        f"got a {what}{hint}")


# ---- map: elementwise with broadcasting ---------------------------------------------------
_ALLOWED_FUNCS = (sp.exp, sp.log, sp.tanh, sp.sinh, sp.cosh, sp.sin, sp.cos, sp.tan, sp.atan,
                  sp.asin, sp.acos, sp.asinh, sp.acosh, sp.atanh, sp.erf, sp.erfc, sp.Abs,
                  sp.sign, sp.Max, sp.Min, sp.Heaviside, sp.Piecewise, sp.floor, sp.ceiling,
                  *NAMED_FUNCTIONS.values())


def check_body(expr, where):
    """Raise ``UnsupportedFunction`` if ``expr`` uses a function no backend evaluates.

    >>> check_body(sp.Function("f")(ARG[0]), "elementwise")
    Traceback (most recent call last):
    ...
    symbackprop.errors.UnsupportedFunction: elementwise: function f(x0) has no numeric definition; define it as a sympy expression (e.g. with sb.elementwise) in terms of exp, log, tanh, sigmoid, ...
    """
    for f in expr.atoms(sp.Function):
        if not isinstance(f, _ALLOWED_FUNCS):
            raise UnsupportedFunction(
                f"{where}: function {f} has no numeric definition; define it as a sympy expression "
                "(e.g. with sb.elementwise) in terms of exp, log, tanh, sigmoid, ...")
    for s in expr.atoms(sp.Derivative, sp.Integral, sp.Sum, sp.Product):
        raise UnsupportedFunction(f"{where}: {s} is not a closed form the backends can evaluate")


def _result_dtype(nodes):
    floats = [n.dtype for n in nodes if n.dtype in FLOAT_DTYPES]
    if not floats:
        return "float64"
    return "float64" if "float64" in floats else "float32"


def apply(expr, bindings, where="map", dtype=None):
    """Elementwise ``expr`` (a sympy expression) with each symbol bound to a node.

    This is the one place map nodes are made; it canonicalises them so equal computations
    intern to one node: operands are ordered by structure (the same in every process), repeated operands merged, unused
    operands dropped, and an identity body returns its operand.

    >>> x0, x1 = sp.symbols("a b")
    >>> t = input("t", (3,))
    >>> apply(x0 * x1, {x0: t, x1: t}).attrs[0]
    Lambda(x0, x0**2)
    """
    expr = sp.sympify(expr)
    nodes = list(bindings.values())
    try:  # the error's context prints every operand: build it only when there is an error
        out_shape = shp.broadcast_shapes(*(n.shape for n in nodes))
    except ShapeError:
        out_shape = shp.broadcast_shapes(*(n.shape for n in nodes), context=_context(where, nodes))
    # a rebuilt node keeps its dtype even when no float operand is left to carry it
    dtype = dtype or _result_dtype(nodes)
    extra = expr.free_symbols - set(bindings) - {N}
    if extra:
        raise ShapeError(f"{where}: symbols {sorted(map(str, extra))} in {expr} are bound to no operand")
    # fold scalar constants into the body, merge repeated operands, drop unused ones
    first = {}
    subs = {}
    for sym, node in bindings.items():
        if node.op == "const" and node.shape == ():
            value = node.attrs[0].array.item()
            subs[sym] = sp.Integer(value) if float(value).is_integer() else sp.Float(value)
        elif node in first:
            subs[sym] = first[node]
        else:
            first[node] = sym
    expr = expr.xreplace(subs) if subs else expr
    used = expr.free_symbols
    operands = sorted((n for n, s in first.items() if s in used), key=lambda n: n.key)
    if len(operands) > len(ARG):
        raise ShapeError(f"{where}: more than {len(ARG)} operands in one elementwise body")
    canon = {first[n]: ARG[i] for i, n in enumerate(operands)}
    expr = expr.xreplace(canon)
    check_body(expr, where)
    if not operands:
        if expr.has(N):  # a value depending only on the batch size: a map of no operands
            node = Expr("map", (), (sp.Lambda((), expr),), (), dtype)
        else:
            node = const(np.array(_number(expr), dtype=dtype))
    elif expr == ARG[0] and operands[0].dtype == dtype:
        node = operands[0]
    else:
        node_shape = shp.broadcast_shapes(*(n.shape for n in operands))
        node = Expr("map", tuple(operands), (sp.Lambda(ARG[:len(operands)], expr),), node_shape, dtype)
    if node.shape != out_shape:
        node = broadcast_to(node, out_shape)
    return node


def _number(expr):
    try:
        return float(expr)
    except TypeError:
        raise ShapeError(f"elementwise: constant body {expr} is not a real number") from None


def _context(where, nodes):
    return where + " of " + ", ".join(n.describe() for n in nodes)


def map(body, *args):
    """Apply a ``sympy.Lambda`` elementwise, with numpy broadcasting of ``args``.

    >>> x = input("x", (None, 2))
    >>> map(sp.Lambda(sp.Symbol("u"), sp.Symbol("u") ** 2), x).shape
    (N, 2)
    """
    if not isinstance(body, sp.Lambda):
        raise ArgumentError(f"map: body must be a sympy.Lambda, got {type(body).__name__}")
    if len(body.variables) != len(args):
        raise ShapeError(f"map: body {body} takes {len(body.variables)} arguments, got {len(args)}")
    nodes = [_as_node(a, where="map") for a in args]
    return apply(body.expr, dict(zip(body.variables, nodes)), where="map")


_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b,
}


def _scalar(value):
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentError("booleans are not numbers here; use 0 or 1")
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, numbers.Real):
        return sp.Float(float(value))
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "if":
        return _scalar(value.item())
    return None


def binary(op, a, b):
    """``a op b`` for nodes, numbers and arrays; Python numbers fold into the body.

    >>> x = input("x", (3,))
    >>> binary("*", x, 2).attrs[0]
    Lambda(x0, 2*x0)
    """
    sa, sb_ = _scalar(a), _scalar(b)
    like = a if isinstance(a, Expr) else b
    u, v = sp.Symbol("u", real=True), sp.Symbol("v", real=True)
    bindings = {}
    if sa is None:
        bindings[u] = _as_node(a, like, where=f"'{op}'")
    if sb_ is None:
        bindings[v] = _as_node(b, like, where=f"'{op}'")
    expr = _BINARY[op](u if sa is None else sa, v if sb_ is None else sb_)
    return apply(expr, bindings, where=f"'{op}'")


# ---- linear algebra and layout ------------------------------------------------------------
def matmul(a, b):
    """Matrix product with numpy's rules for 1-D operands (lowered to 2-D products).

    >>> matmul(input("x", (None, 2)), param("w", (2,))).shape
    (N,)
    """
    a, b = _as_node(a), _as_node(b)
    for n in (a, b):
        if n.ndim not in (1, 2):
            raise ShapeError(f"matmul: operands must be 1-D or 2-D, got {n.describe()}")
        if n.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"matmul: operands must be floating point, got {n.describe()}")
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    if a2.shape[1] != b2.shape[0]:
        raise ShapeError(f"matmul: inner dimensions differ: {a.describe()} @ {b.describe()}")
    out = Expr("matmul", (a2, b2), (), (a2.shape[0], b2.shape[1]), _result_dtype([a, b]))
    keep = tuple(d for d, drop in ((out.shape[0], a.ndim == 1), (out.shape[1], b.ndim == 1)) if not drop)
    return reshape(out, keep) if keep != out.shape else out


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None), as ``numpy.transpose``.

    >>> transpose(param("W", (2, 3))).shape
    (3, 2)
    """
    x = _as_node(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
    if sorted(a % x.ndim if isinstance(a, int) and -x.ndim <= a < x.ndim else -1 for a in perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {perm} is not a permutation of the axes of {x.describe()}")
    perm = tuple(a % x.ndim for a in perm)
    if perm == tuple(range(x.ndim)):
        return x
    if x.op == "transpose":  # transpose of a transpose is one transpose
        inner = x.attrs[0]
        return transpose(x.args[0], tuple(inner[p] for p in perm))
    return Expr("transpose", (x,), (perm,), tuple(x.shape[p] for p in perm), x.dtype)


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` by numpy's rules.

    >>> broadcast_to(param("b", (3,)), (None, 3)).shape
    (N, 3)
    """
    x = _as_node(x)
    target = shp.normalize(shape, "broadcast_to")
    ok = len(target) >= x.ndim and all(
        d == 1 or d == t for d, t in zip(x.shape, target[len(target) - x.ndim:]))
    if not ok:
        raise ShapeError(f"broadcast_to: cannot broadcast {x.describe()} to {shp.fmt(target)}")
    if target == x.shape:
        return x
    return Expr("broadcast_to", (x,), (), target, x.dtype)


def reshape(x, shape):
    """Reshape; one dimension may be -1 (inferred); ``None`` is the batch axis.

    >>> reshape(input("x", (None, 2, 3)), (None, 6)).shape
    (N, 6)
    """
    x = _as_node(x)
    raw = (shape,) if isinstance(shape, int) or shape is None else tuple(shape)
    if builtins.sum(1 for d in raw if isinstance(d, int) and d == -1) > 1:
        raise ShapeError(f"reshape: more than one -1 in {raw!r}")
    total = shp.size(x.shape)
    if any(isinstance(d, int) and d == -1 for d in raw):
        known = shp.size(shp.normalize(tuple(d for d in raw if not (isinstance(d, int) and d == -1)), "reshape"))
        inferred = sp.simplify(sp.sympify(total) / known)
        if not (inferred.is_Integer or (inferred.is_integer and inferred.free_symbols <= {N})):
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
    return Expr("reshape", (x,), (), target, x.dtype)


# ---- reductions ---------------------------------------------------------------------------
REDUCTIONS = ("sum", "max", "logsumexp")


def reduce(kind, x, axis=None, keepdims=False):
    """Reduce ``x`` over ``axis`` with ``kind`` in sum, max, logsumexp.

    >>> reduce("sum", input("x", (None, 3)), axis=1).shape
    (N,)
    """
    x = _as_node(x)
    if kind not in REDUCTIONS:
        raise ArgumentError(f"reduce: kind must be one of {REDUCTIONS}, got {kind!r}")
    if x.dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{kind}: operand must be floating point, got {x.describe()}")
    axes = shp.normalize_axes(axis, x.ndim, what=kind)
    if not axes:
        return x
    out_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    out = Expr("reduce", (x,), (kind, axes), out_shape, x.dtype)
    if keepdims:
        out = reshape(out, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
    return out


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (all axes by default).

    >>> sum(input("x", (None, 3))).shape
    ()
    """
    return reduce("sum", x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``: the sum times 1/size (size may be the batch size ``N``).

    >>> mean(input("x", (None, 3))).attrs[0]
    Lambda(x0, x0/(3*N))
    """
    x = _as_node(x)
    axes = shp.normalize_axes(axis, x.ndim, what="mean")
    count = shp.size(tuple(x.shape[a] for a in axes))
    u = sp.Symbol("u", real=True)
    return apply(u / count, {u: reduce("sum", x, axes, keepdims)}, where="mean")


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; its gradient is shared equally among tied maxima.

    >>> max(input("x", (None, 3)), axis=-1).shape
    (N,)
    """
    return reduce("max", x, axis, keepdims)


def logsumexp(x, axis=-1, keepdims=False):
    """log Σ exp(x) over ``axis``, computed stably (max subtracted inside the kernel).

    >>> logsumexp(input("z", (None, 10))).shape
    (N,)
    """
    return reduce("logsumexp", x, axis, keepdims)


def log_softmax(x, axis=-1):
    """x − logsumexp(x) along ``axis``; stable for any logits.

    >>> log_softmax(input("z", (None, 10))).shape
    (N, 10)
    """
    return x - logsumexp(x, axis, keepdims=True)


def softmax(x, axis=-1):
    """exp(x − logsumexp(x)) along ``axis``; stable for any logits.

    >>> softmax(input("z", (None, 10))).shape
    (N, 10)
    """
    return apply(sp.exp(ARG[0]), {ARG[0]: log_softmax(x, axis)}, where="softmax")


def onehot(labels, k, dtype="float64"):
    """One-hot rows from integer class labels of shape ``(N,)``.

    >>> onehot(input("y", (None,), dtype="int64"), 10).shape
    (N, 10)
    """
    labels = _as_node(labels)
    if labels.dtype != "int64":
        raise DTypeError(f"onehot: labels must be int64, got {labels.describe()}")
    if not isinstance(k, int) or k < 1:
        raise ShapeError(f"onehot: number of classes must be a positive int, got {k!r}")
    return Expr("onehot", (labels,), (k,), labels.shape + (k,), _dtype(dtype, "onehot"))
