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
    new = {}
    for node in order:
        if node.is_leaf:
            new[node] = node
            continue
        args = [new[a] for a in node.args]
        if node.op != "map":
            new[node] = node if all(a is b for a, b in zip(args, node.args)) else _rebuild(node, args)
            continue
        new[node] = _fuse_map(node, args, uses, max_body_ops)
    return [new[o] for o in outputs]


def _rebuild(node, args):
    from symbackprop.graph.rewrite import rebuild
    return rebuild(node, args)


def _fuse_map(node, args, uses, max_body_ops):
    body = node.attrs.body
    expr = body.expr
    bindings = {}
    counter = iter(range(10 ** 6))
    for var, old_arg, arg in zip(body.variables, node.args, args):
        others = [a.shape for a in args if a is not arg]
        arg = _direct_operand(arg, node.shape, others)
        inline = (arg.op == "map" and (not arg.args or (uses.get(old_arg, 0) == 1 and arg.shape == node.shape))
                  and sp.count_ops(arg.attrs.body.expr) + sp.count_ops(expr) <= max_body_ops)
        if inline:
            inner = arg.attrs.body
            fresh = {v: sp.Symbol(f"f{next(counter)}", real=True) for v in inner.variables}
            expr = expr.xreplace({var: inner.expr.xreplace(fresh)})
            for v, a in zip(inner.variables, arg.args):
                bindings[fresh[v]] = a
        else:
            sym = sp.Symbol(f"f{next(counter)}", real=True)
            expr = expr.xreplace({var: sym})
            bindings[sym] = arg
    out = ops.apply(expr, bindings, where="fused map", dtype=node.dtype)
    if out.shape != node.shape:
        out = ops.broadcast_to(out, node.shape)
    return out
