"""One line saying how a wrong claim is wrong, when the difference has a simple form.

Checked in this order, each confirmed numerically on the fully expanded sides (so a
reason is never a guess): ``sign``; a constant ratio (``extra factor 2``, ``missing factor
1/2``); a ratio that is a product of names (``missing factor x``, ``extra factor yhat*(1 -
yhat)``, named ``= sigmoid'(z)`` when it is a definition's derivative); a missing or extra
term; for numbers, ``rounding`` (relative error under 5 %) or ``wrong value``.

>>> x, y = sp.symbols("x y", real=True)
>>> classify(x*y, x*y*x, expand=lambda e: e)
'extra factor x'
>>> classify(x*y, -x*y, expand=lambda e: e)
'sign'
"""

import mpmath
import sympy as sp

from symbackprop.verify import functions, numeric
from symbackprop.verify.printing import show

MAX_OPS = 14


def _same(a, b, expand):
    """a ≡ b on the expanded forms, judged at generic points."""
    ea, eb = sp.sympify(expand(a)), sp.sympify(expand(b))
    syms = sorted(ea.free_symbols | eb.free_symbols, key=lambda s: s.name)
    return numeric.differ_generically(ea, eb, syms, seed=7, tries=4) is None


def classify(true, claimed, expand, bodies=None, rtol=0.0):
    """The reason ``claimed`` differs from ``true`` (both in names), or a generic one."""
    true, claimed = sp.sympify(true), sp.sympify(claimed)
    et, ec = sp.sympify(expand(true)), sp.sympify(expand(claimed))
    if not et.free_symbols and not ec.free_symbols and not numeric.abstract_functions(et, ec):
        return _numeric(et, ec)
    true, claimed = _common_names(true, claimed, bodies)
    if true != 0 and _same(claimed, -true, expand):
        return "sign"
    offset = sp.expand(claimed - true)
    if offset.is_number and offset != 0:     # 2*x + 10**-30 for 2*x: not a factor
        return f"off by {show(offset)}"
    if true != 0 and claimed != 0:
        r = _ratio(true, claimed, expand, bodies)
        if r is not None:
            return r
    t = _term(true, claimed, expand)
    if t is not None:
        return t
    if claimed == 0:
        return "claimed 0, but the derivative is not 0"
    if true == 0:
        return "the true value is 0"
    return "different expression"


def _common_names(true, claimed, bodies, rounds=10):
    """Write both sides in the same names: a defined name used on one side only (the
    claim's ``delta2_1`` against the derivation's ``yhat_1``) is replaced by its body,
    until the sides share their names, so their ratio can cancel."""
    if bodies is None:
        return true, claimed
    for _ in range(rounds):
        nt = {s for s in true.free_symbols if s in bodies}
        nc = {s for s in claimed.free_symbols if s in bodies}
        only = nt ^ nc
        if not only:
            break
        # replace the latest-defined ones first: they are furthest from the inputs
        order = list(bodies.bodies)
        last = max(only, key=order.index)
        sub = {last: bodies.bodies[last]}
        true, claimed = true.xreplace(sub), claimed.xreplace(sub)
    return true, claimed


def _ratio(true, claimed, expand, bodies):
    r = sp.cancel(sp.together(claimed / true))
    if sp.count_ops(r) > MAX_OPS and bodies is not None:
        r = bodies.fold(r)
    if sp.count_ops(r) > MAX_OPS:
        r = sp.simplify(claimed / true)
    if bodies is not None:
        r = bodies.fold(r)      # back to names: sigmoid(W1_11*x_1 + ...) -> a1_1
    if sp.count_ops(r) > MAX_OPS or r == 1:
        return None
    if not _same(claimed, r * true, expand):
        return None
    num, den, negative = _normalized(r)
    sign = "sign and " if negative else ""
    if r.is_number:
        if num == 1:
            return f"{sign}missing factor {den}"
        if den == 1:
            return f"{sign}extra factor {num}"
        return f"{sign}wrong factor {r}"
    if den == 1:
        return f"{sign}extra factor {_named(num, bodies)}"
    if num == 1:
        return f"{sign}missing factor {_named(den, bodies)}"
    if sp.count_ops(num) > 6 or sp.count_ops(den) > 6:
        return None          # not a simple factor: the term analysis says more
    return f"{sign}factor {_named(den, bodies)} replaced by {_named(num, bodies)}"


