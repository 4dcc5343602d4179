"""sympy scalar body -> llvmlite IR builder calls, in forms LLVM vectorises.

Values are of one floating type, double or float (a float32 map computes in float32:
twice the vector lanes, as numpy's float32 ufuncs do), or a vector of it (a map fused into
a product's register block computes whole vectors); conditions are ``i1`` (or vectors).  exp, tanh, sigmoid and softplus
are the branch-free functions of ``mathfns``; integer powers are repeated products
(square-and-multiply); Max/Min, Heaviside, sign and Piecewise are fcmp + select with
numpy's NaN semantics (np.maximum, np.heaviside, np.sign propagate NaN).  Named
functions of symbackprop's scalar module (sigmoid, softplus) are matched by class name.

>>> import sympy as sp
>>> from llvmlite import ir
>>> m = ir.Module(); f = ir.Function(m, ir.FunctionType(DOUBLE, [DOUBLE]), "f")
>>> b = ir.IRBuilder(f.append_basic_block())
>>> x = sp.Symbol("x0", real=True)
>>> b.ret(Translator(b, MathLib(m), {x: f.args[0]}).value(x ** 3 + 1))  # doctest: +ELLIPSIS
<ir.Ret ...>
>>> "fmul" in str(m) and "pow" not in str(m)
True
"""

import sympy as sp
from llvmlite import ir

from codegen.llvm_backend.mathfns import (DOUBLE, INTRINSICS, VECTOR_OWN, MathLib, c, element, ic,  # noqa: F401
                                          like, maximum, minimum)  # (MathLib: doctest)

BOOL = ir.IntType(1)

#: sympy function -> math library entry (see ``MathLib.function``)
FUNCTIONS = {
    sp.exp: "exp", sp.tanh: "tanh", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan",
    sp.atan: "atan", sp.asin: "asin", sp.acos: "acos", sp.sinh: "sinh", sp.cosh: "cosh", sp.asinh: "asinh",
    sp.acosh: "acosh", sp.atanh: "atanh", sp.erf: "erf", sp.erfc: "erfc", sp.floor: "floor",
    sp.ceiling: "ceil", sp.Abs: "fabs",
}
#: named functions, by class name (symbackprop's sigmoid/softplus, sympy.codegen's log1p/expm1)
NAMED = {"sigmoid": "sigmoid", "softplus": "softplus", "log1p": "log1p", "expm1": "expm1"}

_RELATIONS = {sp.Eq: "==", sp.Ne: "!=", sp.Lt: "<", sp.Le: "<=", sp.Gt: ">", sp.Ge: ">="}
#: contraction (FMA) allowed in bodies, as the numba backend's fastmath={"contract"} does
FLAGS = ("contract",)


def vectorisable(expr):
    """True when ``expr`` translates to vector IR as well: every function it calls is one of
    our own with a vector form (exp, tanh, sigmoid; softplus calls log1p) or an LLVM
    intrinsic, none a C library call.

    >>> x = sp.Symbol("x", real=True)
    >>> from symbackprop.graph.scalar import softplus
    >>> vectorisable(sp.tanh(x) + sp.Max(0, x)), vectorisable(sp.erf(x)), vectorisable(softplus(x))
    (True, False, False)
    """
    for f in sp.sympify(expr).atoms(sp.Function):
        name = NAMED.get(type(f).__name__) or FUNCTIONS.get(type(f))
        if isinstance(f, (sp.Max, sp.Min, sp.Heaviside, sp.sign, sp.Piecewise)):
            continue
        if name is None or name not in VECTOR_OWN | INTRINSICS:
            return False
    return True


class UnsupportedExpression(ValueError):
    """A body uses something the LLVM translator has no translation for."""


