"""Numbers: is a difference zero, and where is it not (with small readable values)?

Both sides are evaluated with 40 significant digits after substituting exact rationals,
so "exact" really is exact to far beyond float rounding (1e-25 relative; 1e-12 when the
expressions themselves hold floats, e.g. leaky_relu's 0.01).  ``rtol`` loosens that to
``|claimed − true| ≤ rtol · max(|claimed|, |true|)``.

Identity claims are judged at random generic points (so a difference only at a kink, such
as relu'(0), is a convention, not an error); the counterexample is then searched among
small integers and halves, avoiding points where a side is undefined (log of a negative,
division by zero) or a kink argument is exactly 0.  Abstract functions (f, g) are replaced
by concrete ones for the numbers: random polynomials to judge, x², x³, ... to show.

>>> x = sp.Symbol("x", real=True)
>>> find_counterexample(x * 2, x * 3, [x])
{'x': 1}
"""

import itertools
import random
from fractions import Fraction
from functools import lru_cache

import mpmath
import sympy as sp

DIGITS = 40
READABLE = [Fraction(v) for v in (1, 2, -1, 3, Fraction(1, 2), -2, 0, Fraction(-1, 2), 4,
                                  Fraction(3, 2), -3, 5, Fraction(1, 3))]
_KINKS = (sp.Max, sp.Min, sp.Heaviside, sp.Abs, sp.sign)


class Point(dict):
    """A counterexample: {variable name: value}, also indexable by the sympy symbol.

    ``lhs_value`` and ``rhs_value`` are both sides there; ``functions`` says what an
    abstract function was replaced by, ``element`` which matrix element differs.

    >>> p = Point({"x": 2}); p[sp.Symbol("x")]
    2
    """

    lhs_value = None
    rhs_value = None
    functions = None
    element = None

    def _key(self, k):
        return k.name if isinstance(k, sp.Symbol) else k

    def __getitem__(self, k):
        return super().__getitem__(self._key(k))

    def __contains__(self, k):
        return super().__contains__(self._key(k))

    def get(self, k, default=None):
        return super().get(self._key(k), default)


def has_floats(*exprs):
    return any(e.has(sp.Float) for e in exprs if isinstance(e, sp.Basic))


def close(a, b, rtol=0.0, floats=False):
    """Whether two numbers agree to ``rtol`` (exactly, to 40 digits, when rtol is 0).

    >>> close(sp.Float(1), sp.Float(1.0001), rtol=1e-3), close(1, 1.0001)
    (True, False)
    """
    a, b = sp.Float(a, DIGITS), sp.Float(b, DIGITS)
    scale = max(abs(a), abs(b), 1)
    exact = sp.Float("1e-12" if floats else "1e-25", DIGITS) * scale
    return abs(a - b) <= max(exact, sp.Float(rtol, DIGITS) * max(abs(a), abs(b)))


_MPMATH = {
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "softplus": lambda z: mpmath.log(1 + mpmath.exp(z)),
    "Heaviside": lambda z, h0=mpmath.mpf(1) / 2: (mpmath.mpf(1) if z > 0 else
                                                  mpmath.mpf(0) if z < 0 else h0),
    "Max": max, "Min": min,
}


@lru_cache(maxsize=512)
def _compiled(expr):
    """``expr`` as an mpmath function of its sorted free symbols (cse: shared forward
    values are computed once), or None when lambdify cannot print it."""
    syms = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    if expr.has(sp.Derivative, sp.Subs, sp.core.function.AppliedUndef):
        return None
    try:
        return syms, sp.lambdify(syms, expr, modules=[_MPMATH, "mpmath"], cse=True)
    except Exception:         # an exotic function lambdify cannot print: evalf instead
        return None


