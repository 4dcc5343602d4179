"""Elementwise fusion: value-preserving graph rewrites that merge chains of maps.

``fuse(outputs)`` inlines every map whose only reader is another map of the same shape
into that reader, so a chain like ``(ŷ − y)² / N`` becomes one map with one sympy body:
one loop in a kernel, one formula to simplify.  Operands that are mere broadcasts of a
smaller array are read directly (maps broadcast their operands anyway).  Nothing is
computed twice: a value read by two nodes stays its own node.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2))
>>> (out,) = fuse([sb.tanh(x * 2 + 1) ** 2])
>>> out.attrs.body
Lambda(x0, tanh(2*x0 + 1)**2)
"""

import collections
import itertools
from functools import lru_cache

import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.scalar import ARG
from symbackprop.graph.shape import broadcast_shapes
from symbackprop.graph.traverse import consumers, topo_order
from symbackprop.primitives import definition

#: fused bodies stop growing at this many sympy operations, so simplification stays cheap
MAX_BODY_OPS = 120

#: a value read in several places of one body is composed in (each place gets a copy of its
#: expression) only while the copies add at most this many operations: sympy's trees do
#: not share, so copying grown bodies would double them per link of a chain
MAX_COPIED_OPS = 4


def _direct_operand(arg, shape, others):
    """``arg`` without a broadcast or size-1 reshape in front, if the map's shape survives."""
    while definition(arg).layout:
        inner = arg.args[0]
        if arg.op == "reshape" and ops.shp.size(inner.shape) != 1:
            break
        try:
            if broadcast_shapes(inner.shape, *others) != shape:
                break
        except Exception:
            break
        arg = inner
    return arg


def fuse(outputs, max_body_ops=MAX_BODY_OPS):
    """``outputs`` rebuilt with elementwise chains fused into single maps (same values).

    A map is composed into its reader when every reader of it is in that reader's fused
    body (one reader, or several that were fused together) and the body stays within
    ``max_body_ops``.  Linear in the graph: a fused body is composed once from its pieces'
    bodies and becomes a graph node only where something that is not fused into it reads
    it, so a long chain makes one node per ``max_body_ops`` operations, not one growing
    node per link.

    >>> import symbackprop as sb
    >>> x = sb.input("x", (3,))
    >>> e = sb.exp(x)
    >>> fuse([e * 2 + e])[0].attrs.body          # both readers of e are in one body
    Lambda(x0, 3*exp(x0))
    >>> a, b = fuse([e * 2, e + 1])               # two bodies read e: it stays a node
    >>> a.args[0] is b.args[0], a.args[0].op
    (True, 'map')
    """
    order = topo_order(outputs)
    uses = consumers(order)
    for o in outputs:
        uses[o] = uses.get(o, 0) + 1
    fusion = _Fusion(uses, max_body_ops)
    for node in order:
        if node.is_leaf:
            fusion.new[node] = node
        elif node.op != "map":
            args = [fusion.built(a) for a in node.args]
            fusion.new[node] = node if all(a is b for a, b in zip(args, node.args)) else _rebuild(node, args)
        else:
            fusion.compose(node)
    return [fusion.built(o) for o in outputs]


class _Pending:
    """A fused body not yet made a node: ``expr`` over fresh symbols, each bound to a node
    (``bindings``: an operand as built, or a map still pending, bound lazily so it can be
    composed in later when all its readers turn out to be here); ``occurrences`` of each
    symbol in ``expr``, and ``size``, the operation count as composed (no sympy count of
    the growing body: each piece's body is counted once per occurrence)."""

    __slots__ = ("expr", "bindings", "lazy", "occurrences", "size", "changed")

    def __init__(self, expr, bindings, lazy, occurrences, size, changed):
        self.expr, self.bindings, self.occurrences, self.size = expr, bindings, occurrences, size
        self.lazy = lazy        # the symbols bound to a pending map (an original node) not built yet
        self.changed = changed  # something composed in, or an operand read through a broadcast


