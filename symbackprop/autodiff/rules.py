"""Vector-Jacobian rules: one per primitive op, each a few lines, all in this table.

A rule gets the node, its cotangent ``g`` (a graph node of the node's shape) and returns
one cotangent per operand (``None`` where no gradient flows), as new graph nodes.

>>> import symbackprop as sb
>>> a = sb.param("a", (2, 3)); b = sb.param("b", (3, 4))
>>> da, db = vjp(a @ b, sb.param("g", (2, 4)))
>>> da.shape, db.shape
((2, 3), (3, 4))
"""

import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.scalar import ARG, derivative

_G = sp.Symbol("g", real=True)
_M = sp.Symbol("m", real=True)
_C = sp.Symbol("c", real=True)


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added to an operand of ``shape``.

    >>> import symbackprop as sb
    >>> unbroadcast(sb.input("g", (None, 3)), (3,)).shape
    (3,)
    """
    lead = g.ndim - len(shape)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1]
    if axes:
        g = ops.sum(g, tuple(axes))
    return ops.reshape(g, shape)


def _keepdims(node, axes, ndim):
    """A reduced node reshaped so it broadcasts against its operand."""
    kept = list(node.shape)
    for a in axes:
        kept.insert(a, 1)
    return ops.reshape(node, tuple(kept))


def _map(node, g):
    body, args = node.attrs[0], node.args
    out = []
    for i, arg in enumerate(args):
        d = derivative(body, i).expr
        if d == 0 or arg.dtype == "int64":
            out.append(None)
            continue
        bindings = {_G: g, **{ARG[j]: a for j, a in enumerate(args)}}
        out.append(unbroadcast(ops.apply(_G * d, bindings, where="gradient of map"), arg.shape))
    return out


def _matmul(node, g):
    a, b = node.args
    return [ops.matmul(g, ops.transpose(b)), ops.matmul(ops.transpose(a), g)]


def _reduce(node, g):
    kind, axes = node.attrs
    x = node.args[0]
    gk = _keepdims(g, axes, x.ndim)
    if kind == "sum":
        return [ops.broadcast_to(gk, x.shape)]
    value = _keepdims(node, axes, x.ndim)
    if kind == "logsumexp":  # ∂/∂x logsumexp(x) = softmax(x)
        return [ops.apply(_G * sp.exp(ARG[0] - _M), {_G: gk, ARG[0]: x, _M: value}, where="gradient of logsumexp")]
    # max: the cotangent is shared equally among the elements equal to the maximum
    hit = sp.Piecewise((1, sp.Eq(ARG[0], _M)), (0, True))
    count = ops.sum(ops.apply(hit, {ARG[0]: x, _M: value}, where="gradient of max"), axes, keepdims=True)
    return [ops.apply(_G * hit / _C, {_G: gk, ARG[0]: x, _M: value, _C: count}, where="gradient of max")]


def _transpose(node, g):
    perm = node.attrs[0]
    inverse = tuple(sorted(range(len(perm)), key=lambda i: perm[i]))
    return [ops.transpose(g, inverse)]


RULES = {
    "map": _map,
    "matmul": _matmul,
    "reduce": _reduce,
    "transpose": _transpose,
    "broadcast_to": lambda node, g: [unbroadcast(g, node.args[0].shape)],
    "reshape": lambda node, g: [ops.reshape(g, node.args[0].shape)],
    "onehot": lambda node, g: [None],
}


def vjp(node, g):
    """Cotangents of ``node``'s operands given the cotangent ``g`` of ``node``."""
    return RULES[node.op](node, g)
