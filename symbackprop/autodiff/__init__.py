"""Symbolic reverse mode: ``grad(L, wrt)`` returns new graph nodes, never numbers.

The cost is linear in the graph's size and independent of tensor sizes: rules act on
whole tensors, and elementwise derivatives come from ``sympy.diff`` of small bodies.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); w = sb.param("w", (2,))
>>> g = sb.grad(sb.mean((x @ w) ** 2), [w])
>>> g[w].shape
(2,)
"""

import numpy as np

from symbackprop.autodiff.rules import vjp
from symbackprop.errors import DerivationError
from symbackprop.graph import ops
from symbackprop.graph.node import Expr
from symbackprop.graph.shape import fmt
from symbackprop.graph.traverse import topo_order

__all__ = ["grad"]


def grad(loss, wrt):
    """∂loss/∂wrt for a scalar ``loss``, as graph nodes (so gradients of gradients work).

    ``wrt`` is a node or a list of nodes (params, inputs, or intermediate nodes: then the
    result is the backprop cotangent ∂L/∂z).  A list gives ``{node: gradient}``; a single
    node gives its gradient.  A node the loss does not depend on gets zeros.

    >>> import symbackprop as sb
    >>> t = sb.param("t", ())
    >>> d2 = sb.grad(sb.grad(t ** 3, t), t)      # second derivative: 6t
    >>> float(sb.compile(d2, backend="numpy")(t=np.array(2.0)))
    12.0
    """
    if not isinstance(loss, Expr):
        raise DerivationError(f"grad: the loss must be a graph node, got {type(loss).__name__}")
    if loss.shape != ():
        raise DerivationError(
            f"grad: the loss must be a scalar, got {loss.describe()}; reduce it with sb.mean or sb.sum first")
    if loss.dtype not in ops.FLOAT_DTYPES:
        raise DerivationError(f"grad: the loss must be floating point, got {loss.describe()}")
    single = isinstance(wrt, Expr)
    targets = [wrt] if single else list(wrt)
    for t in targets:
        if not isinstance(t, Expr):
            raise DerivationError(f"grad: wrt must hold graph nodes, got {type(t).__name__}")
        if t.dtype not in ops.FLOAT_DTYPES:
            raise DerivationError(f"grad: cannot differentiate with respect to {t.describe()}: it is not floating point")
    cotangents = backprop(loss, targets)
    result = {}
    for t in targets:
        g = cotangents.get(t)
        if g is None:
            g = ops.broadcast_to(ops.const(np.zeros((), dtype=t.dtype)), t.shape)
        result[t] = g
    return result[wrt] if single else result


def backprop(loss, targets):
    """Cotangent of every node between ``targets`` and ``loss`` ({node: graph node}).

    Only nodes that depend on a target are visited; cotangents of a node used several
    times are summed.
    """
    order = topo_order([loss])
    wanted = set(targets)
    live = set()
    for node in order:  # nodes that depend on a target
        if node in wanted or any(a in live for a in node.args):
            live.add(node)
    contributions = {loss: [ops.const(np.ones((), dtype=loss.dtype))]}
    done = {}
    for node in reversed(order):
        parts = contributions.pop(node, None)
        if parts is None or node not in live:
            continue
        g = parts[0]
        for p in parts[1:]:
            g = g + p
        if g.shape != node.shape:
            raise DerivationError(f"internal: cotangent {fmt(g.shape)} for {node.describe()}")
        done[node] = g
        if node.is_leaf:
            continue
        for arg, ga in zip(node.args, vjp(node, g)):
            if ga is not None and arg in live:
                contributions.setdefault(arg, []).append(ga)
    return done
