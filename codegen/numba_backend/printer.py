"""sympy scalar body -> numba source, in forms LLVM vectorises.

exp, tanh, sigmoid and softplus print as the branch-free functions of ``mathfns``;
small integer powers as products; Heaviside, sign and Piecewise as conditional
expressions (selects in LLVM).  ``body_lines`` also splits a body by common
subexpressions and hoists the parts that do not change inside the loop.

>>> import sympy as sp
>>> x = sp.Symbol("x0", real=True)
>>> print_expr(sp.tanh(x) ** 2 + 1, {x: "a[i]"})
'(1.0 + ftanh(a[i])*ftanh(a[i]))'
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

_RELATIONS = {sp.Eq: "==", sp.Ne: "!=", sp.Lt: "<", sp.Le: "<=", sp.Gt: ">", sp.Ge: ">="}


class UnsupportedExpression(ValueError):
    """A body uses something the numba printer has no translation for."""


def _num(value):
    value = float(value)
    if value != value:
        return "np.nan"
    if value in (float("inf"), float("-inf")):
        return "np.inf" if value > 0 else "(-np.inf)"
    text = repr(value)
    return f"({text})" if value < 0 else text


def print_expr(expr, names):
    """numba source for ``expr`` with each symbol printed as ``names[symbol]``."""
    return _Printer(names).p(expr)


class _Printer:
    def __init__(self, names):
        self.names = names

    def p(self, e):
        if e.is_Symbol:
            try:
                return self.names[e]
            except KeyError:
                raise UnsupportedExpression(f"symbol {e} is bound to nothing") from None
        if e.is_Number or e in (sp.pi, sp.E, sp.oo, -sp.oo, sp.nan) or e.is_NumberSymbol:
            return _num(e)
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
            h0 = _num(e.args[1]) if len(e.args) > 1 else "0.5"
            return f"(1.0 if {x} > 0 else ({h0} if {x} == 0 else 0.0))"
        if isinstance(e, sp.sign):
            x = self.p(e.args[0])
            return f"(1.0 if {x} > 0 else (-1.0 if {x} < 0 else 0.0))"
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
        text = "*".join(num) if num else "1.0"
        if coeff != 1:
            text = f"{_num(coeff)}*{text}" if coeff != -1 else f"-{text}"
        if den:
            text = f"{text}/({'*'.join(den)})" if len(den) > 1 else f"{text}/{den[0]}"
        return f"({text})"

    def pow(self, base, exp):
        b = self.p(base)
        if exp.is_Integer:
            n = int(exp)
            if n == 0:
                return "1.0"
            if 0 < n <= 4:
                return "*".join([b] * n) if n > 1 else b
            if -4 <= n < 0:
                return f"(1.0/({'*'.join([b] * -n)}))"
        if exp == sp.S.Half:
            return f"np.sqrt({b})"
        if exp == -sp.S.Half:
            return f"(1.0/np.sqrt({b}))"
        return f"({b} ** {self.p(exp)})"

    def piecewise(self, pieces):
        (value, cond), rest = pieces[0], pieces[1:]
        if cond is sp.true or not rest:
            return self.p(value)
        return f"({self.p(value)} if {self.p(cond)} else {self.piecewise(rest)})"


def body_lines(expr, names, invariant, prefix):
    """Split ``expr`` by common subexpressions into (hoisted lines, loop lines, result).

    Subexpressions whose symbols are all in ``invariant`` (scalars, hyperparameters) are
    computed once before the loop; locals are named ``{prefix}{k}`` (``codegen.bodies``).

    >>> x, s = sp.symbols("x0 x1", real=True)
    >>> body_lines(sp.exp(x) * s**2 + sp.exp(x), {x: "a[i]", s: "b[0]"}, {s}, "_c")
    (['_c0 = b[0]*b[0]'], ['_c1 = fexp(a[i])'], '(_c1 + (_c0*_c1))')
    """
    hoisted_exprs, inner_exprs, reduced = split_body(expr, invariant, prefix)
    names = dict(names)
    hoisted, inner = [], []
    for target, group in ((hoisted, hoisted_exprs), (inner, inner_exprs)):
        for sym, sub in group:
            target.append(f"{sym} = {print_expr(sub, names)}")
            names[sym] = str(sym)
    return hoisted, inner, print_expr(reduced, names)
