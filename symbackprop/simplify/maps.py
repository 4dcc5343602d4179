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

import collections

import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.rewrite import rebuild
from symbackprop.graph.traverse import topo_order
from symbackprop.simplify.bodies import Budget, cost, op_count, simplify_expr
from symbackprop.simplify.reuse import Index

#: inlining operand bodies stops when the body would exceed this many operations.  40, not
#: 80: every textbook form and kernel of the tests is found either way (ŷ − y, softmax's
#: p − onehot, BatchNorm's compact gradient), while sympy's time grows faster than the body
#: (a 5,000-node chain's first simplifications: 0.55 s at 80, 0.35 s at 40)
MAX_INLINE_OPS = 40


#: within one ``simplify_maps`` call, a body whose inlined form lost to its own simplified
#: form this many times in a row is not inlined again in that call (see ``simplify_maps``)
INLINE_TRIES = 16


def simplify_maps(outputs, budget, index):
    """``outputs`` with every map body simplified (cheaper or unchanged; same values).

    Inlining operand bodies is what finds ``ŷ − y``, and it is the costly part (about a
    millisecond a map).  A long chain or a deep network repeats each body hundreds of times
    in the same surroundings, so a body whose inlined form has lost ``INLINE_TRIES`` times
    in a row is only simplified on its own from then on: linear and cheap (a cached sympy
    result per body), where trying them all ran a 5,000-node chain's maps out of the time
    budget after a tenth of them.  Any skipped rewrite only leaves a body less simple,
    never wrong.
    """
    new, losses = {}, {}
    for node in topo_order(outputs):
        if node.is_leaf:
            new[node] = node
            continue
        args = [new[a] for a in node.args]
        out = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
        if out.op == "map" and out.args and budget.left:
            out = _simplify_map(out, index, losses)
        new[node] = out
    return [new[o] for o in outputs]


def _inline(node):
    """(expr, bindings) of ``node`` with operand maps' bodies substituted in, within limits.

    Level by level, one ``xreplace`` per level: within a level the body's size is counted
    up (each inlined body's operations times the places of its symbol), not recounted
    after each substitution, which made inlining quadratic in the body's size.
    """
    body = node.attrs.body
    expr, bindings = body.expr, dict(zip(body.variables, node.args))
    counter = 0
    for _ in range(8):  # eight levels of operands at most
        subs = {}
        size = op_count(expr)
        places = None
        for sym, arg in list(bindings.items()):
            inner = arg
            while inner.op == "broadcast_to":
                inner = inner.args[0]
            if inner.op != "map" or not inner.args:
                continue
            ib = inner.attrs.body
            if places is None:  # once per level: a symbol's body is copied to each of its places
                places = collections.Counter(e for e in sp.preorder_traversal(expr) if e.is_Symbol)
            grown = op_count(ib.expr) * max(places[sym], 1)
            if size + grown > MAX_INLINE_OPS:
                continue
            fresh = {}
            for v, a in zip(ib.variables, inner.args):
                fresh[v] = sp.Symbol(f"i{counter}", real=True)
                counter += 1
                bindings[fresh[v]] = a
            subs[sym] = ib.expr.xreplace(fresh)
            size += grown
            del bindings[sym]
        if not subs:
            break
        expr = expr.xreplace(subs)
    return expr, bindings


def _simplify_map(node, index, losses=None):
    """The cheapest of: ``node``, its own body simplified, its inlined body simplified.

    Costs are compared after forward-value reuse, so a candidate wins only by computing
    less than what it replaces, counting values other nodes already hold as free.
    ``losses`` (body -> inlined forms lost in a row) skips inlining a body that keeps losing.
    """
    body = node.attrs.body
    losses = {} if losses is None else losses
    here = dict(zip(body.variables, node.args))
    own_expr = simplify_expr(body.expr)
    best = node if own_expr == body.expr else ops.apply(own_expr, here, where="simplify", dtype=node.dtype)
    if losses.get(body, 0) >= INLINE_TRIES:
        return _fit(best, node.shape)
    best_cost = cost(index.rewrite_expr(own_expr, here, exclude=node)[0])
    expr, bindings = _inline(node)
    won = False
    if expr is not body.expr:
        canon = ops.apply(expr, bindings, where="simplify", dtype=node.dtype)
        inner = canon.args[0] if canon.op == "broadcast_to" else canon
        if inner.op != "map":
            losses[body] = 0
            return _fit(inner, node.shape)
        cb = inner.attrs.body
        inner_here = dict(zip(cb.variables, inner.args))
        best_cost = min(best_cost, cost(index.rewrite_expr(cb.expr, inner_here, exclude=node)[0]))
        simple = simplify_expr(cb.expr)
        if cost(index.rewrite_expr(simple, inner_here, exclude=node)[0]) < best_cost:
            best, won = ops.apply(simple, inner_here, where="simplify", dtype=node.dtype), True
    losses[body] = 0 if won else losses.get(body, 0) + 1
    return _fit(best, node.shape)


def _fit(node, shape):
    return node if node.shape == shape else ops.broadcast_to(node, shape)


__all__ = ["simplify_maps", "Budget", "Index", "INLINE_TRIES"]
