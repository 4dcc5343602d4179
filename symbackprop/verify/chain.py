"""The chain rule over named quantities: ∂f/∂v the way backprop computes it.

Definitions are kept as named scalars (``z = w*x + b``, ``yhat = sigmoid(z)``, ...), so a
derivative comes out in those names, with forward values reused (``(yhat - y)*yhat*(1 -
yhat)*x``), and an intermediate ``v`` is naturally held independent: only the quantities
downstream of it are differentiated.

``Bodies`` maps each defined scalar symbol to its body (in other names), in an order where
every body only uses symbols defined before it.

>>> import sympy as sp
>>> w, x, z, yhat = sp.symbols("w x z yhat", real=True)
>>> from symbackprop.graph.scalar import sigmoid
>>> b = Bodies({z: w*x, yhat: sigmoid(z)})
>>> b.derivative(yhat, w)
x*yhat*(1 - yhat)
>>> b.derivative(yhat, z)
yhat*(1 - yhat)
"""

import sympy as sp

from symbackprop.graph import scalar


def partial(expr, s):
    """∂expr/∂s for one symbol, with PyTorch's convention at kinks (relu'(0) = 0).

    >>> x = sp.Symbol("x", real=True)
    >>> partial(sp.Max(x, 0), x)
    Heaviside(x, 0)
    >>> partial(x**2/2, x)
    x
    """
    if s not in expr.free_symbols:
        return sp.S.Zero
    # applied, not .expr: a derivative equal to s itself (d(y**2/2)/dy = y) is sympy's
    # IdentityFunction, Lambda(_x, _x), whose .expr is its own dummy _x, not s
    return scalar.derivative(sp.Lambda((s,), expr), 0)(s)


class Bodies:
    """Named scalar definitions, with dependency queries, the chain rule and folding."""

    def __init__(self, bodies=None):
        self.bodies = dict(bodies or {})
        self._ancestors = {}
        self._full = {}

    def add(self, sym, body):
        """Define ``sym = body`` (body may use symbols defined before)."""
        self.bodies[sym] = body
        self._full.clear()

    def __contains__(self, sym):
        return sym in self.bodies

    def ancestors(self, sym):
        """Every symbol (defined or input) that ``sym``'s value depends on.

        >>> a, b, c = sp.symbols("a b c")
        >>> sorted(map(str, Bodies({b: 2*a, c: b + 1}).ancestors(c)))
        ['a', 'b']
        """
        if sym in self._ancestors:
            return self._ancestors[sym]
        out = set()
        stack = [sym]
        while stack:     # iterative: long definition chains must not hit the recursion limit
            s = stack.pop()
            body = self.bodies.get(s)
            if body is None:
                continue
            for dep in body.free_symbols:
                if dep not in out:
                    out.add(dep)
                    stack.append(dep)
        self._ancestors[sym] = out
        return out

    def derivative(self, expr, v):
        """∂expr/∂v by the chain rule through the definitions downstream of ``v``.

        Defined symbols not downstream of ``v`` are constants; so are inputs other than v.
        """
        memo = {v: sp.S.One}
        order = [s for s in self.bodies if v in self.ancestors(s)]
        for s in order:           # topological: each body only uses earlier symbols
            memo[s] = self._total(self.bodies[s], memo)
        return self.fold(self._total(expr, memo))

    def _total(self, expr, memo):
        total = sp.S.Zero
        for s in expr.free_symbols:
            ds = memo.get(s)
            if ds is not None and ds != 0:
                total += partial(expr, s) * ds
        return total

    def fold(self, expr):
        """Write forward values back as their names: ``sigmoid(z)`` → ``yhat``.

        Only exact sub-expressions are replaced (``xreplace``), so folding never changes
        the value; numbers and bare symbols are never folded.
        """
        # derivatives are kept whole: folding g(x) into g inside d/dx g(x) would make it 0
        masked = {}

        def mask(d):
            key = sp.Dummy("masked")
            masked[key] = d
            return key

        expr = sp.sympify(expr).replace(lambda e: isinstance(e, (sp.Derivative, sp.Subs)),
                                        mask)
        for sym, body in self.bodies.items():
            if body.is_Atom or isinstance(body, sp.Number):
                continue
            expr = expr.xreplace({body: sym})
        keys = set(masked)
        while masked and expr.free_symbols & keys:     # masks nest: Subs(Derivative(...))
            expr = expr.xreplace(masked)
        return expr

    def insert_first_use(self, sym, body):
        """Define ``sym = body`` just before the first definition using ``body``, which
        from then on uses ``sym`` (a function's value becoming a named quantity).

        >>> x, y, g = sp.symbols("x y g")
        >>> b = Bodies({y: sp.Function("f")(sp.Function("g")(x))})
        >>> b.insert_first_use(g, sp.Function("g")(x)); b.bodies
        {g: g(x), y: f(g)}
        """
        new, placed = {}, False
        for s, b in self.bodies.items():
            if not placed and b.has(body):
                new[sym] = body
                placed = True
            new[s] = b.xreplace({body: sym}) if placed else b
        if not placed:
            new[sym] = body
        self.bodies = new
        self._ancestors.clear()
        self._full.clear()

    def expand(self, expr):
        """``expr`` with every defined name replaced by its value in the inputs.

        >>> a, b, c = sp.symbols("a b c")
        >>> Bodies({b: 2*a, c: b + 1}).expand(c**2)
        (2*a + 1)**2
        """
        if not self._full:
            for sym, body in self.bodies.items():
                self._full[sym] = body.xreplace(self._full)
        return expr.xreplace(self._full)
