"""sympy scalar body -> numba source, in forms LLVM vectorises.

exp, tanh, sigmoid and softplus print as the branch-free functions of ``mathfns``;
small integer powers as products; Heaviside, sign and Piecewise as conditional
expressions (selects in LLVM).  ``body_lines`` also splits a body by common
subexpressions and hoists the parts that do not change inside the loop.

Bodies are printed for a dtype.  In float32 every literal is a ``np.float32`` (numba, unlike
numpy, promotes ``float32 * 0.5`` to float64) and the float32 math functions are called,
so a float32 loop computes in float32 only: twice the SIMD lanes, no conversions.

>>> import sympy as sp
>>> x = sp.Symbol("x0", real=True)
>>> print_expr(sp.tanh(x) ** 2 + 1, {x: "a[i]"})
'1.0 + ftanh(a[i])*ftanh(a[i])'
>>> print_expr(sp.tanh(x) / 2, {x: "a[i]"}, "float32")
'np.float32(0.5)*ftanh32(a[i])'
"""

import sympy as sp

from codegen.bodies import split_body

#: sympy function -> numba source function (numpy ufuncs on scalars are libm calls)
FUNCTIONS = {
    sp.exp: "fexp", sp.tanh: "ftanh", sp.log: "np.log", sp.sin: "np.sin", sp.cos: "np.cos",
    sp.tan: "np.tan", sp.atan: "np.arctan", sp.asin: "np.arcsin", sp.acos: "np.arccos",
    sp.sinh: "np.sinh", sp.cosh: "np.cosh", sp.asinh: "np.arcsinh", sp.acosh: "np.arccosh",
    sp.atanh: "np.arctanh", sp.erf: "math.erf", sp.erfc: "math.erfc", sp.floor: "np.floor",
    sp.ceiling: "np.ceil", sp.Abs: "abs",
}
#: named functions of symbackprop's scalar module, by class name
NAMED = {"sigmoid": "fsigmoid", "softplus": "fsoftplus"}
#: what float32 bodies call instead (the rest, numpy ufuncs and abs, keep float32 as they are)
FLOAT32 = {"fexp": "fexp32", "ftanh": "ftanh32", "fsigmoid": "fsigmoid32", "fsoftplus": "fsoftplus32",
           "fsign": "fsign32", "fheaviside": "fheaviside32"}

_RELATIONS = {sp.Eq: "==", sp.Ne: "!=", sp.Lt: "<", sp.Le: "<=", sp.Gt: ">", sp.Ge: ">="}


class UnsupportedExpression(ValueError):
    """A body uses something the numba printer has no translation for."""


def literal(value, dtype="float64"):
    """A float literal of ``dtype``: a Python float for float64, ``np.float32(...)`` otherwise.

    >>> literal(-0.5), literal(-0.5, "float32"), literal(float("inf"), "float32")
    ('(-0.5)', 'np.float32(-0.5)', 'np.float32(np.inf)')
    """
    value = float(value)
    if value != value:
        text = "np.nan"
    elif value in (float("inf"), float("-inf")):
        text = "np.inf" if value > 0 else "-np.inf"
    else:
        text = repr(value)
    if dtype == "float32":
        return f"np.float32({text})"
    return f"({text})" if text.startswith("-") else text


def print_expr(expr, names, dtype="float64"):
    """numba source for ``expr`` with each symbol printed as ``names[symbol]``, computing in
    ``dtype`` when the symbols hold that dtype.  Printed from the tree with Python's operator
    precedence: a child is parenthesised exactly when its operator binds less tightly than
    its place needs, so no grouping of the tree can be lost.

    >>> a, b = sp.symbols("a b", real=True)
    >>> print_expr(a / b**2, {a: "a", b: "b"})
    'a/(b*b)'
    >>> print_expr(-(a + b) ** 3, {a: "a", b: "b"})
    '-((a + b)*(a + b)*(a + b))'
    """
    return _Printer(names, dtype).p(expr)


# Python's binding strengths, loosest first (the language reference's precedence table)
COND, OR, AND, NOT, CMP, ADD, MUL, UNARY, POW, ATOM = range(10)


