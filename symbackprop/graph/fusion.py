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
from functools import lru_cache

import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.scalar import ARG
from symbackprop.graph.shape import broadcast_shapes
from symbackprop.graph.traverse import consumers, topo_order
from symbackprop.primitives import definition
from symbackprop.primitives.elementwise import body_variables

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


def fuse(outputs, max_body_ops=MAX_BODY_OPS, max_copied_ops=MAX_COPIED_OPS):
    """``outputs`` rebuilt with elementwise chains fused into single maps (same values).

    A map is composed into its reader when every reader of it is in that reader's fused
    body (one reader, or several that were fused together) and the body stays within
    ``max_body_ops``; a value read in several places of the body is copied into each while
    the copies add at most ``max_copied_ops`` operations (``simplify`` passes 0, so a
    derivation keeps its shared values named; kernels take small copies to save a buffer).
    Linear in the graph: fused bodies are planned as trees of the
    original bodies, and a sympy expression is built once per node that results; a map
    nothing is composed into stays the node it was, with no sympy work at all.

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
    fusion = _Fusion(uses, max_body_ops, max_copied_ops)
    for node in order:
        if node.is_leaf:
            fusion.new[node] = node
        elif node.op != "map":
            args = [fusion.built(a) for a in node.args]
            fusion.new[node] = node if all(a is b for a, b in zip(args, node.args)) else _rebuild(node, args)
        else:
            fusion.plan(node)
    return [fusion.built(o) for o in outputs]


class _Edge:
    """One operand place of a piece: a node (built, or an original map still pending and
    read lazily), a piece composed in, or a value copied in (a constant or a value of N).
    ``weight`` is how often the place occurs in the whole fused body."""

    __slots__ = ("node", "lazy", "piece", "value", "weight")

    def __init__(self, node=None, lazy=False, value=None, weight=1):
        self.node, self.lazy, self.piece, self.value, self.weight = node, lazy, None, value, weight


class _Piece:
    """An original map's body with one edge per variable."""

    __slots__ = ("original", "edges")

    def __init__(self, original, edges):
        self.original, self.edges = original, edges


class _Plan:
    """A fused body not yet made a node: a tree of pieces, the lazy edges still open (by
    the pending map they read), ``size`` (operations, each piece counted once per
    occurrence: no sympy count of a growing body) and whether it differs from the node."""

    __slots__ = ("root", "open", "size", "changed")

    def __init__(self, root, open_, size, changed):
        self.root, self.open, self.size, self.changed = root, open_, size, changed

    def edges(self):
        """Every edge of the tree (each once, though a piece may be reached twice)."""
        seen, out, stack = set(), [], [self.root]
        while stack:
            piece = stack.pop()
            for e in piece.edges:
                if id(e) in seen:
                    continue
                seen.add(id(e))
                out.append(e)
                if e.piece is not None:
                    stack.append(e.piece)
        return out


