"""Sums over the batch written as a textbook writes them, for explanations of normalization
layers: what does not vary along the summed axes comes out of Σ, and the identities a
normalization layer makes true are used (Σₙ z = N·μ for μ the batch mean of z, Σₙ x̂ = 0, and
z − μ = x̂·√(σ² + ε), the definition of x̂ read backwards).

The result computes the same values (``tests/test_modules.py`` checks it on numbers); it is
only for formulas: kernels keep the graph ``simplify`` made.  It changes nothing in a graph
without a normalized value x̂.
"""

import numpy as np
import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.rewrite import rebuild
from symbackprop.graph.scalar import N
from symbackprop.graph.traverse import topo_order
from symbackprop.render.names import layer_tag


def _unshaped(node):
    return node.args[0] if node.op == "reshape" else node


def _mean_of(node):
    """(z, axes) when ``node`` is the mean of z over axes (a sum times 1/count, either maybe
    reshaped to broadcast), else None."""
    node = _unshaped(node)
    if node.op != "map" or len(node.args) != 1 or _unshaped(node.args[0]).op != "reduce":
        return None
    r = _unshaped(node.args[0])
    if r.attrs.kind != "sum":
        return None
    count = 1
    for a in r.attrs.axes:
        count = count * r.args[0].shape[a]
    v = node.attrs.body.variables[0]
    if sp.simplify(node.attrs.body.expr - v / count) != 0:
        return None
    return r.args[0], r.attrs.axes


class _Normalized:
    """One x̂ = (z − μ)/√(σ² + ε) node: its operands, and z written with x̂."""

    def __init__(self, node):
        self.node = node
        body = node.attrs.body
        self.ok = False
        roles = None  # (z, μ, σ²) positions: operands may come in any order
        for i, j, k in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
            mean = _mean_of(node.args[j])
            if mean is not None and mean[0] is node.args[i]:
                roles = (i, j, k)
                break
        if roles is None:
            return
        self.z, self.mu, self.var = (node.args[r] for r in roles)
        u, v, w = (body.variables[r] for r in roles)
        x = sp.Symbol("xhat", real=True)
        floats = {f: sp.Symbol(f"eps{i}", positive=True) for i, f in enumerate(body.expr.atoms(sp.Float))}
        back = {e: f for f, e in floats.items()}
        expr = body.expr.xreplace(floats)  # ε as a symbol while solving: sympy keeps √(σ² + ε) whole
        solved = sp.solve(sp.Eq(expr, x), u)
        roots = list({sp.sqrt(e.base) for e in expr.atoms(sp.Pow) if abs(e.exp) == sp.S.Half and e.base.has(w)})
        self.ok = len(solved) == 1 and len(roots) == 1 and _mean_of(self.mu) is not None and \
            _mean_of(self.mu)[0] is self.z
        if self.ok:
            self.axes = _mean_of(self.mu)[1]
            # σ_ε = √(σ² + ε) as an operand of its own: z = μ + x̂·σ_ε and σ² = σ_ε² − ε
            s = sp.Symbol("s", positive=True)
            self.root = ops.apply(roots[0].xreplace(back), {w: self.var}, where="explain")
            self.var_of = sp.Lambda(s, sp.solve(sp.Eq(roots[0], s), w)[0].xreplace(back))
            self.z_of = sp.Lambda((x, v, s), solved[0].xreplace({roots[0]: s}).xreplace(back))
            self.ok = not self.z_of.expr.has(w)


def _strip(shape):
    """A shape without its leading 1s (what broadcasting sees)."""
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _constant_along(node, shape, axes):
    """Whether ``node``, broadcast against ``shape``, is the same along ``axes``."""
    offset = len(shape) - node.ndim
    return all(a < offset or node.shape[a - offset] == 1 for a in axes)