class _Printer:
    def __init__(self, names, dtype="float64"):
        self.names = names
        self.dtype = dtype

    def p(self, e):
        """Source of ``e`` that stands alone (any binding strength)."""
        return self.tree(e)[0]

    def at(self, e, strength):
        """Source of ``e`` for a place that needs at least ``strength``: parenthesised if weaker."""
        text, own = self.tree(e)
        return text if own >= strength else f"({text})"

    def num(self, value):
        return literal(value, self.dtype), ATOM  # a negative literal comes parenthesised

    def call(self, fn, *args):
        if self.dtype == "float32":
            fn = FLOAT32.get(fn, fn)
        return f"{fn}({', '.join(self.p(a) for a in args)})", ATOM

    def tree(self, e):
        """(source, binding strength of its outermost operator)."""
        if e.is_Symbol:
            try:
                return self.names[e], ATOM
            except KeyError:
                raise UnsupportedExpression(f"symbol {e} is bound to nothing") from None
        if e is sp.true or e is sp.false:
            return str(bool(e)), ATOM
        if e.is_Number or e in (sp.pi, sp.E, sp.oo, -sp.oo, sp.nan, sp.zoo) or e.is_NumberSymbol:
            return self.num(float("nan") if e is sp.zoo else e)
        if e.is_Add:
            # a sum of n terms is n − 1 left-to-right additions; each term is an operand
            first, *rest = e.args
            text = self.at(first, ADD)
            for term in rest:  # a − b is exactly a + (−b) in floating point: print the readable one
                if term.as_coeff_Mul()[0].is_negative:
                    text += f" - {self.at(-term, ADD + 1)}"
                else:
                    text += f" + {self.at(term, ADD + 1)}"
            return text, ADD
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.pow(e.base, e.exp)
        if isinstance(e, sp.Piecewise):
            return self.piecewise(e.args)
        if isinstance(e, sp.Heaviside):
            return self.call("fheaviside", e.args[0], e.args[1] if len(e.args) > 1 else sp.S.Half)
        if isinstance(e, sp.sign):
            return self.call("fsign", e.args[0])
        if isinstance(e, (sp.Max, sp.Min)):
            fn = "fmaximum" if isinstance(e, sp.Max) else "fminimum"  # NaN-propagating, as numpy's
            out = self.p(e.args[-1])
            for arg in reversed(e.args[:-1]):
                out = f"{fn}({self.p(arg)}, {out})"
            return out, ATOM
        if type(e) in _RELATIONS:
            # comparisons chain in Python (a < b < c): an operand that is itself one is parenthesised
            return f"{self.at(e.lhs, CMP + 1)} {_RELATIONS[type(e)]} {self.at(e.rhs, CMP + 1)}", CMP
        if isinstance(e, sp.And):
            return " and ".join(self.at(a, AND + 1) for a in e.args), AND
        if isinstance(e, sp.Or):
            return " or ".join(self.at(a, OR + 1) for a in e.args), OR
        if isinstance(e, sp.ITE):  # a boolean if-then-else (sympy's rewrite of some piecewise conditions)
            cond, then, other = e.args
            return f"{self.at(then, OR)} if {self.at(cond, OR)} else {self.p(other)}", COND
        if isinstance(e, sp.Not):
            return f"not {self.at(e.args[0], NOT)}", NOT
        if isinstance(e, sp.Function):
            name = NAMED.get(type(e).__name__) or FUNCTIONS.get(type(e))
            if name is None:
                raise UnsupportedExpression(f"no numba translation for {type(e).__name__} in {e}")
            return self.call(name, *e.args)
        raise UnsupportedExpression(f"no numba translation for {e!r}")

    def mul(self, e):
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_Number and f.exp < 0:
                den.append(self.pow(f.base, -f.exp))
            else:
                num.append(self.tree(f))
        negate = coeff == -1
        if coeff != 1 and not negate:
            num.insert(0, self.num(coeff))
        if not num:
            num = [self.num(1)]
        # left to right: the first factor may itself be a product, the later ones bind tighter
        text = "*".join([_operand(*num[0], MUL)] + [_operand(t, s, MUL + 1) for t, s in num[1:]])
        strength = MUL if len(num) > 1 else num[0][1]
        if den:
            divisor = den[0] if len(den) == 1 else ("*".join(_operand(t, s, MUL + 1) for t, s in den), MUL)
            text, strength = f"{_operand(text, strength, MUL)}/{_operand(*divisor, MUL + 1)}", MUL
        if negate:
            return f"-{_operand(text, strength, POW)}", UNARY
        return text, strength

    def pow(self, base, exp):
        """(source, strength) of base**exp: small integer powers as products, ½ as sqrt."""
        b, strength = self.tree(base)
        if exp.is_Integer and abs(int(exp)) <= 4:
            n = int(exp)
            if n == 0:
                return self.num(1)
            if n == 1:
                return b, strength
            product = ("*".join([_operand(b, strength, MUL + 1)] * abs(n)), MUL) if abs(n) > 1 else (b, strength)
            if n > 0:
                return product
            return f"{self.num(1)[0]}/{_operand(*product, MUL + 1)}", MUL
        if exp == sp.S.Half:
            return self.call("np.sqrt", base)
        if exp == -sp.S.Half:
            return f"{self.num(1)[0]}/{self.call('np.sqrt', base)[0]}", MUL
        # ** binds tighter than a unary minus on its left and groups to the right
        return f"{_operand(b, strength, ATOM)} ** {self.at(exp, UNARY)}", POW

    def piecewise(self, pieces):
        (value, cond), rest = pieces[0], pieces[1:]
        if cond is sp.true or not rest:
            return self.tree(value)
        # a conditional expression is the loosest form: its condition and branches need no
        # parentheses except a nested conditional in the condition
        tail = self.piecewise(rest)[0]
        return f"{self.at(value, OR)} if {self.at(cond, OR)} else {tail}", COND


