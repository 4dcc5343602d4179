"""Reuse of forward values: a body's sub-expression that some node already computes is read
from that node instead (``1 − tanh(z)²`` → ``1 − a²`` with ``a = tanh(z)``; ``σ(z)(1 − σ(z))``
→ ``ŷ(1 − ŷ)``; ``exp(z − lse)`` → the softmax node), so kernels compute each value once and
formulas name what the forward pass named.

>>> import symbackprop as sb
>>> z = sb.input("z", (None, 3)); a = sb.tanh(z)
>>> u = sb.scalar.ARG[0]
>>> d = sb.map(sp.Lambda(u, 1 - sp.tanh(u) ** 2), z)
>>> out = Index([a]).reuse(d)
>>> out.args == (a,), out.attrs.body
(True, Lambda(x0, 1 - x0**2))
"""

import sympy as sp

from symbackprop.graph import ops
from symbackprop.simplify.bodies import op_count


class Index:
    """Map nodes that may be reused, looked up by their operands.

    A node is reused where a body recomputes a function call it holds (``tanh(z)``);
    nodes in ``always`` (named ones, for formulas) are reused for plain arithmetic too.
    """

    def __init__(self, nodes, always=()):
        self.always = set(always)
        self.by_arg = {}
        for n in nodes:
            if n.op == "map" and n.args:
                for a in set(n.args):
                    self.by_arg.setdefault(a, []).append(n)

    def candidates(self, operands, exclude=None):
        """Indexed maps all of whose operands are among ``operands``, biggest body first."""
        ops_set = set(operands)
        seen, out = set(), []
        for a in ops_set:
            for n in self.by_arg.get(a, ()):
                if n not in seen and n is not exclude and set(n.args) <= ops_set:
                    seen.add(n)
                    out.append(n)
        out.sort(key=lambda n: (-op_count(n.attrs.body.expr), n.key))
        return out

    def rewrite_expr(self, expr, bindings, exclude=None):
        """(expr, bindings) with indexed nodes' bodies replaced by fresh symbols bound to them."""
        bindings = dict(bindings)
        counter = len(bindings)
        patterns = {}
        changed = True
        while changed:
            changed = False
            node_sym = {}
            for s, n in bindings.items():
                node_sym.setdefault(n, s)
            for cand in self.candidates(node_sym, exclude):
                if cand in node_sym and node_sym[cand] in expr.free_symbols:
                    continue
                body = cand.attrs.body
                pattern = body.expr.xreplace({v: node_sym[a] for v, a in zip(body.variables, cand.args)})
                if pattern.is_Atom:
                    continue
                sym = sp.Symbol(f"r{counter}", real=True)
                counter += 1
                new = _replace(expr, pattern, sym)
                if new is not expr and sym in new.free_symbols:
                    expr = new
                    bindings[sym] = cand
                    patterns[sym] = pattern
                    changed = True
                    break
        # reading a node for plain arithmetic saves nothing: undo those extractions
        # (unless the node is named), keeping the ones that led to a function call
        undo = {s: p for s, p in patterns.items()
                if s in expr.free_symbols and not p.has(sp.Function) and bindings[s] not in self.always}
        if undo:
            for _ in range(len(undo)):
                expr = expr.xreplace(undo)
            for s in undo:
                del bindings[s]
        return expr, bindings

    def reuse(self, node):
        """``node`` (a map) rebuilt to read indexed nodes for the sub-expressions they compute."""
        if node.op != "map" or not node.args:
            return node
        body = node.attrs.body
        bindings = dict(zip(body.variables, node.args))
        expr, bindings = self.rewrite_expr(body.expr, bindings, exclude=node)
        if expr is body.expr:
            return node
        out = ops.apply(expr, bindings, where="simplify", dtype=node.dtype)
        return out if out.shape == node.shape else ops.broadcast_to(out, node.shape)


def _replace(expr, pattern, sym):
    """``expr`` with ``pattern`` replaced by ``sym``: as a subtree, or as some of the terms of
    a sum (``a + b`` inside ``a + b − c``); never by algebraic rearrangement.

    >>> a, b, c, s = sp.symbols("a b c s")
    >>> _replace(sp.tanh(a + b) ** 2 + c, a + b, s), _replace(a + b - c, a + b, s)
    (c + tanh(s)**2, -c + s)
    """
    new = expr.xreplace({pattern: sym})
    if new != expr or not pattern.is_Add:
        return new
    terms = set(pattern.args)

    def visit(e):
        if e.is_Atom:
            return e
        args = [visit(a) for a in e.args]
        if e.is_Add and terms <= set(e.args):
            rest = [a for a in e.args if a not in terms]
            return sp.Add(sym, *[visit(a) for a in rest])
        return e.func(*args) if any(x is not y for x, y in zip(args, e.args)) else e

    return visit(expr)
