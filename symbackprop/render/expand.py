"""``sb.expand(expr, sizes)``: per-element sympy expressions of a graph node for small sizes.

Every leaf element becomes a real sympy symbol named after the leaf and the element's
1-based indices, leaving out axes of size 1 and the batch axis when ``N = 1`` (so an input
``x`` of shape (N, 2) with N = 1 gives ``x_1, x_2``; a param ``W1`` of shape (2, 3) gives
``W1_11 … W1_23``; a scalar is its own name; an ``sb.nn`` layer's params use their formula
names, so ``0.weight`` gives ``W1_11 …``).  One-hot labels become indicator symbols
``y_1, y_2, …``.  The graph is simplified first, so σ' appears as ``σ(z)(1 − σ(z))``.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); w = sb.param("w", (2, 1)); y = sb.input("y", (None, 1))
>>> L = sb.mean((sb.sigmoid(x @ w) - y) ** 2) / 2
>>> e = expand(sb.grad(L, w), sizes={"N": 1})
>>> e.shape
(2, 1)
>>> e[0]
x_1*(1 - sigmoid(w_1*x_1 + w_2*x_2))*(-y + sigmoid(w_1*x_1 + w_2*x_2))*sigmoid(w_1*x_1 + w_2*x_2)
"""

import numpy as np
import sympy as sp

from symbackprop.errors import DerivationError
from symbackprop.graph.node import Expr
from symbackprop.graph.scalar import N, sigmoid, softplus
from symbackprop.graph.traverse import topo_order
from symbackprop.primitives import definition

#: the largest number of elements any one value may have
MAX_ELEMENTS = 256
#: the largest batch size
MAX_BATCH = 16
#: the largest total number of sympy operations in the result
MAX_OPS = 50_000


def expand(expr, sizes=None, simplify=True, closed_form=False):
    """The elements of ``expr`` as sympy expressions of its leaves' elements.

    ``sizes`` gives the batch size (``{"N": 1}``, the default); every other dimension is
    static in the graph.  Returns a sympy expression for a scalar, an ``ImmutableMatrix`` for
    1-D (a column) and 2-D values, a sympy ``Array`` above.  ``closed_form=True`` writes σ and
    softplus with exp and log.  Sizes whose values exceed :data:`MAX_ELEMENTS` elements, a
    batch above :data:`MAX_BATCH`, or results above :data:`MAX_OPS` operations are refused
    with a ``DerivationError`` naming the limit.
    """
    if not isinstance(expr, Expr):
        raise DerivationError(f"expand: expected a graph node, got {type(expr).__name__}")
    sizes = dict(sizes or {})
    unknown = set(sizes) - {"N"}
    if unknown:
        raise DerivationError(f"expand: unknown size name(s) {sorted(unknown)}; only the batch size 'N' is free "
                              "(every other dimension is fixed in the graph)")
    n = sizes.get("N", 1)
    if not isinstance(n, int) or n < 1:
        raise DerivationError(f"expand: N must be a positive int, got {n!r}")
    if n > MAX_BATCH:
        raise DerivationError(f"expand: batch size N = {n} is above the limit of {MAX_BATCH} "
                              "(symbackprop.render.expand.MAX_BATCH); per-element formulas are for small examples")
    node = expr
    if simplify:
        from symbackprop.render.formula import SIMPLIFY_SECONDS
        from symbackprop.simplify import simplify as simp
        (node,) = simp([expr], budget=SIMPLIFY_SECONDS)
    order = topo_order([node])
    for m in order:
        count = _count(m.shape, n)
        if count > MAX_ELEMENTS:
            raise DerivationError(
                f"expand: {m.describe()} has {count} elements with N = {n}, above the limit of {MAX_ELEMENTS} "
                "elements per value (symbackprop.render.expand.MAX_ELEMENTS); use smaller layers or batch")
    values = {}
    total = 0
    for k, m in enumerate(order, 1):
        values[m] = _value(m, [values[a] for a in m.args], n)
        # checked after every value: a value that reads its operand twice doubles the size,
        # so a deep graph stops here within a few values of the limit, never exponentially late
        total += sum(sp.count_ops(e) for e in np.ravel(values[m]) if isinstance(e, sp.Basic))
        if total > MAX_OPS:
            raise DerivationError(f"expand: the expressions exceed {MAX_OPS} operations "
                                  f"(symbackprop.render.expand.MAX_OPS) at value {k} of {len(order)} of the graph, "
                                  f"{m.describe()}; use a smaller network (str(expr) and sb.explain print any size)")
    out = values[node]
    from symbackprop.simplify.bodies import simplify_expr
    out = np.vectorize(lambda e: _finish(sp.sympify(e), closed_form, simplify_expr), otypes=[object])(out)
    if out.ndim == 0:
        return out.item()
    if out.ndim == 1:
        return sp.ImmutableMatrix(out.tolist())
    if out.ndim == 2:
        return sp.ImmutableMatrix(out.tolist())
    return sp.ImmutableDenseNDimArray(out.tolist())


def _finish(e, closed_form, simplify_expr):
    e = simplify_expr(e)
    if closed_form:
        e = e.rewrite(sigmoid, sp.exp).replace(sigmoid, lambda a: 1 / (1 + sp.exp(-a)))
        e = e.replace(softplus, lambda a: sp.log(1 + sp.exp(a)))
    return e


def _dims(shape, n):
    return tuple(int(sp.sympify(d).subs(N, n)) for d in shape)


def _count(shape, n):
    return int(np.prod(_dims(shape, n), dtype=np.int64)) if shape else 1


def symbols_for(node, n):
    """The object array of element symbols of a leaf ``node`` with batch size ``n``."""
    from symbackprop.render.names import display_name, layer_tag
    dims = _dims(node.shape, n)
    name = node.name
    if layer_tag(node) is not None:  # sb.nn's "0.weight" reads as W1 (W₁), as in the formulas
        shown = display_name(node)
        name = shown.base + shown.sub
    keep = [i for i, (d, s) in enumerate(zip(dims, node.shape)) if d != 1]
    out = np.empty(dims, dtype=object)
    for idx in np.ndindex(*dims) if dims else [()]:
        parts = [idx[i] + 1 for i in keep]
        if not parts:
            label = name
        elif all(p < 10 for p in parts):
            label = f"{name}_{''.join(map(str, parts))}"
        else:
            label = f"{name}_{','.join(map(str, parts))}"
        out[idx] = sp.Symbol(label, real=True)
    return out


def _value(m, args, n):
    return definition(m).expand(m, args, n)