def _operand(text, strength, needed):
    """``text`` parenthesised when its binding ``strength`` is below what its place ``needed``."""
    return text if strength >= needed else f"({text})"


def _float32(text):
    """``np.float32(text)``, without doubling the parentheses of a parenthesised ``text``."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and i < len(text) - 1:
            break  # the first group closes before the end: not one parenthesised group
    else:
        if text.startswith("("):
            text = text[1:-1]
    return f"np.float32({text})"


def body_lines(expr, names, invariant, prefix, dtype="float64", wide=None):
    """Split ``expr`` by common subexpressions into (hoisted lines, loop lines, result).

    Subexpressions whose symbols are all in ``invariant`` (scalars, hyperparameters) are
    computed once before the loop; locals are named ``{prefix}{k}`` (``codegen.bodies``).

    >>> x, s = sp.symbols("x0 x1", real=True)
    >>> body_lines(sp.exp(x) * s**2 + sp.exp(x), {x: "a[i]", s: "b[0]"}, {s}, "_c")
    (['_c0 = b[0]*b[0]'], ['_c1 = fexp(a[i])'], '_c1 + _c0*_c1')

    In ``dtype`` float32 the loop computes in float32.  The hoisted scalars are computed as
    numpy computes Python-scalar parts of an expression, in float64 (once, so it costs
    nothing), and rounded to float32 once where the loop reads them; so are the invariants
    in ``wide`` {symbol: float32 local}, whose names hold float64 values (hyperparameters),
    when the loop reads them directly.

    >>> lr = sp.Symbol("lr", real=True)
    >>> wide = {lr: "_lr"}
    >>> body_lines(x - lr * s / 2, {x: "a[i]", s: "b[0]", lr: "hyper[0]"}, {s, lr}, "_c", "float32", wide)
    (['_c0 = np.float32((-0.5)*hyper[0]*b[0])'], [], '_c0 + a[i]')
    >>> body_lines(x * lr, {x: "a[i]", lr: "hyper[0]"}, {lr}, "_c", "float32", wide)
    (['_lr = np.float32(hyper[0])'], [], '_lr*a[i]')
    """
    hoisted_exprs, inner_exprs, reduced = split_body(expr, invariant, prefix)
    names = dict(names)
    hoisted, inner = [], []
    if dtype == "float32":
        read = reduced.free_symbols.union(*(sub.free_symbols for _, sub in inner_exprs))
        for sym, sub in hoisted_exprs:
            text = print_expr(sub, names)
            hoisted.append(f"{sym} = {_float32(text)}" if sym in read else f"{sym} = {text}")
            names[sym] = str(sym)
        for sym in sorted(read & set(wide or ()), key=str):
            hoisted.append(f"{wide[sym]} = {_float32(names[sym])}")
            names[sym] = wide[sym]
    else:
        for sym, sub in hoisted_exprs:
            hoisted.append(f"{sym} = {print_expr(sub, names)}")
            names[sym] = str(sym)
    for sym, sub in inner_exprs:
        inner.append(f"{sym} = {print_expr(sub, names, dtype)}")
        names[sym] = str(sym)
    return hoisted, inner, print_expr(reduced, names, dtype)
