"""Simplification of gradient graphs: value-preserving, fast, and cached per body.

``simplify(outputs)`` runs named passes in order (each a value-preserving rebuild):

1. ``graph_rules.rewrite``: transpose of products, products with constants, sum of a
   broadcast, constant folding, stabilising body rewrites; dead nodes vanish;
2. ``graph.fusion.fuse``: single-reader elementwise chains become one sympy body;
3. ``maps.simplify_maps``: each body simplified by sympy (operand bodies inlined first),
   under a time budget, cached per body;
4. ``reuse``: sub-expressions the graph already computes are read from those nodes
   (``1 − tanh(z)²`` → ``1 − a²``);
5. ``graph_rules.rewrite`` again, to clean up.

>>> import symbackprop as sb
>>> z = sb.input("z", (None, 1)); y = sb.input("y", (None, 1))
>>> (dz,) = simplify([sb.grad(sb.bce(z, y), z)])
>>> dz.attrs.body
Lambda((x0, x1), (-x1 + sigmoid(x0))/N)
"""

from symbackprop.graph.fusion import fuse
from symbackprop.graph.node import Expr
from symbackprop.graph.traverse import topo_order
from symbackprop.simplify.bodies import Budget, simplify_expr
from symbackprop.simplify.graph_rules import rewrite
from symbackprop.simplify.maps import simplify_maps
from symbackprop.simplify.reuse import Index

#: seconds of sympy work one ``simplify`` call may spend on bodies it has not seen before
BUDGET_SECONDS = 2.0


def simplify(outputs, budget=BUDGET_SECONDS, reuse=()):
    """``outputs`` (a node or a list of nodes) rebuilt simpler, with the same values.

    Returns a list of nodes (one per output).  ``reuse`` names extra nodes whose values
    may be read where a body recomputes them (the renderer passes named forward nodes).
    """
    outs = [outputs] if isinstance(outputs, Expr) else list(outputs)
    outs = rewrite(outs)
    outs = fuse(outs, max_copied_ops=0)  # shared values stay nodes: explain names them
    extra = list(reuse)
    # the budget is for sympy's work on bodies: it starts here, after the linear passes
    outs = simplify_maps(outs, Budget(budget), Index(topo_order(outs) + extra, extra))
    index = Index(topo_order(outs) + extra, extra)
    outs = _reuse_sweep(outs, index)
    return rewrite(outs)


def _reuse_sweep(outputs, index):
    from symbackprop.graph.rewrite import rebuild
    new = {}
    for node in topo_order(outputs):
        if node.is_leaf:
            new[node] = node
            continue
        args = [new[a] for a in node.args]
        out = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
        new[node] = index.reuse(out) if out.op == "map" else out
    return [new[o] for o in outputs]


__all__ = ["simplify", "simplify_expr", "BUDGET_SECONDS"]
