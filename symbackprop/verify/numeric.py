"""Numbers: is a difference zero, and where is it not (with small readable values)?

Numbers in claims are exact, so with ``rtol`` 0 a claim holds only when the difference
of its sides is exactly zero at every point tried: ``2*x + 10**-30`` is not ``2*x``.  At
a point (exact rationals), ``same`` decides:

1. sides that differ in their first 20 digits differ;
2. sides without transcendental functions are computed exactly (sympy rationals);
3. otherwise the difference is computed twice with mpmath, at a precision that grows with
   the claim's own numbers (``working_digits``: 10**-30 in a claim adds 62 digits) and
   again 20 digits finer.  A real difference is the same both times; rounding noise
   shrinks by 20 orders of magnitude;
4. a difference that is zero to that precision is given to sympy's assumptions, which
   prove some far smaller ones nonzero (``exp(-10**999)``).

What remains taken for zero: a difference far below every number written in the claim
that sympy cannot prove nonzero (``tanh(10**900) - 1``, about 10^(-10^900)).

``rtol`` > 0 is the numeric mode: ``|claimed − true| ≤ rtol · max(|claimed|, |true|)``.

Identity claims are judged at random generic points (so a difference only at a kink, such
as relu'(0), is a convention, not an error); the counterexample is then searched among
small integers and halves, avoiding points where a side is undefined (log of a negative,
division by zero) or a kink argument is exactly 0.  Abstract functions (f, g) are replaced
by concrete ones for the numbers: random polynomials to judge, x², x³, ... to show.

>>> x = sp.Symbol("x", real=True)
>>> find_counterexample(x * 2, x * 3, [x])
{'x': 1}
>>> same(2*x, 2*x + sp.Rational(1, 10**30), {x: sp.Rational(1, 3)})[2]
False
"""

import itertools
import random
from fractions import Fraction
from functools import lru_cache

import mpmath
import sympy as sp

from symbackprop.verify import budget, limits
from symbackprop.verify.errors import TooLarge

#: significant digits of every evaluation at least (``working_digits`` adds more)
DIGITS = 40
#: sides whose relative difference exceeds this differ, no finer check needed
PLAIN = sp.Float("1e-20", DIGITS)
#: how much finer the confirming evaluation of a difference is
GUARD = 20
#: most significant digits shown for two sides that differ only far down
SHOWN_DIGITS = 40
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
    indices = None      # "i = 1, j = 2": the free index values where the sides differ

    def _key(self, k):
        return k.name if isinstance(k, sp.Symbol) else k

    def __getitem__(self, k):
        return super().__getitem__(self._key(k))

    def __contains__(self, k):
        return super().__contains__(self._key(k))

    def get(self, k, default=None):
        return super().get(self._key(k), default)


def close(a, b, rtol=0.0, atol=0.0):
    """Whether two numbers agree within ``rtol`` (and a rounding floor 25 digits down).

    This is the numeric mode; with rtol 0 use ``same``, which is exact.

    >>> close(sp.Float(1), sp.Float(1.0001), rtol=1e-3), close(1, 1.0001)
    (True, False)
    """
    a, b = sp.sympify(a), sp.sympify(b)
    scale = max(abs(a), abs(b))
    floor = sp.Float("1e-25", DIGITS) * max(scale, 1)
    # atol: an \\approx claim's half unit in its last digit, a little slack for binary
    return bool(abs(a - b) <= max(floor, sp.Float(rtol, DIGITS) * scale,
                                  sp.Float(atol, DIGITS) * (1 + sp.Float("1e-12"))))


@lru_cache(maxsize=512)
def _expr_digits(expr):
    return max((limits.digits(r) for r in expr.atoms(sp.Rational)), default=1)


def working_digits(expr, subs=None):
    """The precision for ``expr`` (at ``subs``): ``DIGITS`` plus twice the digits of its
    largest exact number, so a difference made of the claim's own numbers (10**-30 next to
    10**20) lies far above rounding.  Bounded, as numbers are (``limits.MAX_DIGITS``).

    >>> working_digits(sp.Symbol("x") + sp.Rational(1, 10**30))
    102
    """
    extra = _expr_digits(sp.sympify(expr))
    for v in (subs or {}).values():
        if isinstance(v, sp.Rational):
            extra = max(extra, limits.digits(v))
    return DIGITS + 2 * extra


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


def _mpf(v):
    return mpmath.mpf(v.p) / v.q if isinstance(v, sp.Rational) else mpmath.mpf(str(v))