class Translator:
    """Emits IR for sympy expressions at the builder's position; ``env`` maps symbols to
    IR values of type ``ty`` (double unless said).  Results are memoised per expression
    (the builder must stay in one straight-line region while a translator is used)."""

    def __init__(self, builder, mathlib, env, ty=DOUBLE):
        self.b, self.m, self.env, self.ty = builder, mathlib, dict(env), ty
        self.memo = {}

    def c(self, value):
        return c(value, self.ty)

    def bind(self, symbol, value):
        self.env[symbol] = value

    # ---- values ---------------------------------------------------------------------------
    def value(self, e):
        e = sp.sympify(e)
        if e in self.memo:
            return self.memo[e]
        v = self._value(e)
        if isinstance(element(v.type), ir.IntType) and element(v.type).width == 1:
            v = self.b.uitofp(v, self.ty)
        self.memo[e] = v
        return v

    def _value(self, e):
        b = self.b
        if e.is_Symbol:
            try:
                return self.env[e]
            except KeyError:
                raise UnsupportedExpression(f"symbol {e} is bound to nothing") from None
        if e is sp.true or e is sp.false or isinstance(e, (sp.core.relational.Relational, sp.And, sp.Or, sp.Not,
                                                            sp.ITE)):
            return self.cond(e)
        if e.is_Number or e.is_NumberSymbol or e in (sp.oo, -sp.oo, sp.nan, sp.zoo):
            return self.c(float(e) if e is not sp.zoo else float("nan"))
        if e.is_Add:
            terms = [self.value(a) for a in e.args]
            out = terms[0]
            for t in terms[1:]:
                out = b.fadd(out, t, flags=FLAGS)
            return out
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.pow(e.base, e.exp)
        if isinstance(e, sp.Piecewise):
            return self.piecewise(e.args)
        if isinstance(e, sp.Heaviside):
            x = self.value(e.args[0])
            h0 = self.value(e.args[1]) if len(e.args) > 1 else self.c(0.5)
            v = b.select(b.fcmp_ordered("==", x, self.c(0.0)), h0, self.c(0.0))
            v = b.select(b.fcmp_ordered(">", x, self.c(0.0)), self.c(1.0), v)
            return b.select(b.fcmp_unordered("uno", x, x), x, v)
        if isinstance(e, sp.sign):
            x = self.value(e.args[0])
            v = b.select(b.fcmp_ordered("<", x, self.c(0.0)), self.c(-1.0), self.c(0.0))
            v = b.select(b.fcmp_ordered(">", x, self.c(0.0)), self.c(1.0), v)
            return b.select(b.fcmp_unordered("uno", x, x), x, v)
        if isinstance(e, (sp.Max, sp.Min)):
            fn = maximum if isinstance(e, sp.Max) else minimum
            args = [self.value(a) for a in e.args]
            out = args[-1]
            for a in reversed(args[:-1]):
                out = fn(b, a, out)
            return out
        if isinstance(e, sp.Function):
            name = NAMED.get(type(e).__name__) or FUNCTIONS.get(type(e))
            if name is None or len(e.args) != 1:
                raise UnsupportedExpression(f"no LLVM translation for {type(e).__name__} in {e}")
            return self.m.call(b, name, self.value(e.args[0]))
        raise UnsupportedExpression(f"no LLVM translation for {e!r}")

    def mul(self, e):
        b = self.b
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_Number and f.exp < 0:
                den.append(self.pow(f.base, -f.exp))
            else:
                num.append(self.value(f))
        out = None
        for v in num:
            out = v if out is None else b.fmul(out, v, flags=FLAGS)
        if coeff == -1:
            out = b.fneg(out) if out is not None else self.c(-1.0)
        elif coeff != 1 or out is None:
            out = self.c(coeff) if out is None else b.fmul(self.c(coeff), out, flags=FLAGS)
        if den:
            d = den[0]
            for v in den[1:]:
                d = b.fmul(d, v, flags=FLAGS)
            out = b.fdiv(out, d, flags=FLAGS)
        return out

    def pow(self, base, exp):
        b = self.b
        x = self.value(base)
        if exp.is_Integer:
            n = int(exp)
            if n == 0:
                return self.c(1.0)
            if abs(n) <= 64:
                out = self._ipow(x, abs(n))
                return out if n > 0 else b.fdiv(self.c(1.0), out, flags=FLAGS)
        if exp == sp.S.Half:
            return self.m.call(b, "sqrt", x)
        if exp == -sp.S.Half:
            return b.fdiv(self.c(1.0), self.m.call(b, "sqrt", x), flags=FLAGS)
        return b.call(self.m.function("pow", self.ty), [x, self.value(exp)])

    def _ipow(self, x, n):
        """xⁿ by square-and-multiply (x·x·x for n = 3, as the numba printer writes it)."""
        if n <= 4:
            out = x
            for _ in range(n - 1):
                out = self.b.fmul(out, x, flags=FLAGS)
            return out
        half = self._ipow(x, n // 2)
        sq = self.b.fmul(half, half, flags=FLAGS)
        return self.b.fmul(sq, x, flags=FLAGS) if n % 2 else sq

    def piecewise(self, pieces):
        (value, cond), rest = pieces[0], pieces[1:]
        if cond is sp.true or not rest:
            return self.value(value)
        return self.b.select(self.cond(cond), self.value(value), self.piecewise(rest))

    # ---- conditions -----------------------------------------------------------------------
    def cond(self, e):
        b = self.b
        if e is sp.true or e is sp.false:
            return ic(1 if e is sp.true else 0, like(self.ty, BOOL))
        if type(e) in _RELATIONS:
            op = _RELATIONS[type(e)]
            lhs, rhs = self.value(e.lhs), self.value(e.rhs)
            # numpy: every comparison with NaN is False except !=
            return b.fcmp_unordered(op, lhs, rhs) if op == "!=" else b.fcmp_ordered(op, lhs, rhs)
        if isinstance(e, sp.And):
            out = self.cond(e.args[0])
            for a in e.args[1:]:
                out = b.and_(out, self.cond(a))
            return out
        if isinstance(e, sp.Or):
            out = self.cond(e.args[0])
            for a in e.args[1:]:
                out = b.or_(out, self.cond(a))
            return out
        if isinstance(e, sp.ITE):  # a boolean if-then-else
            return b.select(self.cond(e.args[0]), self.cond(e.args[1]), self.cond(e.args[2]))
        if isinstance(e, sp.Not):
            v = self.cond(e.args[0])
            return b.xor(v, ic(1, v.type))
        v = self.value(e)  # a number used as a truth value
        return b.fcmp_unordered("!=", v, self.c(0.0))
