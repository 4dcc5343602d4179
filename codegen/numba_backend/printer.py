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
'(1.0 + ftanh(a[i])*ftanh(a[i]))'
>>> print_expr(sp.tanh(x) / 2, {x: "a[i]"}, "float32")
'(np.float32(0.5)*ftanh32(a[i]))'
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
FLOAT32 = {"fexp": "fexp32", "ftanh": "ftanh32", "fsigmoid": "fsigmoid32", "fsoftplus": "fsoftplus32"}

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
    ``dtype`` when the symbols hold that dtype."""
    return _Printer(names, dtype).p(expr)


class _Printer:
    def __init__(self, names, dtype="float64"):
        self.names = names
        self.dtype = dtype

    def num(self, value):
        return literal(value, self.dtype)

    def p(self, e):
        if e.is_Symbol:
            try:
                return self.names[e]
            except KeyError:
                raise UnsupportedExpression(f"symbol {e} is bound to nothing") from None
        if e.is_Number or e in (sp.pi, sp.E, sp.oo, -sp.oo, sp.nan) or e.is_NumberSymbol:
            return self.num(e)
        if e is sp.true:
            return "True"
        if e is sp.false:
            return "False"
        if e.is_Add:
            return "(" + " + ".join(self.p(a) for a in e.args) + ")"
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.pow(e.base, e.exp)
        if isinstance(e, sp.Piecewise):
            return self.piecewise(e.args)
        if isinstance(e, sp.Heaviside):
            x = self.p(e.args[0])
            h0 = self.num(e.args[1] if len(e.args) > 1 else 0.5)
            one, zero = self.num(1), self.num(0)
            return f"({one} if {x} > 0 else ({h0} if {x} == 0 else {zero}))"
        if isinstance(e, sp.sign):
            x = self.p(e.args[0])
            one, minus, zero = self.num(1), self.num(-1), self.num(0)
            return f"({one} if {x} > 0 else ({minus} if {x} < 0 else {zero}))"
        if isinstance(e, (sp.Max, sp.Min)):
            fn = "max" if isinstance(e, sp.Max) else "min"
            args = [self.p(a) for a in e.args]
            out = args[-1]
            for a in reversed(args[:-1]):
                out = f"{fn}({a}, {out})"
            return out
        if type(e) in _RELATIONS:
            return f"({self.p(e.lhs)} {_RELATIONS[type(e)]} {self.p(e.rhs)})"
        if isinstance(e, sp.And):
            return "(" + " and ".join(self.p(a) for a in e.args) + ")"
        if isinstance(e, sp.Or):
            return "(" + " or ".join(self.p(a) for a in e.args) + ")"
        if isinstance(e, sp.Not):
            return f"(not {self.p(e.args[0])})"
        if isinstance(e, sp.Function):
            name = NAMED.get(type(e).__name__) or FUNCTIONS.get(type(e))
            if name is None:
                raise UnsupportedExpression(f"no numba translation for {type(e).__name__} in {e}")
            if self.dtype == "float32":
                name = FLOAT32.get(name, name)
            return f"{name}({', '.join(self.p(a) for a in e.args)})"
        raise UnsupportedExpression(f"no numba translation for {e!r}")

    def mul(self, e):
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_Number and f.exp < 0:
                den.append(self.pow(f.base, -f.exp))
            else:
                num.append(self.p(f))
        text = "*".join(num) if num else self.num(1)
        if coeff != 1:
            text = f"{self.num(coeff)}*{text}" if coeff != -1 else f"-{text}"
        if den:
            text = f"{text}/({'*'.join(den)})" if len(den) > 1 else f"{text}/{den[0]}"
        return f"({text})"

    def pow(self, base, exp):
        b = self.p(base)
        if exp.is_Integer:
            n = int(exp)
            if n == 0:
                return self.num(1)
            if 0 < n <= 4:
                return "*".join([b] * n) if n > 1 else b
            if -4 <= n < 0:
                return f"({self.num(1)}/({'*'.join([b] * -n)}))"
        if exp == sp.S.Half:
            return f"np.sqrt({b})"
        if exp == -sp.S.Half:
            return f"({self.num(1)}/np.sqrt({b}))"
        return f"({b} ** {self.p(exp)})"

    def piecewise(self, pieces):
        (value, cond), rest = pieces[0], pieces[1:]
        if cond is sp.true or not rest:
            return self.p(value)
        return f"({self.p(value)} if {self.p(cond)} else {self.piecewise(rest)})"


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
    (['_c0 = b[0]*b[0]'], ['_c1 = fexp(a[i])'], '(_c1 + (_c0*_c1))')

    In ``dtype`` float32 the loop computes in float32.  The hoisted scalars are computed as
    numpy computes Python-scalar parts of an expression, in float64 (once, so it costs
    nothing), and rounded to float32 once where the loop reads them; so are the invariants
    in ``wide`` {symbol: float32 local}, whose names hold float64 values (hyperparameters),
    when the loop reads them directly.

    >>> lr = sp.Symbol("lr", real=True)
    >>> wide = {lr: "_lr"}
    >>> body_lines(x - lr * s / 2, {x: "a[i]", s: "b[0]", lr: "hyper[0]"}, {s, lr}, "_c", "float32", wide)
    (['_c0 = np.float32((-0.5)*hyper[0]*b[0])'], [], '(_c0 + a[i])')
    >>> body_lines(x * lr, {x: "a[i]", lr: "hyper[0]"}, {lr}, "_c", "float32", wide)
    (['_lr = np.float32(hyper[0])'], [], '(_lr*a[i])')
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