def _mp(expr, subs, dps):
    """``expr`` at a point as an mpmath number with ``dps`` digits, or None where it is
    undefined or not real."""
    try:
        return budget.within(budget.EVAL_SECONDS, _mp_unlimited, expr, subs, dps)
    except budget.OutOfTime as e:
        if not e.own:
            raise
        cause = f"took longer than {budget.EVAL_SECONDS:g} s"
    except MemoryError:     # x**x**x**x...: mpmath asked for an integer of 10**20 bits
        cause = "ran out of memory"
    at = ", ".join(f"{s} = {readable(v)}" for s, v in sorted(subs.items(), key=str))
    raise TooLarge(f"evaluating {_short(expr)}{' at ' + at if at else ''} {cause}: its "
                   f"values are too large to compute") from None


def _short(expr):
    text = str(expr)
    return text if len(text) <= 60 else text[:57] + "..."


def _mp_unlimited(expr, subs, dps):
    compiled = _compiled(expr)
    if compiled is not None:
        syms, fn = compiled
        try:
            with mpmath.workdps(dps):
                v = fn(*[_mpf(subs[s]) for s in syms])
                v = mpmath.mpmathify(v)
        except (ZeroDivisionError, ValueError, TypeError, KeyError, OverflowError):
            return None
        if isinstance(v, mpmath.mpc):
            if abs(v.imag) > abs(v.real) * mpmath.mpf(10) ** (10 - dps) + \
                    mpmath.mpf(10) ** (-dps):
                return None
            v = v.real
        return v if mpmath.isfinite(v) else None
    try:
        v = expr.xreplace(subs)
        if v.has(sp.Derivative, sp.Subs):
            v = v.doit()
        v = v.evalf(dps)
    except (ZeroDivisionError, TypeError, ValueError):
        return None
    if not v.is_number or v.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    re, im = v.as_real_imag()
    if abs(im) > abs(re) * sp.Float(10) ** (10 - dps) + sp.Float(10) ** (-dps):
        return None
    try:
        return mpmath.mpf(sp.Float(re, dps)._mpf_)
    except (TypeError, AttributeError):
        return None


def value(expr, subs, digits=None):
    """``expr`` at a point as a Float (``working_digits`` significant digits), or None
    where it is undefined or complex.

    >>> value(sp.log(sp.Symbol("x")), {sp.Symbol("x"): -1}) is None
    True
    """
    expr = sp.sympify(expr)
    dps = digits or working_digits(expr, subs)
    v = _mp(expr, subs, dps)
    return None if v is None else sp.Float(v, dps)


#: functions sympy evaluates exactly at rational points
_EXACT_FUNCTIONS = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise)


@lru_cache(maxsize=512)
def _rational_valued(expr):
    """True when ``expr`` at rational points is rational: no exp, log, sqrt, ..."""
    return all(isinstance(f, _EXACT_FUNCTIONS) for f in expr.atoms(sp.Function)) and \
        all(p.exp.is_Integer for p in expr.atoms(sp.Pow)) and \
        not expr.has(sp.Derivative, sp.Subs, sp.Float)