def value(expr, subs):
    """``expr`` at a point as a 40-digit Float, or None where it is undefined or complex.

    >>> value(sp.log(sp.Symbol("x")), {sp.Symbol("x"): -1}) is None
    True
    """
    expr = sp.sympify(expr)
    compiled = _compiled(expr) if expr.free_symbols else None
    if compiled is not None:
        syms, fn = compiled
        try:
            with mpmath.workdps(DIGITS):
                v = fn(*[mpmath.mpf(subs[s].p) / subs[s].q if isinstance(subs[s], sp.Rational)
                         else mpmath.mpf(str(subs[s])) for s in syms])
        except (ZeroDivisionError, ValueError, TypeError, KeyError, OverflowError):
            return None
        if isinstance(v, mpmath.mpc):
            if abs(v.imag) > mpmath.mpf("1e-30"):
                return None
            v = v.real
        if not mpmath.isfinite(v):
            return None
        return sp.Float(v, DIGITS)
    try:
        v = sp.sympify(expr).xreplace(subs)
        if v.has(sp.Derivative, sp.Subs):
            v = v.doit()
        v = v.evalf(DIGITS)
    except (ZeroDivisionError, TypeError, ValueError):
        return None
    if not v.is_number or v.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    re, im = v.as_real_imag()
    if abs(im) > sp.Float("1e-30"):
        return None
    try:
        return sp.Float(re, DIGITS)
    except TypeError:
        return None


def _rational(q):
    return sp.Rational(q.numerator, q.denominator)


def _at_kink(exprs, subs):
    for e in exprs:
        for atom in sp.sympify(e).atoms(*_KINKS):
            args = atom.args if isinstance(atom, (sp.Max, sp.Min)) else atom.args[:1]
            vals = [value(a, subs) for a in args]
            if any(v is None for v in vals):
                continue
            if isinstance(atom, (sp.Max, sp.Min)):
                if len(vals) == 2 and vals[0] == vals[1]:
                    return True
            elif vals[0].is_zero:
                return True
    return False


def abstract_functions(*exprs):
    """The abstract function classes (f, g, ...) appearing in the expressions."""
    out = set()
    for e in exprs:
        for a in sp.sympify(e).atoms(sp.core.function.AppliedUndef):
            out.add(a.func)
    return sorted(out, key=str)


_U = sp.Symbol("u", real=True)
READABLE_FUNCTIONS = [_U ** 2, _U ** 3, sp.exp(_U), sp.sin(_U), _U ** 3 + _U]


def concretize(expr, choice):
    """Replace abstract functions by concrete bodies of ``u`` (a dict f -> body)."""
    if not choice:
        return expr
    out = _subs_form(sp.sympify(expr))
    for f, body in choice.items():
        out = out.replace(f, sp.Lambda(_U, body))
    return out.doit() if out.has(sp.Derivative, sp.Subs) else out


def _subs_form(expr):
    """Derivatives with respect to g(x) as Subs(d/dξ ..., ξ, g(x)), so f and g can be
    replaced by concrete functions one after the other."""
    def convert(d):
        xi = [sp.Dummy("xi") for _ in d.variables]
        body = d.expr.xreplace(dict(zip(d.variables, xi)))
        return sp.Subs(sp.Derivative(body, *[(x, n) for x, (_, n) in
                                              zip(xi, d.variable_count)]),
                       tuple(xi), tuple(d.variables))
    return expr.replace(lambda e: isinstance(e, sp.Derivative)
                        and any(not v.is_Symbol for v in e.variables), convert)


def _random_functions(fs, rng):
    return {f: sum(sp.Rational(rng.randint(-9, 9), 7) * _U ** k for k in range(4))
            + sp.exp(sp.Rational(rng.randint(1, 5), 9) * _U) for f in fs}


def _defined(guards, subs):
    """Every guard (a forward value the claim is about: the loss, its inputs' functions)
    is a finite real number at ``subs``: a point where L = log(1 - yhat) is undefined is
    no counterexample, even if the derivative formula is defined there."""
    return all(value(g, {s: v for s, v in subs.items() if s in g.free_symbols}) is not None
               for g in guards)


