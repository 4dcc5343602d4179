"""The direct evaluator: runs a graph node by node with numpy, no lowering.

It is small enough to be obviously right, which is what makes it the oracle every backend
is tested against (DESIGN.md, "Oracles").  It checks nothing a compiled function checks:
give it arrays of the right shapes.

>>> import numpy as np, symbackprop as sb
>>> x = sb.input("x", (None, 2)); w = sb.param("w", (2,))
>>> evaluate([sb.sum(x @ w)], {"x": np.ones((3, 2)), "w": np.array([1.0, 2.0])})[0]
array(9.)
"""

from functools import lru_cache

import numpy as np
import sympy as sp

from symbackprop.graph.scalar import N, numpy_namespace
from symbackprop.graph.traverse import topo_order


@lru_cache(maxsize=4096)
def body_function(body):
    """A numpy function of (operands..., N) for a map body (cached per body).

    >>> from symbackprop.graph.scalar import FUNCTIONS
    >>> float(body_function(FUNCTIONS["sigmoid"])(np.float64(0.0), 1))
    0.5
    """
    # sympy prints Heaviside as a Piecewise, which is 1 at NaN: numpy's heaviside is NaN there
    expr = body.expr.replace(sp.Heaviside, lambda x, h0=sp.S.Half: _HEAVISIDE(x, h0))
    return sp.lambdify(list(body.variables) + [N], expr,
                       modules=[{**numpy_namespace(), "heaviside": np.heaviside}, "scipy", "numpy"])


_HEAVISIDE = sp.Function("heaviside")


def batch_size(nodes, feeds):
    """The batch size N implied by the fed arrays (1 when nothing has a batch axis)."""
    for node in nodes:
        if node.op == "input" and N in node.shape and node.name in feeds:
            return int(np.shape(feeds[node.name])[node.shape.index(N)])
    return 1


def _concrete(shape, n):
    return tuple(int(d.subs(N, n)) if isinstance(d, sp.Basic) else int(d) for d in shape)


def _reduce(kind, x, axes):
    if kind == "sum":
        return np.sum(x, axis=axes)
    if kind == "max":
        return np.max(x, axis=axes)
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return np.squeeze(m, axis=axes) + np.log(np.sum(np.exp(x - m), axis=axes))


def evaluate(outputs, feeds):
    """Values of ``outputs`` given ``feeds`` ({input or param name: array}).

    >>> import symbackprop as sb
    >>> evaluate([sb.exp(sb.input("t", ()))], {"t": np.array(0.0)})
    [array(1.)]
    """
    order = topo_order(outputs)
    n = batch_size(order, feeds)
    values = {}
    with np.errstate(all="ignore"):
        for node in order:
            values[node] = _evaluate_node(node, [values[a] for a in node.args], feeds, n)
    return [values[o] for o in outputs]


def _evaluate_node(node, args, feeds, n):
    op, dtype = node.op, np.dtype(node.dtype)
    if op in ("input", "param"):
        return np.asarray(feeds[node.name])
    if op == "const":
        return node.attrs[0].array
    if op == "map":
        out = body_function(node.attrs[0])(*args, n)
        return np.broadcast_to(np.asarray(out, dtype=dtype), _concrete(node.shape, n))
    if op == "matmul":
        return args[0] @ args[1]
    if op == "reduce":
        kind, axes = node.attrs
        return np.asarray(_reduce(kind, args[0], axes), dtype=dtype)
    if op == "transpose":
        return np.transpose(args[0], node.attrs[0])
    if op == "broadcast_to":
        return np.broadcast_to(args[0], _concrete(node.shape, n))
    if op == "reshape":
        return np.reshape(args[0], _concrete(node.shape, n))
    if op == "onehot":
        k = node.attrs[0]
        return (args[0][..., None] == np.arange(k)).astype(dtype)
    raise AssertionError(f"unknown op {op}")