class _Collapser:
    def __init__(self, xhats, named, stop):
        self.xhats = [x for x in (_Normalized(n) for n in xhats) if x.ok]
        self.named = set(named)
        self.stop = set(named) | set(stop)
        self.counter = 0

    def inline(self, node, bind, top=True):
        """``node``'s value as a sympy expression of symbols bound to nodes (unnamed maps inlined)."""
        if node.op == "map" and (top or node not in self.stop):
            body = node.attrs.body
            return body.expr.xreplace({v: self.inline(a, bind, False) for v, a in zip(body.variables, node.args)})
        if node.op == "reshape" and _strip(node.shape) == _strip(node.args[0].shape) and node not in self.stop:
            return self.inline(node.args[0], bind, top)  # (C,) as (1, C): the same under broadcasting
        if node.op == "reshape" and node.args[0].op == "const" and np.unique(node.args[0].attrs.value.array).size == 1:
            return self.inline(node.args[0], bind, top)  # a uniform constant in any shape
        inner = node.args[0] if node.op == "reshape" else None
        if inner is not None and inner.op == "map" and inner not in self.stop and \
                all(a.shape == inner.shape or a.ndim == 0 for a in inner.args):
            # (C,) → (C, 1, 1) of a map whose operands all have its shape: the map of the reshaped operands
            body = inner.attrs.body
            return body.expr.xreplace({v: self.inline(ops.reshape(a, node.shape) if a.ndim and a.op != "const" else a, bind, False)
                                       for v, a in zip(body.variables, inner.args)})
        if node.op == "const":
            values = np.unique(np.asarray(node.attrs.value.array))
            if values.size == 1:
                return sp.Float(float(values[0])) if values[0] != 0 else sp.S.Zero
        return self.symbol(bind, node)

    def symbol(self, bind, node, positive=False):
        for s, n in bind.items():
            if n is node:
                return s
        s = sp.Symbol(f"v{self.counter}", real=True, positive=positive or None)
        self.counter += 1
        bind[s] = node
        return s

    def with_xhat(self, expr, bind):
        """z replaced by μ + x̂·σ_ε where z and μ are operands, and σ² by σ_ε² − ε."""
        for xh in self.xhats:
            nodes = list(bind.values())
            has = [any(n is m for n in nodes) for m in (xh.z, xh.mu, xh.var)]
            if not (has[0] and has[1]) and not has[2]:
                continue
            root = self.symbol(bind, xh.root, positive=True)
            if has[2]:
                expr = expr.xreplace({self.symbol(bind, xh.var): xh.var_of(root)})
            if has[0] and has[1]:
                z, mu = self.symbol(bind, xh.z), self.symbol(bind, xh.mu)
                expr = expr.xreplace({z: xh.z_of(self.symbol(bind, xh.node), mu, root)})
        return expr

    def map_node(self, node):
        """A map with z written through x̂ (or the node itself when nothing changes)."""
        if not self.xhats or node in self.named:
            return node
        bind = {}
        expr = self.inline(node, bind)
        new = self.with_xhat(expr, bind)
        if new == expr:
            return node
        new = sp.expand(new)
        return self.build(new, bind, node)

    def sum_node(self, node):
        """Σ over axes with the constant factors of each term taken out."""
        m, axes = node.args[0], node.attrs.axes
        if m.op != "map" or m in self.stop:
            return node  # Σₙ δ: read by name
        bind = {}
        expr = sp.expand(self.with_xhat(self.inline(m, bind), bind))
        const = {s for s, n in bind.items() if _constant_along(n, m.shape, axes)} | {N}
        groups = {}
        for term in sp.Add.make_args(expr):
            c, v = [], []
            for f in sp.Mul.make_args(term):
                (c if f.free_symbols <= const else v).append(f)
            key = sp.Mul(*v)
            groups[key] = groups.get(key, 0) + sp.Mul(*c)
        count = 1
        for a in axes:
            count = count * m.shape[a]
        total = sp.S.Zero
        for v, c in groups.items():
            if v == 1:
                total += count * c
                continue
            if v.is_Symbol:
                n = bind[v]
                if any(xh.node is n and xh.axes == axes for xh in self.xhats):
                    continue  # Σ x̂ = 0
                mean = next((xh.mu for xh in self.xhats if xh.z is n and xh.axes == axes), None)
                if mean is not None:
                    total += count * c * self.symbol(bind, mean)  # Σ z = N·μ
                    continue
            inner = {s: bind[s] for s in v.free_symbols if s in bind}
            s = self.symbol(bind, ops.reduce("sum", ops.apply(v, inner, where="explain"), axes))
            total += c * s
        # operands constant along the axes, in the sum's shape: (N, 1) read as (N,), (C, 1, 1) as (C,)
        shaped = {}
        for sym in total.free_symbols:
            n = bind.get(sym)
            if n is None or n.op == "reduce":
                continue
            full = (1,) * (m.ndim - n.ndim) + tuple(n.shape)
            kept = _strip(tuple(d for i, d in enumerate(full) if i not in axes))
            if kept != _strip(n.shape):
                shaped[sym] = ops.reshape(n, kept)
        return self.build(total, {**bind, **shaped}, node)

    def tidy(self, node):
        """A rewritten output as one map over named values and sums, in its shortest form
        (sympy's factor or simplify, when either is shorter)."""
        if node.op != "map":
            return node
        bind = {}
        expr = self.with_xhat(self.inline(node, bind), bind)
        forms = [expr]
        for f in (sp.factor, sp.simplify):
            try:
                forms.append(f(expr))
            except Exception:  # sympy gives up on some bodies: keep the others
                pass
        best = min(forms, key=lambda e: (sp.count_ops(e), len(str(e))))
        return self.build(best, bind, node)

    @staticmethod
    def build(expr, bind, like):
        used = {s: n for s, n in bind.items() if s in expr.free_symbols}
        if not used:
            if expr == 0 and all(isinstance(d, int) for d in like.shape):  # Σₙ x̂ = 0, Σₙ (z − μ) = 0
                return ops.const(np.zeros(like.shape), dtype=like.dtype)
            return like
        try:
            out = ops.apply(expr, used, where="explain", dtype=like.dtype)
        except Exception:  # a shape that does not line up: keep the node as it was
            return like
        if out.shape != like.shape:
            return like
        return out


def collapse_sums(outputs, named, stop=(), keep=()):
    """``outputs`` with sums over the batch rewritten (see the module doc); ``named``: the
    forward pass's named nodes (x̂ among them), ``stop``: nodes formulas read by name,
    ``keep``: nodes (the loss) whose graphs stay as they are."""
    xhats = [n for n in named if n.op == "map" and len(n.args) == 3 and (layer_tag(n) or ("",))[0] == "xhat"]
    if not xhats:
        return list(outputs)
    c = _Collapser(xhats, named, stop)
    if not c.xhats:
        return list(outputs)
    forward = set(topo_order(list(named) + list(keep)))  # the forward pass stays as it was named
    wanted = set(outputs)
    new = {}
    for node in topo_order(outputs):
        if node.is_leaf or node in forward:
            new[node] = node
            continue
        args = [new[a] for a in node.args]
        out = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
        if out.op == "reduce" and out.attrs.kind == "sum":
            out = c.sum_node(out)
        elif out.op == "map":
            out = c.map_node(out)
        if node in wanted and out is not node:
            out = c.tidy(out)
        if node in c.stop:
            c.stop.add(out)
        new[node] = out
    return [new[o] for o in outputs]