def same(lhs, rhs, subs, rtol=0.0, prove=True, atol=0.0):
    """Whether ``lhs`` and ``rhs`` agree at the point ``subs``: ``(a, b, agree)``.

    ``a``, ``b`` are both sides as Floats (None where undefined; ``agree`` is then None).
    With ``rtol`` 0 the answer is exact (see the module doc), else within ``rtol``;
    ``prove``: also ask sympy's assumptions (step 4; once per claim is enough: a
    difference they can prove nonzero is nonzero at every generic point).

    >>> x = sp.Symbol("x", real=True)
    >>> same(sp.exp(x), sp.exp(x) + sp.Rational(1, 10**50), {x: 1})[2]
    False
    >>> same(sp.exp(2*x), sp.exp(x)**2, {x: sp.Rational(1, 3)})[2]
    True
    """
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    dps = max(working_digits(lhs, subs), working_digits(rhs, subs))
    a, b = value(lhs, subs, dps), value(rhs, subs, dps)
    if a is None or b is None:
        return a, b, None
    if rtol or atol:
        return a, b, close(a, b, rtol, atol)
    # a relative gap means a difference only when the sides are not cancellation noise:
    # sum_i (x_i - mu)/s = 0 comes out near 1e-44, which is 100% off a claimed 0; such
    # tiny sides go on to the two-precision check below
    if abs(a - b) > PLAIN * max(abs(a), abs(b)) and \
            max(abs(a), abs(b)) > sp.Float(10, DIGITS) ** -(dps // 2):
        return a, b, False
    if _rational_valued(lhs) and _rational_valued(rhs):
        try:
            ea, eb = lhs.xreplace(subs), rhs.xreplace(subs)
        except (ZeroDivisionError, TypeError):
            ea = eb = None
        if ea is not None and ea.is_Rational and eb.is_Rational:
            return a, b, ea == eb        # exact fractions: the answer, whatever the size
    fine = dps + GUARD
    a2, b2 = _mp(lhs, subs, fine), _mp(rhs, subs, fine)
    if a2 is None or b2 is None:
        return a, b, None
    with mpmath.workdps(fine):
        d1 = mpmath.mpf(sp.Float(a, fine)._mpf_) - mpmath.mpf(sp.Float(b, fine)._mpf_)
        d2 = a2 - b2
        # a real difference is the same at both precisions; rounding noise is not
        stable = d2 != 0 and abs(d1 - d2) <= abs(d2) * mpmath.mpf(10) ** -10
    if stable:
        return sp.Float(a2, fine), sp.Float(b2, fine), False
    return a, b, not (prove and _nonzero(lhs, rhs, subs))


def _nonzero(lhs, rhs, subs):
    """sympy's assumptions on the exact difference at the point: they prove
    ``exp(-10**999)`` (which no precision resolves) nonzero, and otherwise say nothing."""
    try:
        d = budget.within(budget.EVAL_SECONDS, lambda: lhs.xreplace(subs) - rhs.xreplace(subs))
        return budget.within(budget.EVAL_SECONDS, lambda: d.is_zero) is False
    except budget.OutOfTime as e:
        if not e.own:
            raise
        return False
    except (ZeroDivisionError, TypeError, ValueError, RecursionError):
        return False


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


#: the variables of a concrete body of an abstract function of several arguments
_US = sp.symbols("u1:9", real=True)


def _variables(body):
    """u (one argument) or u1, u2, ... (several) in a concrete body."""
    several = sorted((s for s in body.free_symbols if s in _US), key=_US.index)
    return (_US[:_US.index(several[-1]) + 1]) if several else (_U,)


def arity(f, *exprs):
    """How many arguments the abstract function ``f`` takes in the expressions (1 if unseen).

    >>> x, y = sp.symbols("x y"); F = sp.Function("F")
    >>> arity(F, F(x, y) + 1)
    2
    """
    for e in exprs:
        for a in sp.sympify(e).atoms(sp.core.function.AppliedUndef):
            if a.func == f:
                return len(a.args)
    return 1


def concretize(expr, choice):
    """Replace abstract functions by concrete bodies of ``u`` (or ``u1, u2, ...`` for
    several arguments): a dict f -> body."""
    if not choice:
        return expr
    out = _subs_form(sp.sympify(expr))
    for f, body in choice.items():
        out = out.replace(f, sp.Lambda(_variables(body), body))
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


def _random_functions(fs, rng, exprs=()):
    out = {}
    for f in fs:
        n = arity(f, *exprs)
        us = (_U,) if n == 1 else _US[:n]
        # a generic polynomial in each argument, a cross term, and an exponential
        body = sum(sp.Rational(rng.randint(-9, 9), 7) * u ** k for u in us for k in range(4))
        if n > 1:
            body += sp.Rational(rng.randint(1, 9), 5) * sp.Mul(*us)
        out[f] = body + sp.exp(sp.Rational(rng.randint(1, 5), 9) * sum(us))
    return out


def _readable_functions(fs, exprs):
    """Simple bodies to show in a counterexample, one list per function's arity."""
    lists = []
    for f in fs:
        n = arity(f, *exprs)
        if n == 1:
            lists.append(READABLE_FUNCTIONS)
        else:
            us = _US[:n]
            lists.append([sp.Mul(*us) + us[0] ** 2, sum(u ** (k + 2) for k, u in enumerate(us)),
                          sp.exp(us[0]) * sum(us[1:]) + us[0]])
    return lists


def _defined(guards, subs):
    """Every guard (a forward value the claim is about: the loss, its inputs' functions)
    is a finite real number at ``subs``: a point where L = log(1 - yhat) is undefined is
    no counterexample, even if the derivative formula is defined there."""
    return all(value(g, {s: v for s, v in subs.items() if s in g.free_symbols}) is not None
               for g in guards)


def _with_guard_symbols(symbols, guards):
    """The claim's symbols, then those only the guards use (a matrix element's claim uses
    W_11, its loss all of W): a point must give every guard a value to be checked."""
    symbols = sorted(symbols, key=lambda s: s.name)
    extra = set().union(*(sp.sympify(g).free_symbols for g in guards)) - set(symbols)
    return symbols + sorted(extra, key=lambda s: s.name)


def differ_generically(lhs, rhs, symbols, rtol=0.0, seed=0, tries=8, guards=(), atol=0.0):
    """At random generic points: a point where the sides differ, or None if they agree.

    Returns ``(point_subs, functions)`` for the first disagreement, ``None`` when all
    valid points agree, and ``"undecided"`` when no point is valid (a side is undefined
    everywhere tried).
    """
    rng = random.Random(seed)
    fs = abstract_functions(lhs, rhs)
    symbols = _with_guard_symbols(symbols, guards)
    valid = 0
    for attempt in range(tries * 4):
        positive = attempt >= tries        # after a few failures, try the positive half
        subs = {s: sp.Rational(rng.randint(100 if positive else -1700, 1700), 1000)
                for s in symbols}
        choice = _random_functions(fs, rng, (lhs, rhs)) if fs else {}
        a, b, agree = same(concretize(lhs, choice), concretize(rhs, choice), subs, rtol,
                           prove=valid == 0, atol=atol)
        if agree is None or not _defined(guards, subs):
            continue
        valid += 1
        if not agree:
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


def find_counterexample(lhs, rhs, symbols, rtol=0.0, fallback=None, budget=400, guards=(),
                        atol=0.0):
    """A readable point where ``lhs`` and ``rhs`` differ, as a ``Point``, or None.

    ``fallback`` (from ``differ_generically``) is used when no readable point differs.
    """
    rng = random.Random(1)
    symbols = _with_guard_symbols(symbols, guards)
    fs = abstract_functions(lhs, rhs)
    choices = [dict(zip(fs, combo)) for combo in
               itertools.islice(itertools.product(*_readable_functions(fs, (lhs, rhs))), 25)] \
        if fs else [{}]
    seen = 0
    for choice in choices:
        l, r = concretize(lhs, choice), concretize(rhs, choice)
        for vals in _candidates(symbols, rng):
            seen += 1
            if seen > budget:
                break
            subs = {s: _rational(v) for s, v in zip(symbols, vals)}
            a, b, agree = same(l, r, subs, rtol, prove=False, atol=atol)
            if agree is None or agree or _at_kink([l, r], subs):
                continue
            if not _defined(guards, subs):
                continue
            return _point(subs, a, b, choice)
    if fallback and fallback != "undecided":
        subs, choice = fallback
        a, b, _ = same(concretize(lhs, choice), concretize(rhs, choice), subs, rtol, atol=atol)
        return _point(subs, a, b, choice)
    return None


def _point(subs, a, b, choice):
    p = Point({s.name: readable(v) for s, v in sorted(subs.items(), key=lambda kv: kv[0].name)})
    p.lhs_value, p.rhs_value = readable_pair(a, b)
    if choice:
        p.functions = {f"{f}({', '.join(map(str, _variables(body)))})": str(body)
                       for f, body in choice.items()}
    return p


def readable_pair(a, b):
    """Both sides at a counterexample, readable, and never printed equal when they differ:
    1 and 1 + 10**-30 are floats 1 and 1, so they are given as decimal strings with the
    digits that tell them apart.

    >>> readable_pair(sp.Float(1, 60), sp.Float(1, 60) + sp.Float("1e-30", 60))
    ('1.0', '1.000000000000000000000000000001')
    """
    ra, rb = readable(a), readable(b)
    if ra != rb or a is None or b is None or a == b:
        return ra, rb
    a, b = sp.Float(a), sp.Float(b)
    with mpmath.workprec(max(a._prec, b._prec)):
        fa, fb = mpmath.mpf(a._mpf_), mpmath.mpf(b._mpf_)
        rel = abs(fa - fb) / max(abs(fa), abs(fb))
        n = int(-mpmath.log10(rel)) + 3
        if n <= SHOWN_DIGITS:
            return mpmath.nstr(fa, n), mpmath.nstr(fb, n)
        d = fb - fa          # too many digits to read: the right side as left + difference
        return ra, f"{ra}… {'+' if d > 0 else '-'} {mpmath.nstr(abs(d), 6)}"


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