class _Fusion:
    """The state of one ``fuse`` pass: rebuilt nodes and planned bodies."""

    def __init__(self, uses, max_body_ops, max_copied_ops):
        self.uses, self.max_body_ops, self.max_copied_ops = uses, max_body_ops, max_copied_ops
        self.new = {}       # node -> its rebuilt node
        self.pending = {}   # map node -> _Plan

    def built(self, node):
        """``node`` rebuilt; a planned body becomes a node here (its pending operands first,
        without recursion: a chain of pending maps is thousands deep)."""
        stack = [node]
        while stack:
            top = stack[-1]
            if top in self.new:
                stack.pop()
                continue
            waiting = [e.node for e in self.pending[top].edges() if e.lazy and e.node not in self.new]
            if waiting:
                stack.extend(waiting)
                continue
            self.new[top] = self._materialise(top, self.pending.pop(top))
            stack.pop()
        return self.new[node]

    def _materialise(self, original, plan):
        edges = [e for e in plan.edges() if e.piece is None and e.value is None]
        changed = plan.changed
        for e in edges:
            if e.lazy:
                operand = self.new[e.node]
                if operand is not e.node:
                    changed = True
                    others = [x.node.shape for x in edges if x is not e]
                    operand = _direct_operand(operand, original.shape, others)
                    if operand.op == "map" and not operand.args:  # a value of N alone: its body is the value
                        e.value = operand.attrs.body.expr
                        continue
                e.node, e.lazy = operand, False
        if not changed:  # the node itself: canonical already, no sympy work
            return original
        # operands named as Map.apply will order them, so its renaming is the identity
        operands = sorted({e.node for e in edges if e.value is None}, key=lambda n: n.key)
        position = {n: i for i, n in enumerate(operands)}
        expr = _fused_expression(_tree_key(plan.root, position, {}))
        out = ops.apply(expr, {_FUSED[i]: n for i, n in enumerate(operands)}, where="fused map",
                        dtype=original.dtype)
        return out if out.shape == original.shape else ops.broadcast_to(out, original.shape)

    def plan(self, node):
        """Plan ``node``'s fused body: operands bound (pending maps lazily, the rest as built,
        broadcasts read directly), then pending maps all of whose readers are in the body
        composed in while it stays within the limits."""
        piece, open_, changed = self._piece(node, weight=1)
        size = _body_size(node.attrs.body)[0]
        plan = _Plan(piece, open_, size, changed)
        self._absorb(node, plan)
        self.pending[node] = plan

    def _piece(self, node, weight):
        body = node.attrs.body
        edges, open_, changed = [], {}, False
        for count, arg in zip(_body_size(body)[1], node.args):
            inner = self.pending.get(arg)
            if inner is not None and inner.root is not None and not inner.open and _constant(inner):
                edges.append(_Edge(value=_fused_expression(_tree_key(inner.root, {}, {}))))  # copied: other readers keep it
                changed = True
                continue
            if inner is not None:
                edge = _Edge(arg, lazy=True, weight=weight * count)
                open_.setdefault(arg, []).append(edge)
                edges.append(edge)
                continue
            operand = _direct_operand(self.new[arg], node.shape, [a.shape for a in node.args if a is not arg])
            changed = changed or operand is not arg
            if operand.op == "map" and not operand.args:
                edges.append(_Edge(value=operand.attrs.body.expr))
                continue
            edges.append(_Edge(operand, weight=weight * count))
        return _Piece(node, edges), open_, changed

    def _absorb(self, node, plan):
        grown = True
        while grown:
            grown = False
            for q, edges in list(plan.open.items()):
                inner = self.pending.get(q)
                weight = sum(e.weight for e in edges)
                if (inner is None or len(edges) != self.uses.get(q, 0) or q.shape != node.shape
                        or plan.size + weight * inner.size > self.max_body_ops
                        or (weight - 1) * inner.size > self.max_copied_ops
                        or _operands(plan, inner) > len(ARG)):
                    continue
                for e in inner.edges():    # its places now occur wherever q did
                    e.weight *= weight
                for e in edges:
                    e.piece, e.lazy, e.node = inner.root, False, None
                del plan.open[q]
                for r, more in inner.open.items():
                    plan.open.setdefault(r, []).extend(more)
                plan.size += weight * inner.size
                plan.changed = grown = True
                del self.pending[q]         # composed here: never a node of its own


def _operands(plan, inner):
    """How many distinct operands the body would read with ``inner`` composed in."""
    nodes = {e.node for p in (plan, inner) for e in p.edges() if e.piece is None and e.value is None}
    return len(nodes)


def _constant(plan):
    """True when the planned body reads no node (a constant, or a value of N alone)."""
    return all(e.value is not None or (e.piece is not None) for e in plan.edges())


#: the names of a fused body's operands, in Map.apply's order (f0, f1, ...)
_FUSED = tuple(sp.Symbol(f"f{i}", real=True) for i in range(len(ARG)))


def _tree_key(piece, position, memo):
    """A piece tree as nested tuples: each piece's body and, per variable, its operand's
    position, a copied value or the composed piece.  Trees of one shape (a chain or a deep
    network repeats a few) share one sympy expression (``_fused_expression``)."""
    key = id(piece)
    if key not in memo:
        places = []
        for e in piece.edges:
            if e.value is not None:
                places.append(("value", e.value))
            elif e.piece is not None:
                places.append(("piece", _tree_key(e.piece, position, memo)))
            else:
                places.append(("operand", position[e.node]))
        memo[key] = (piece.original.attrs.body, tuple(places))
    return memo[key]


@lru_cache(maxsize=1 << 13)
def _fused_expression(tree):
    """The sympy expression of a ``_tree_key`` tree, operand k named ``f{k}`` (made once per
    shape of tree: building it by ``xreplace`` was most of what fusing a chain cost)."""
    body, places = tree
    values = {}
    for var, (kind, what) in zip(body_variables(body), places):
        values[var] = what if kind == "value" else _fused_expression(what) if kind == "piece" else _FUSED[what]
    return body.expr.xreplace(values)


@lru_cache(maxsize=1 << 14)
def _body_size(body):
    """(operations in ``body``, occurrences of each of its variables): a composed operand
    counts once per occurrence."""
    counts = collections.Counter(e for e in sp.preorder_traversal(body.expr) if e.is_Symbol)
    return sp.count_ops(body.expr), tuple(counts[v] for v in body.variables)


def _rebuild(node, args):
    from symbackprop.graph.rewrite import rebuild
    return rebuild(node, args)