def _normalized(r):
    """(numerator, denominator, negative) of a ratio, with a minus sign absorbed into a
    factor such as (yhat - 1) → (1 - yhat) when there is one, as textbooks write it."""
    num, den = sp.fraction(sp.factor(r))
    parts = [list(sp.Mul.make_args(num)), list(sp.Mul.make_args(den))]
    negative = False
    for part in parts:
        for k, f in enumerate(part):
            if f.is_number and f < 0:
                part[k] = -f
                negative = not negative
    if negative:
        for part in parts:
            adds = [k for k, f in enumerate(part) if f.is_Add]
            if adds:
                part[adds[0]] = -part[adds[0]]
                negative = False
                break
    for part in parts:       # (yhat - 1) and (1 - yhat) in one factor pair: prefer 1 - yhat
        for k, f in enumerate(part):
            if f.is_Add and f.could_extract_minus_sign():
                others = [j for j, g in enumerate(part) if j != k and g.is_Add
                          and g.could_extract_minus_sign()]
                if others:
                    part[k], part[others[0]] = -f, -part[others[0]]
    return sp.Mul(*parts[0]), sp.Mul(*parts[1]), negative


def _named(factor, bodies):
    """Say ``(= sigmoid'(z))`` when a factor is a definition's derivative in names:
    the classic "σ' applied twice" then reads as such."""
    text = show(factor)
    if bodies is None or factor.is_Symbol:
        return text
    for sym, body in bodies.bodies.items():
        if not (isinstance(body, sp.Function) and len(body.args) == 1):
            continue
        fname = functions.canonical(type(body).__name__)
        if fname not in functions.ELEMENTWISE:
            continue
        d = bodies.fold(functions.apply(fname, 1, body.args[0]))
        if d != 0 and sp.expand(d - factor) == 0:
            return f"{text} (= {fname}'({show(body.args[0])}))"
    return text


def _term(true, claimed, expand):
    for whole, part, word in ((true, claimed, "missing"), (claimed, true, "extra")):
        terms = sp.Add.make_args(sp.expand(whole))
        if len(terms) < 2 or len(terms) > 12:
            continue
        for term in terms:
            if sp.count_ops(term) <= MAX_OPS and _same(part, whole - term, expand):
                return f"{word} term {show(term)}"
    d = sp.expand(claimed - true)
    if d.free_symbols and sp.count_ops(d) <= 6:
        return f"off by {show(d)}"
    return None


def _numeric(true, claimed):
    a, b, _ = numeric.same(true, claimed, {})
    if a is None or b is None:
        return "a side is undefined"
    if a.is_zero:
        return "wrong value: the true value is 0"
    # exact, as the verdict: -1.0000001 times the true value is not a sign error.
    # Only 2 is a telling ratio between two numbers (the ½ of a squared error lost or
    # doubled); any other ratio between two numbers is more likely a coincidence
    for factor, why in ((-1, "sign"), (2, "extra factor 2"),
                        (sp.Rational(1, 2), "missing factor 2")):
        if numeric.same(claimed, factor * true, {})[2]:
            return why
    rel = abs(b - a) / max(abs(a), abs(b))
    if rel == 0:            # equal to every digit computed, proved different (numeric.same)
        return f"rounding: the sides differ beyond {a._prec * 3 // 10} digits " \
               f"(true value {_g(a, 8)})"
    if rel < 0.05:
        return f"rounding: relative error {_g(rel, 2)} (true value {_g(a, 8)})"
    return f"wrong value: the true value is {_g(a, 8)}"


def _g(v, n):
    """``v`` with ``n`` significant digits, also beyond a float's range (10**999).

    >>> _g(sp.Float(2) ** 4000, 3), _g(sp.Float(0.25), 8)
    ('1.32e+1204', '0.25')
    """
    f = float(v)
    if f == 0 or 1e-300 < abs(f) < 1e300:
        return f"{f:.{n}g}"
    m = mpmath.mpf(sp.Float(v)._mpf_)
    text = mpmath.nstr(m, n)
    if len(text) <= 30:
        return text
    return f"{'-' if m < 0 else ''}10^{_g(sp.Float(mpmath.log10(abs(m))), n)}"