def differ_generically(lhs, rhs, symbols, rtol=0.0, seed=0, tries=8, guards=()):
    """At random generic points: a point where the sides differ, or None if they agree.

    Returns ``(point_subs, functions)`` for the first disagreement, ``None`` when all
    valid points agree, and ``"undecided"`` when no point is valid (a side is undefined
    everywhere tried).
    """
    rng = random.Random(seed)
    fs = abstract_functions(lhs, rhs)
    floats = has_floats(lhs, rhs)
    valid = 0
    for attempt in range(tries * 4):
        positive = attempt >= tries        # after a few failures, try the positive half
        subs = {s: sp.Rational(rng.randint(100 if positive else -1700, 1700), 1000)
                for s in symbols}
        choice = _random_functions(fs, rng) if fs else {}
        a = value(concretize(lhs, choice), subs)
        b = value(concretize(rhs, choice), subs)
        if a is None or b is None or not _defined(guards, subs):
            continue
        valid += 1
        if not close(a, b, rtol, floats):
            return subs, choice
        if valid >= tries:
            return None
    return None if valid else "undecided"


def _candidates(symbols, rng):
    n = len(symbols)
    for v in READABLE[:4]:
        yield [v] * n
    for i, v in itertools.product(range(n), READABLE[1:]):
        p = [READABLE[0]] * n
        p[i] = v
        yield p
    for (i, j) in itertools.combinations(range(n), 2):
        for vi, vj in itertools.product(READABLE[1:5], repeat=2):
            p = [READABLE[0]] * n
            p[i], p[j] = vi, vj
            yield p
    for _ in range(150):
        yield [rng.choice(READABLE) for _ in range(n)]


def find_counterexample(lhs, rhs, symbols, rtol=0.0, fallback=None, budget=400, guards=()):
    """A readable point where ``lhs`` and ``rhs`` differ, as a ``Point``, or None.

    ``fallback`` (from ``differ_generically``) is used when no readable point differs.
    """
    rng = random.Random(1)
    symbols = sorted(symbols, key=lambda s: s.name)
    fs = abstract_functions(lhs, rhs)
    floats = has_floats(lhs, rhs)
    choices = [dict(zip(fs, combo)) for combo in
               itertools.product(READABLE_FUNCTIONS, repeat=len(fs))][:25] if fs else [{}]
    seen = 0
    for choice in choices:
        l, r = concretize(lhs, choice), concretize(rhs, choice)
        for vals in _candidates(symbols, rng):
            seen += 1
            if seen > budget:
                break
            subs = {s: _rational(v) for s, v in zip(symbols, vals)}
            a, b = value(l, subs), value(r, subs)
            if a is None or b is None or close(a, b, rtol, floats) or _at_kink([l, r], subs):
                continue
            if not _defined(guards, subs):
                continue
            return _point(subs, a, b, choice)
    if fallback and fallback != "undecided":
        subs, choice = fallback
        a = value(concretize(lhs, choice), subs)
        b = value(concretize(rhs, choice), subs)
        return _point(subs, a, b, choice)
    return None


def _point(subs, a, b, choice):
    p = Point({s.name: readable(v) for s, v in sorted(subs.items(), key=lambda kv: kv[0].name)})
    p.lhs_value, p.rhs_value = readable(a), readable(b)
    if choice:
        p.functions = {str(f): str(body) for f, body in choice.items()}
    return p


def readable(v):
    """An int when integral, else a float (15 significant digits).

    >>> readable(sp.Rational(1, 2)), readable(sp.Float(3))
    (0.5, 3)
    """
    if v is None:
        return None
    v = sp.sympify(v)
    f = float(v)
    if abs(f) < 1e-30:        # zero to 40 digits: cancellation noise, not a value
        return 0
    if f.is_integer() and abs(f) < 1e15:
        return int(f)
    return f
