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
from symbackprop.graph.shape import broadcast_shapes
from symbackprop.graph.traverse import consumers, topo_order
from symbackprop.primitives import definition

#: fused bodies stop growing at this many sympy operations, so simplification stays cheap
MAX_BODY_OPS = 120


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

    Linear in the graph: a fused body is composed once from its pieces' bodies and becomes
    a graph node only where something that is not fused into it reads it, so a long chain
    makes one node per ``max_body_ops`` operations, not one growing node per link.

    >>> import symbackprop as sb
    >>> x = sb.input("x", (3,))
    >>> e = sb.exp(x)
    >>> [n.op for n in fuse([e * 2 + e])[0].args]   # e is read twice, so it stays a node
    ['map']
    """
    order = topo_order(outputs)
    uses = consumers(order)
    for o in outputs:
        uses[o] = uses.get(o, 0) + 1
    new = {}       # node -> its rebuilt node
    pending = {}   # map node -> its fused body, not (yet) a node
    fresh = (sp.Symbol(f"f{k}", real=True) for k in itertools.count())

    def built(node):
        if node not in new:  # a pending body becomes a node where something reads it whole
            new[node] = pending.pop(node).node(node)
        return new[node]

    for node in order:
        if node.is_leaf:
            new[node] = node
        elif node.op != "map":
            args = [built(a) for a in node.args]
            new[node] = node if all(a is b for a, b in zip(args, node.args)) else _rebuild(node, args)
        else:
            pending[node] = _compose(node, pending, built, uses, max_body_ops, fresh)
    return [built(o) for o in outputs]


class _Pending:
    """A fused body not yet made a node: ``expr`` over fresh symbols bound to nodes by
    ``bindings``, and ``size``, its operation count as composed (no sympy count of the
    growing body: each piece's body is counted once)."""

    __slots__ = ("expr", "bindings", "size")

    def __init__(self, expr, bindings, size):
        self.expr, self.bindings, self.size = expr, bindings, size

    def node(self, original):
        out = ops.apply(self.expr, self.bindings, where="fused map", dtype=original.dtype)
        return out if out.shape == original.shape else ops.broadcast_to(out, original.shape)


@lru_cache(maxsize=1 << 14)
def _body_size(body):
    """(operations in ``body``, occurrences of each of its variables): a composed operand
    counts once per occurrence."""
    counts = collections.Counter(e for e in sp.preorder_traversal(body.expr) if e.is_Symbol)
    return sp.count_ops(body.expr), tuple(counts[v] for v in body.variables)


def _rebuild(node, args):
    from symbackprop.graph.rewrite import rebuild
    return rebuild(node, args)


def _compose(node, pending, built, uses, max_body_ops, fresh):
    """``node``'s fused body: each operand that is a pending map of the same shape read only
    here is composed in while the body stays within ``max_body_ops`` (a value of the batch
    size alone always is); other operands are bound as nodes, broadcasts read directly."""
    body = node.attrs.body
    size, occurrences = _body_size(body)
    replace, bindings = {}, {}
    for var, count, arg in zip(body.variables, occurrences, node.args):
        inner = pending.get(arg)
        if inner is not None and not inner.bindings:
            replace[var] = inner.expr   # a constant or a value of N: copied, other readers keep it
            continue
        if (inner is not None and uses.get(arg, 0) == 1 and arg.shape == node.shape
                and size + count * inner.size <= max_body_ops):
            del pending[arg]            # composed here: never a node of its own
            replace[var] = inner.expr
            bindings.update(inner.bindings)
            size += count * inner.size
            continue
        operand = _direct_operand(built(arg), node.shape, [a.shape for a in node.args if a is not arg])
        if operand.op == "map" and not operand.args:  # a value of N alone: its body is the value
            replace[var] = operand.attrs.body.expr
            continue
        sym = next(fresh)
        replace[var] = sym
        bindings[sym] = operand
    return _Pending(body.expr.xreplace(replace), bindings, size)
