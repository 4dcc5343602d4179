"""Graph rewrites: one topological sweep that rebuilds each node through a few local rules.

Rules (each value-preserving):

- transpose of a 2-D product → the swapped product, ``(aᵀ b)ᵀ = bᵀ a`` (transpose of a
  transpose is already one transpose by construction in ``ops.transpose``);
- a map operand that is a size-1 constant (possibly broadcast or reshaped) folds into the
  body, so ``1·x`` and ``0·x`` disappear by sympy's arithmetic;
- a product with an all-zero constant is zeros;
- ``sum(broadcast_to(x))`` over only broadcast axes is ``x · count``;
- a node whose operands are all constants is evaluated (constant folding);
- stabilising body rewrites (``symbackprop.simplify.stable``).

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
from symbackprop.simplify.stable import stabilise

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


def scalar_constant(node):
    """The number a node holds when it is a size-1 constant seen through broadcasts and
    reshapes, else None.

    >>> scalar_constant(ops.broadcast_to(ops.const(2.0), (3,)))
    2.0
    """
    while node.op in ("broadcast_to", "reshape"):
        node = node.args[0]
    if node.op == "const" and node.attrs[0].array.size == 1:
        return node.attrs[0].array.item()
    return None


def scalar_value(node):
    """A size-1 constant or a function of the batch size alone (``1/N``), seen through
    broadcasts and reshapes, as a sympy number or expression; else None.

    >>> scalar_value(ops.broadcast_to(ops.mean(ops.input("t", (None,))) * 0 + 1, (2,)))
    1
    """
    while node.op in ("broadcast_to", "reshape"):
        node = node.args[0]
    if node.op == "const" and node.attrs[0].array.size == 1 and node.dtype != "int64":
        value = node.attrs[0].array.item()
        return sp.Integer(int(value)) if float(value).is_integer() else sp.Float(value)
    if node.op == "map" and not node.args:
        return node.attrs[0].expr
    return None


def _is_zero(node):
    if node.op == "const":
        return not np.any(node.attrs[0].array)
    value = scalar_constant(node)
    return value is not None and value == 0


def _fit(node, shape):
    return node if node.shape == shape else ops.broadcast_to(node, shape)


def _rule(node, args):
    op = node.op
    if op == "map":
        return _map(node, args)
    if op == "transpose" and node.ndim == 2 and args[0].op == "matmul":
        a, b = args[0].args
        return ops.matmul(ops.transpose(b), ops.transpose(a))
    if op == "matmul" and (_is_zero(args[0]) or _is_zero(args[1])):
        return ops.broadcast_to(ops.const(np.zeros((), dtype=node.dtype)), node.shape)
    if op == "reduce" and node.attrs[0] == "sum":
        out = _sum_of_broadcast(node, args[0])
        if out is not None:
            return out
    out = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
    return _fold(out)


def _map(node, args):
    body = node.attrs[0]
    expr = stabilise(body.expr)
    bindings = {}
    subs = {}
    for var, arg in zip(body.variables, args):
        value = scalar_value(arg)
        if value is not None:
            subs[var] = value
        else:
            bindings[var] = arg
    if subs:
        expr = expr.xreplace(subs)
    expr, bindings = _stabilise_through_operands(expr, bindings)
    if not bindings:
        out = ops.apply(expr, {}, where="simplify", dtype=node.dtype) if expr.has(N) else ops.const(
            np.array(float(expr), dtype=node.dtype))
    else:
        out = ops.apply(expr, bindings, where="simplify", dtype=node.dtype)
    if out.dtype != node.dtype and out.op == "const":
        out = ops.const(out.attrs[0].array.astype(node.dtype))
    return _fold(_fit(out, node.shape))


def _stabilise_through_operands(expr, bindings):
    """``log(v)`` where ``v`` is an operand map ``σ(z)``, ``1 + exp(z)``, ... : the stable form
    in ``z`` (the operand map stays where others read it)."""
    if not expr.has(sp.log):
        return expr, bindings
    for log in sorted(expr.atoms(sp.log), key=sp.default_sort_key):
        var = log.args[0]
        arg = bindings.get(var)
        if arg is None or arg.op != "map" or not arg.args:
            continue
        inner = arg.attrs[0]
        fresh = {v: sp.Dummy(f"s{i}", real=True) for i, v in enumerate(inner.variables)}
        stable = stabilise(sp.log(inner.expr.xreplace(fresh)))
        if stable.has(sp.log) or stable == sp.log(inner.expr.xreplace(fresh)):
            continue
        expr = expr.xreplace({log: stable})
        bindings = dict(bindings)
        bindings.update({fresh[v]: a for v, a in zip(inner.variables, arg.args)})
        if var not in expr.free_symbols:
            del bindings[var]
    return expr, bindings


def _sum_of_broadcast(node, arg):
    """``sum(broadcast_to(x), axes)`` with only broadcast axes summed: ``x · count``."""
    if arg.op != "broadcast_to":
        if _is_zero(arg):
            return ops.broadcast_to(ops.const(np.zeros((), dtype=node.dtype)), node.shape)
        return None
    inner, shape = arg.args[0], arg.shape
    axes = node.attrs[1]
    lead = len(shape) - inner.ndim
    aligned = (1,) * lead + tuple(inner.shape)
    if not all(aligned[a] == 1 and shape[a] != 1 for a in axes):
        return None
    count = size(tuple(shape[a] for a in axes))
    kept = tuple(d for i, d in enumerate(aligned) if i not in axes)
    x = ops.reshape(inner, kept)
    u = sp.Symbol("u", real=True)
    return _fit(ops.apply(u * count, {u: x}, where="simplify", dtype=node.dtype), node.shape)


def _fold(node):
    """Evaluate a node whose operands are all constants (no batch size involved)."""
    if node.is_leaf or not node.args or not all(a.op == "const" for a in node.args):
        return node
    if node.op in ("broadcast_to", "reshape"):  # layout of a literal: nothing to compute
        return node
    if any(isinstance(d, sp.Basic) for d in node.shape) or size(node.shape) > MAX_FOLD:
        return node
    if node.op == "map" and node.attrs[0].expr.has(N):
        return node
    (value,) = evaluate([node], {})
    return ops.const(np.asarray(value, dtype=node.dtype).copy(), dtype=node.dtype)
