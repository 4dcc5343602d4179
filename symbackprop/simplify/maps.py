"""Simplify each fused map: inline the bodies of operand maps, simplify with sympy, keep the
result when it is cheaper (after forward-value reuse) than the map as it was.

Inlining the operands lets sympy see that a backward body's ``ŷ`` and ``1 − ŷ`` operands are
``σ(z)`` and ``1 − σ(z)``, which is what turns sigmoid + binary cross-entropy into ``ŷ − y``.

>>> import symbackprop as sb
>>> import sympy as sp
>>> z = sb.input("z", (None, 1)); y = sb.input("y", (None, 1))
>>> yhat = sb.sigmoid(z)
>>> u, v = sp.symbols("u v", real=True)
>>> d = sb.map(sp.Lambda((u, v), -v / u + (1 - v) / (1 - u)), yhat, y) * yhat * (1 - yhat)
>>> (out,) = simplify_maps([sb.graph.fusion.fuse([d], max_copied_ops=0)[0]], Budget(1.0), Index([yhat]))
>>> names = {v: sp.Symbol("yhat" if a is yhat else a.name) for v, a in zip(out.attrs.body.variables, out.args)}
>>> out.attrs.body.expr.xreplace(names)
-y + yhat
"""

from functools import lru_cache

import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.rewrite import rebuild
from symbackprop.graph.traverse import topo_order
from symbackprop.simplify.bodies import Budget, cost, simplify_expr
from symbackprop.simplify.reuse import Index

#: inlining operand bodies stops when the body would exceed this many operations
MAX_INLINE_OPS = 80


def simplify_maps(outputs, budget, index):
    """``outputs`` with every map body simplified (cheaper or unchanged; same values)."""
    new = {}
    for node in topo_order(outputs):
        if node.is_leaf:
            new[node] = node
            continue
        args = [new[a] for a in node.args]
        out = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
        if out.op == "map" and out.args and budget.left:
            out = _simplify_map(out, index)
        new[node] = out
    return [new[o] for o in outputs]


@lru_cache(maxsize=1 << 14)
def _ops(expr):
    """``sp.count_ops``, cached: inlining asks it of the same operand bodies again and again."""
    return sp.count_ops(expr)


def _inline(node):
    """(expr, bindings) of ``node`` with operand maps' bodies substituted in, within limits."""
    body = node.attrs.body
    expr, bindings = body.expr, dict(zip(body.variables, node.args))
    counter = 0
    for _ in range(8):  # eight levels of operands at most
        changed = False
        for sym, arg in list(bindings.items()):
            inner = arg
            while inner.op == "broadcast_to":
                inner = inner.args[0]
            if inner.op != "map" or not inner.args:
                continue
            ib = inner.attrs.body
            if _ops(expr) + _ops(ib.expr) > MAX_INLINE_OPS:
                continue
            fresh = {}
            for v, a in zip(ib.variables, inner.args):
                fresh[v] = sp.Symbol(f"i{counter}", real=True)
                counter += 1
                bindings[fresh[v]] = a
            expr = expr.xreplace({sym: ib.expr.xreplace(fresh)})
            del bindings[sym]
            changed = True
        if not changed:
            break
    return expr, bindings


def _simplify_map(node, index):
    """The cheapest of: ``node``, its own body simplified, its inlined body simplified.

    Costs are compared after forward-value reuse, so a candidate wins only by computing
    less than what it replaces, counting values other nodes already hold as free.
    """
    body = node.attrs.body
    here = dict(zip(body.variables, node.args))
    own_expr = simplify_expr(body.expr)
    best = node if own_expr == body.expr else ops.apply(own_expr, here, where="simplify", dtype=node.dtype)
    best_cost = cost(index.rewrite_expr(own_expr, here, exclude=node)[0])
    expr, bindings = _inline(node)
    if expr is not body.expr:
        canon = ops.apply(expr, bindings, where="simplify", dtype=node.dtype)
        inner = canon.args[0] if canon.op == "broadcast_to" else canon
        if inner.op != "map":
            return _fit(inner, node.shape)
        cb = inner.attrs.body
        inner_here = dict(zip(cb.variables, inner.args))
        best_cost = min(best_cost, cost(index.rewrite_expr(cb.expr, inner_here, exclude=node)[0]))
        simple = simplify_expr(cb.expr)
        if cost(index.rewrite_expr(simple, inner_here, exclude=node)[0]) < best_cost:
            best = ops.apply(simple, inner_here, where="simplify", dtype=node.dtype)
    return _fit(best, node.shape)


def _fit(node, shape):
    return node if node.shape == shape else ops.broadcast_to(node, shape)


__all__ = ["simplify_maps", "Budget", "Index"]
