"""The graph's public constructors.  Each primitive op is defined in ``symbackprop.primitives``
(its attributes, shape rule, numpy meaning, derivative, rendering and lowering); this module
is what users call, plus the composite ops built from the primitives (``mean``, ``softmax``,
``log_softmax``).

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 3))
>>> (x @ W).shape
(N, 3)
>>> sb.input("x", (None, 2)) @ sb.param("V", (3, 1))
Traceback (most recent call last):
...
symbackprop.errors.ShapeError: matmul: inner dimensions differ: input x (N, 2) float64 @ param V (3, 1) float64
"""

import sympy as sp

from symbackprop.errors import ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Constant, Expr  # noqa: F401 (re-exported)
from symbackprop.graph.scalar import ARG
from symbackprop.primitives import definition
from symbackprop.primitives.checks import DTYPES, FLOAT_DTYPES, as_node as _as_node, result_dtype as _result_dtype  # noqa: F401
from symbackprop.primitives.elementwise import apply, binary, check_body, map  # noqa: F401 (re-exported)
from symbackprop.primitives.concat import concat, stack  # noqa: F401 (re-exported)
from symbackprop.primitives.indexing import pad  # noqa: F401 (re-exported)
from symbackprop.primitives.reduction import KINDS as REDUCTIONS
from symbackprop.primitives.take import take  # noqa: F401 (re-exported)


def input(name, shape, dtype="float64"):
    """Data fed per call; ``None`` in ``shape`` is the batch axis.

    >>> input("x", (None, 2))
    <input x: (N, 2) float64>
    """
    return definition("input").build(name, shape, dtype)


def param(name, shape, dtype="float64"):
    """A trained weight.  Params have no batch axis.

    >>> param("W", (2, 1))
    <param W: (2, 1) float64>
    """
    return definition("param").build(name, shape, dtype)


def const(value, dtype=None):
    """A literal array.  Scalars combined with nodes by operators are folded into map bodies
    instead, so use ``const`` for arrays.

    >>> const([1.0, 2.0]).shape
    (2,)
    """
    return definition("const").build(value, dtype)


def matmul(a, b):
    """Matrix product with numpy's rules for 1-D operands (lowered to 2-D products).

    >>> matmul(input("x", (None, 2)), param("w", (2,))).shape
    (N,)
    """
    return definition("matmul").build(a, b)


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None), as ``numpy.transpose``.

    >>> transpose(param("W", (2, 3))).shape
    (3, 2)
    """
    return definition("transpose").build(x, axes)


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` by numpy's rules.

    >>> broadcast_to(param("b", (3,)), (None, 3)).shape
    (N, 3)
    """
    return definition("broadcast_to").build(x, shape)


def reshape(x, shape):
    """Reshape; one dimension may be -1 (inferred); ``None`` is the batch axis.

    >>> reshape(input("x", (None, 2, 3)), (None, 6)).shape
    (N, 6)
    """
    return definition("reshape").build(x, shape)


def reduce(kind, x, axis=None, keepdims=False):
    """Reduce ``x`` over ``axis`` with ``kind`` in sum, max, logsumexp.

    >>> reduce("sum", input("x", (None, 3)), axis=1).shape
    (N,)
    """
    return definition("reduce").build(kind, x, axis, keepdims)


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (all axes by default).

    >>> sum(input("x", (None, 3))).shape
    ()
    """
    return reduce("sum", x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``: the sum times 1/size (size may be the batch size ``N``).

    >>> mean(input("x", (None, 3))).attrs.body
    Lambda(x0, x0/(3*N))
    """
    x = _as_node(x, where="mean")
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
    return definition("onehot").build(labels, k, dtype)


def conv2d(x, w, b=None, stride=1, padding=0):
    """2-D convolution layer, as ``torch.nn.functional.conv2d``: ``x`` (N, C, H, W), ``w``
    (out_channels, C, kh, kw), ``b`` (out_channels,) or None; ``stride``, ``padding`` ints or
    pairs (zero padding on both sides).  It is a cross-correlation, printed ``x ⋆ W``.

    >>> conv2d(input("x", (None, 1, 28, 28)), param("W", (8, 1, 3, 3))).shape
    (N, 8, 26, 26)
    """
    from symbackprop.primitives.conv import conv
    w = _as_node(w, where="conv2d")
    if w.ndim != 4:
        raise ShapeError(f"conv2d: the kernel must be (out_channels, in_channels, kh, kw), got {w.describe()}")
    return conv(x, w, b, stride, padding)


def conv1d(x, w, b=None, stride=1, padding=0):
    """1-D convolution layer, as ``torch.nn.functional.conv1d``: ``x`` (N, C, L), ``w``
    (out_channels, C, k).

    >>> conv1d(input("x", (None, 2, 10)), param("W", (4, 2, 3)), padding=1).shape
    (N, 4, 10)
    """
    from symbackprop.primitives.conv import conv
    w = _as_node(w, where="conv1d")
    if w.ndim != 3:
        raise ShapeError(f"conv1d: the kernel must be (out_channels, in_channels, k), got {w.describe()}")
    return conv(x, w, b, stride, padding)


def max_pool2d(x, kernel_size, stride=None):
    """The maximum of each window over the last two axes, as ``torch.nn.functional.max_pool2d``
    (``stride`` defaults to ``kernel_size``); its gradient routes δ to each window's argmax.

    >>> max_pool2d(input("x", (None, 8, 26, 26)), 2).shape
    (N, 8, 13, 13)
    """
    from symbackprop.primitives.pooling import pool
    return pool("max", x, kernel_size, stride, 2)


def avg_pool2d(x, kernel_size, stride=None):
    """The mean of each window over the last two axes, as ``torch.nn.functional.avg_pool2d``;
    its gradient spreads δ evenly over each window.

    >>> avg_pool2d(input("x", (None, 3, 4, 4)), 2).shape
    (N, 3, 2, 2)
    """
    from symbackprop.primitives.pooling import pool
    return pool("avg", x, kernel_size, stride, 2)


def max_pool1d(x, kernel_size, stride=None):
    """Max pooling over the last axis, as ``torch.nn.functional.max_pool1d``.

    >>> max_pool1d(input("x", (None, 2, 9)), 3).shape
    (N, 2, 3)
    """
    from symbackprop.primitives.pooling import pool
    return pool("max", x, kernel_size, stride, 1)


def avg_pool1d(x, kernel_size, stride=None):
    """Average pooling over the last axis, as ``torch.nn.functional.avg_pool1d``.

    >>> avg_pool1d(input("x", (None, 2, 9)), 3, 2).shape
    (N, 2, 4)
    """
    from symbackprop.primitives.pooling import pool
    return pool("avg", x, kernel_size, stride, 1)


def flatten(x, start_dim=1):
    """All axes from ``start_dim`` on merged into one, as ``torch.flatten`` (a reshape: the
    batch axis stays first).

    >>> flatten(input("x", (None, 16, 5, 5))).shape
    (N, 400)
    """
    x = _as_node(x, where="flatten")
    (start,) = shp.normalize_axes(start_dim, x.ndim, what="flatten") if x.ndim else (0,)
    rest = x.shape[start:]
    if any(not isinstance(d, int) for d in rest):
        raise ShapeError(f"flatten: cannot merge the batch axis into others ({x.describe()}, start_dim={start_dim})")
    return reshape(x, tuple(x.shape[:start]) + (shp.size(rest),))
