"""Graph rewrites: one topological sweep that rebuilds each node through its primitive's
local rules (``Primitive.rewrite``), then folds constants.

The rules (each value-preserving) live with their ops: a transpose of a 2-D product is the
swapped product; a map folds size-1 constant operands into its body and applies the
stabilising body rewrites (``symbackprop.simplify.stable``); a product with an all-zero
constant is zeros; ``sum(broadcast_to(x))`` over only broadcast axes is ``x · count``.  Here,
generically, a node whose operands are all constants is evaluated (constant folding).
Dead nodes vanish because only what the outputs reach is rebuilt.

>>> import symbackprop as sb
>>> a = sb.param("a", (2, 3)); b = sb.param("b", (3, 4))
>>> (out,) = rewrite([sb.transpose(a @ b)])
>>> out.op, [n.op for n in out.args]
('matmul', ['transpose', 'transpose'])
"""

import numpy as np
import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.evaluate import evaluate
from symbackprop.graph.rewrite import rebuild
from symbackprop.graph.scalar import N
from symbackprop.graph.shape import size
from symbackprop.graph.traverse import topo_order
from symbackprop.primitives import definition
from symbackprop.primitives.constants import is_zero, scalar_constant, scalar_value  # noqa: F401 (re-exported)

#: constant folding stops at arrays of this many elements (larger literals stay symbolic)
MAX_FOLD = 4096


def rewrite(outputs):
    """``outputs`` rebuilt with the local rules applied bottom-up (same values)."""
    new = {}
    for node in topo_order(outputs):
        if node.is_leaf:
            new[node] = node
            continue
        args = [new[a] for a in node.args]
        new[node] = _rule(node, args)
    return [new[o] for o in outputs]


def _rule(node, args):
    out = definition(node).rewrite(node, args)
    if out is None:
        out = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
    return _fold(out)


def _fold(node):
    """Evaluate a node whose operands are all constants (no batch size involved)."""
    if node.is_leaf or not node.args or not all(a.op == "const" for a in node.args):
        return node
    if definition(node).layout:  # layout of a literal: nothing to compute
        return node
    if any(isinstance(d, sp.Basic) for d in node.shape) or size(node.shape) > MAX_FOLD:
        return node
    if node.op == "map" and node.attrs.body.expr.has(N):
        return node
    (value,) = evaluate([node], {})
    return ops.const(np.asarray(value, dtype=node.dtype).copy(), dtype=node.dtype)