class _Fusion:
    """The state of one ``fuse`` pass: rebuilt nodes, pending bodies and the fresh symbols."""

    def __init__(self, uses, max_body_ops):
        self.uses, self.max_body_ops = uses, max_body_ops
        self.new = {}       # node -> its rebuilt node
        self.pending = {}   # map node -> _Pending
        self.fresh = (sp.Symbol(f"f{k}", real=True) for k in itertools.count())

    def built(self, node):
        """``node`` rebuilt; a pending body becomes a node here (its pending operands first,
        without recursion: a chain of pending maps is thousands deep)."""
        stack = [node]
        while stack:
            top = stack[-1]
            if top in self.new:
                stack.pop()
                continue
            p = self.pending[top]
            waiting = [p.bindings[s] for s in p.lazy if p.bindings[s] not in self.new]
            if waiting:
                stack.extend(waiting)
                continue
            self.new[top] = self._materialise(top, self.pending.pop(top))
            stack.pop()
        return self.new[node]

    def _materialise(self, original, p):
        expr, operands, changed = p.expr, {}, p.changed
        shapes = [b.shape for b in p.bindings.values()]
        for sym, bound in p.bindings.items():
            operand = self.new[bound] if sym in p.lazy else bound
            if operand is not bound:
                changed = True
                operand = _direct_operand(operand, original.shape, [s for s in shapes if s is not bound.shape])
                if operand.op == "map" and not operand.args:  # a value of N alone: its body is the value
                    expr = expr.xreplace({sym: operand.attrs.body.expr})
                    continue
            operands[sym] = operand
        if not changed:  # the node itself: canonical already, no sympy work
            return original
        out = ops.apply(expr, operands, where="fused map", dtype=original.dtype)
        return out if out.shape == original.shape else ops.broadcast_to(out, original.shape)

    def compose(self, node):
        """Make ``node``'s pending body: operands bound (pending maps lazily, the rest as
        built, broadcasts read directly), then pending maps all of whose readers are in
        the body composed in while it stays within the limits."""
        body = node.attrs.body
        size, counts = _body_size(body)
        replace, bindings, lazy, occurrences, changed = {}, {}, set(), {}, False
        for var, count, arg in zip(body.variables, counts, node.args):
            inner = self.pending.get(arg)
            if inner is not None and not inner.bindings:
                replace[var] = inner.expr   # a constant or a value of N: copied, other readers keep it
                changed = True
                continue
            if inner is None:
                operand = _direct_operand(self.new[arg], node.shape, [a.shape for a in node.args if a is not arg])
                changed = changed or operand is not arg
                if operand.op == "map" and not operand.args:
                    replace[var] = operand.attrs.body.expr
                    continue
            else:
                operand = arg
            sym = next(self.fresh)
            if inner is not None:
                lazy.add(sym)
            replace[var] = sym
            bindings[sym] = operand
            occurrences[sym] = count
        p = _Pending(body.expr.xreplace(replace), bindings, lazy, occurrences, size, changed)
        self._absorb(node, p)
        self.pending[node] = p

    def _absorb(self, node, p):
        grown = True
        while grown:
            grown = False
            readers = collections.defaultdict(list)
            for sym in p.lazy:
                bound = p.bindings[sym]
                if bound in self.pending:
                    readers[bound].append(sym)
            for q, syms in readers.items():
                inner = self.pending.get(q)
                weight = sum(p.occurrences[s] for s in syms)
                if (inner is None or len(syms) != self.uses.get(q, 0) or q.shape != node.shape
                        or p.size + weight * inner.size > self.max_body_ops
                        or (weight - 1) * inner.size > MAX_COPIED_OPS
                        or len(set(p.bindings.values()) | set(inner.bindings.values())) > len(ARG)):
                    continue
                p.expr = p.expr.xreplace({s: inner.expr for s in syms})
                for s in syms:
                    del p.bindings[s], p.occurrences[s]
                    p.lazy.discard(s)
                p.lazy |= inner.lazy
                for s, bound in inner.bindings.items():
                    p.bindings[s] = bound
                    p.occurrences[s] = p.occurrences.get(s, 0) + weight * inner.occurrences[s]
                p.size += weight * inner.size
                p.changed = grown = True
                del self.pending[q]         # composed here: never a node of its own


@lru_cache(maxsize=1 << 14)
def _body_size(body):
    """(operations in ``body``, occurrences of each of its variables): a composed operand
    counts once per occurrence."""
    counts = collections.Counter(e for e in sp.preorder_traversal(body.expr) if e.is_Symbol)
    return sp.count_ops(body.expr), tuple(counts[v] for v in body.variables)


def _rebuild(node, args):
    from symbackprop.graph.rewrite import rebuild
    return rebuild(node, args)
