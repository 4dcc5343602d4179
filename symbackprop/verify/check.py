"""``verify``: parse a claim, evaluate both sides among the definitions, and judge.

The judgement is on the fully expanded sides (both written in the inputs only), at
random generic points: exact by default (``numeric.same``), or within ``rtol``.  Input
beyond ``limits.py`` is refused before sympy builds it; sympy's simplifications run under
the CPU-time budgets of ``budget.py``.
The reporting (``correct``, ``difference``, ``reason``) works in the claim's own names.

>>> v = verify("d(L, w) == (yhat - y) * yhat * (1 - yhat) * x",
...            define={"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"})
>>> v.holds
True
>>> v = verify("d(L, w) == (yhat - y) * x",
...            define={"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"})
>>> v.holds, v.reason
(False, "missing factor yhat*(1 - yhat) (= sigmoid'(z)): the chain-rule factor d(yhat, z)")
"""


import numbers
import re
from fractions import Fraction

import sympy as sp

from symbackprop.verify import (arguments, budget, indices, limits, mistakes, numeric, reason,
                                values)
from symbackprop.verify import tree as t
from symbackprop.verify.errors import ClaimError, TooLarge, VerifyError
from symbackprop.verify.parse import is_latex, parse_claim, parse_name
from symbackprop.verify.verdict import Verdict
from symbackprop.verify.world import World

MAX_SIMPLIFY_OPS = 60      # above this, shown as derived (factor/simplify get slow)
MAX_FULL_SIMPLIFY_OPS = 40  # above this, only factor()

#: an ``at`` value: an int, a decimal, scientific notation, or a fraction p/q
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(/\d+)?")


def verify(claim, define=None, assume=None, *, at=None, shapes=None, sizes=None, rtol=0.0,
           name=None, world=None, functions=None, **unknown):
    """Check one claim; returns a ``Verdict`` (see its fields).

    - ``claim``: ``"LHS == RHS"`` in sympy syntax, or LaTeX (``=``); a chain ``a = b = c``
      or an aligned block is judged link by link (``Verdict.links``).
    - ``define``: ``{name: expression}`` (either syntax; keys may be LaTeX names).
    - ``assume``: ``{name: "positive" | "nonnegative" | "negative" | "nonzero"}``.
    - ``at``: ``{name: number}`` (a nested list for a matrix): judge at this point only.
    - ``shapes``: ``{name: [rows, cols]}`` with ints or size names; ``sizes`` fixes sizes.
    - ``functions``: ``{name: number of arguments}``: abstract functions with longer names.
    - ``rtol``: relative tolerance for numbers (default 0: exact).
    - ``world``: definitions already read (the file runner shares one across claims).

    A wrong argument is a ``BadArgument`` naming it; input beyond ``limits.py`` (huge
    numbers, deep nesting, long texts, large sizes) is a ``TooLarge``.

    >>> verify("sigmoid(5) == 1").reason
    'rounding: relative error 0.0067 (true value 0.99330715)'
    >>> verify("d(x**2, x) == 2*x + 10**-30").holds
    False
    >>> v = verify(r"\\frac{d}{dx} x^3 = 3x^2 = 2x")
    >>> v.holds, v.link, v.link_text
    (False, 2, '3x^2 = 2x')
    """
    arguments.check_keywords(unknown)
    claim = arguments.check_claim(claim)
    name = arguments.check_name(name)
    at = arguments.check_at(at)
    rtol = arguments.check_rtol(rtol)
    where = f"claim {name!r}" if name else "claim"
    if world is None:
        world = World(arguments.check_define(define), shapes, sizes,
                      arguments.check_assume(assume), functions=functions)
    world.known |= {parse_name(k) if is_latex(str(k)) else str(k) for k in (at or {})}
    tree = parse_claim(claim, where=where, known=world.known, functions=world.functions)
    try:
        world.promote_values(_names(tree))
    except VerifyError as e:
        raise e.locate(where=where) if hasattr(e, "locate") else e
    subs = _at_values(world, at, claim, where)
    if isinstance(tree, (t.Chain, t.Block)):
        return _verify_chain(claim, name, tree, world, subs, rtol, where)
    return _verify_link(claim, name, tree, world, subs, rtol, where)


def _names(tree):
    return {n.name for n in t.walk(tree) if isinstance(n, t.Name)}


def _verify_chain(claim, name, tree, world, subs, rtol, where):
    """Each link of a chain on its own; the chain holds when every link does, and the
    first failing link is the verdict's (its text, index, correct side and point)."""
    links = tree.links()
    verdicts = []
    for k, (eq, text) in enumerate(links, 1):
        verdicts.append(_verify_link(text or claim, None, eq, world, subs, rtol,
                                     f"{where}, link {k} ({text})"))
    failing = [k for k, v in enumerate(verdicts) if not v.holds]
    first, last = verdicts[0], verdicts[-1]
    common = dict(claim=claim, name=name, lhs=first.lhs, rhs=last.rhs, links=verdicts,
                  link_texts=[text for _, text in links])
    if not failing:
        return Verdict(holds=True, correct=first.correct, difference=sp.S.Zero,
                       counterexample=None, reason=None, rtol=first.rtol,
                       reference=first.reference, **common)
    k = failing[0]
    v = verdicts[k]
    reason = f"link {k + 1} of {len(links)} ({links[k][1]}): {v.reason or 'does not hold'}"
    return Verdict(holds=False, correct=v.correct, difference=v.difference,
                   counterexample=v.counterexample, reason=reason, rtol=v.rtol,
                   reference=v.reference, link=k + 1, link_text=links[k][1], texts=v.texts,
                   **common)


def _verify_link(claim, name, tree, world, subs, rtol, where):
    """One equation: both sides evaluated (for every value of its free indices) and judged."""
    strict = bool(world.defined) and world.mentions_definition(tree)
    free = indices.free_indices(world, tree)
    tol = rtol
    atol = _approx_atol(tree)
    empty = sorted(c for c, r in (free or {}).items() if not len(r))
    if empty:       # x_{j+4} of a 4-vector: no value of j, and no claim to judge
        raise ClaimError(f"no value of the index {empty[0]} keeps every element it picks "
                         f"in range (shifted too far?)", text=claim, where=where)
    if free:
        envs = list(indices.assignments(free))
        pairs = [(world.evaluate(tree.lhs, text=claim, where=where, strict=strict, env=env),
                  world.evaluate(tree.rhs, text=claim, where=where, strict=strict, env=env))
                 for env in envs]
        if any(values.shape(a) or values.shape(b) for a, b in pairs):
            raise VerifyError(f"{where}: with free indices ({', '.join(sorted(free))}) both "
                              f"sides must be scalars")
        lhs = sp.ImmutableMatrix([[a] for a, _ in pairs])
        rhs = sp.ImmutableMatrix([[b] for _, b in pairs])
        labels = [", ".join(f"{c} = {env[c]}" for c in sorted(env)) for env in envs]
    else:
        lhs = world.evaluate(tree.lhs, text=claim, where=where, strict=strict)
        rhs = world.evaluate(tree.rhs, text=claim, where=where, strict=strict)
        labels = None
    try:
        v = _judge(claim, name, tree, world, lhs, rhs, subs, tol, atol, labels)
    except TooLarge as e:       # met while evaluating (numeric.py): name the claim
        if e.text is not None:
            raise
        raise TooLarge(e.message, text=claim, where=where) from None
    if not v.holds:
        _refine_reason(v, tree, world, subs)
    v.texts = getattr(tree, "texts", None) or v.texts
    return v


def _refine_reason(v, tree, world, subs):
    """Mistakes seen in the claim's structure or the definitions (``mistakes.py``)."""
    selfref = mistakes.self_reference(tree)
    if selfref:
        v.reason = selfref
        return
    if v.reason and v.reason.startswith("missing factor") and not values.shape(v.lhs):
        bodies = world.bodies
        true, claimed = (v.lhs, v.rhs) if v.reference == "lhs" else (v.rhs, v.lhs)

        def expand(e):
            return sp.sympify(bodies.expand(sp.sympify(e).xreplace(subs))).xreplace(subs)

        clock = budget.Clock(budget.CALL_SECONDS)
        found = clock.run(mistakes.chain_factor, true, claimed, bodies, expand)
        if found:
            v.reason = f"{v.reason}: {found}"


def _has_derivative(node):
    return any(isinstance(n, t.Derivative) for n in t.walk(node))


def _at_values(world, at, claim, where):
    subs = {}
    for key, val in (at or {}).items():
        key = parse_name(key, where=where) if is_latex(str(key)) else str(key)
        target = world.values.get(key) or world.elements.get(key)
        if target is None:
            try:
                target = world.evaluate(t.Name(key), strict=False)
            except VerifyError as e:
                raise e.locate(where=where) if hasattr(e, "locate") else e
        if values.shape(target):
            rows = val if isinstance(val, (list, tuple)) else None
            try:
                flat = [_number(x) for r in rows for x in (r if isinstance(r, (list, tuple))
                                                               else [r])]
            except TooLarge as e:
                raise TooLarge(f"at {key}: {e.message}", where=where) from None
            except (TypeError, ValueError):
                flat = None
            if flat is None or len(flat) != len(target):
                raise VerifyError(f"{where}: at {key}: expected {len(target)} numbers for "
                                  f"a {values.describe_shape(target)} value")
            subs.update(zip(list(target), flat))
        else:
            try:
                subs[target] = _number(val)
            except TooLarge as e:
                raise TooLarge(f"at {key}: {e.message}", where=where) from None
            except (TypeError, ValueError):
                raise VerifyError(f"{where}: at {key}: {val!r} is not a number") from None
    return subs


def _number(v):
    """An ``at`` value as an exact rational: 0.1 is exactly 1/10, as written."""
    if not arguments.is_number(v):
        raise TypeError(type(v).__name__)
    if isinstance(v, numbers.Rational):          # int, Fraction: sized before printing
        limits.check_number(Fraction(v))
        return sp.Rational(v.numerator, v.denominator)
    text = str(v).strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(text)
    limits.check_literal(text.lstrip("+-").split("/")[0])
    limits.check_literal(text.split("/")[1] if "/" in text else "1")
    return sp.Rational(text)


def _approx_atol(tree):
    r"""``\approx``: the true value within half a unit of the last digit written on the
    right (``\approx -0.20``: within 0.005); 1e-3 relative when the right side is not a
    written decimal.  0 for an ``=``.

    >>> from symbackprop.verify.parse import parse_claim
    >>> _approx_atol(parse_claim(r"x \approx -0.20")), _approx_atol(parse_claim("x == 1"))
    (0.005, 0.0)
    """
    if not tree.approx:
        return 0.0
    rhs = tree.rhs
    while isinstance(rhs, t.Unary) and rhs.op == "neg":
        rhs = rhs.arg
    if isinstance(rhs, t.Number):
        return 0.5 * 10.0 ** -(rhs.decimals or 0)
    return None      # not a written number: judged with a relative 1e-3


def _judge(claim, name, tree, world, lhs, rhs, subs, tol, atol=0.0, labels=None):
    if atol is None:
        tol, atol = max(tol, 1e-3), 0.0
    ref_is_lhs = _has_derivative(tree.lhs) or not _has_derivative(tree.rhs)
    bodies = world.bodies
    # forward values written back as names on both sides (value-preserving), so the
    # difference reads in the claim's names even when a side spells sigmoid(z) for yhat
    lhs = values.elementwise(lambda e: bodies.fold(sp.sympify(e)), lhs)
    rhs = values.elementwise(lambda e: bodies.fold(sp.sympify(e)), rhs)
    true, claimed = (lhs, rhs) if ref_is_lhs else (rhs, lhs)

    def expand(e):
        return sp.sympify(bodies.expand(sp.sympify(e).xreplace(subs))).xreplace(subs)

    verdict = dict(claim=claim, name=name, lhs=lhs, rhs=rhs, rtol=tol, atol=atol,
                   reference="lhs" if ref_is_lhs else "rhs")
    clock = budget.Clock(budget.DISPLAY_SECONDS)     # for reasons and readable forms

    def shown(e):
        """In names; but as a number when ``at`` fixes every input."""
        e = sp.sympify(e).xreplace(subs)
        if subs and not expand(e).free_symbols:
            return _tidy(expand(e), clock)
        return _tidy(e, clock)

    if values.shape(true) != values.shape(claimed):
        return Verdict(holds=False, correct=values.elementwise(shown, true), difference=None,
                       counterexample=None, reason=_shape_reason(true, claimed, expand),
                       **verdict)
    if values.shape(true):
        cells = [(i, j) for i in range(true.shape[0]) for j in range(true.shape[1])]
        pairs = [(true[i, j], claimed[i, j]) for i, j in cells]
    else:
        cells, pairs = [None], [(true, claimed)]
    guards = _guards(tree, world, expand)
    results = []
    for tr, cl in pairs:
        # only the first failing element is classified: reasons cost simplifications
        explain = not any(not r[0] for r in results)
        results.append(_judge_scalar(tr, cl, expand, subs, tol, ref_is_lhs, bodies, explain,
                                     guards, clock, atol))
    holds = all(r[0] for r in results)
    correct = values.elementwise(shown, true)
    if holds:
        return Verdict(holds=True, correct=correct, difference=sp.S.Zero,
                       counterexample=None, reason=None, **verdict)
    diff = values.elementwise(lambda a, b: shown(b - a), true, claimed)
    failing = [(cell, r) for cell, r in zip(cells, results) if not r[0]]
    cell, (_, cx, why) = failing[0]
    if labels is not None:           # free indices: say which values, not which cell
        label = labels[cell[0]]
        if cx is not None:
            cx.indices = label
        why_all = f"{why} (at {label}; {len(failing)} of {len(results)} index values " \
                  f"differ)" if len(results) > 1 else why
        return Verdict(holds=False, correct=correct, difference=diff, counterexample=cx,
                       reason=why_all, **verdict)
    if cx is not None and cell is not None:
        cx.element = (cell[0] + 1, cell[1] + 1)
    if len(failing) == len(results) or cell is None:
        why_all = why
    else:
        why_all = f"{why} (element {cell[0] + 1},{cell[1] + 1}; {len(failing)} of " \
                  f"{len(results)} elements differ)"
    return Verdict(holds=False, correct=correct, difference=diff, counterexample=cx,
                   reason=why_all, **verdict)


def _guards(tree, world, expand):
    """The forward values a claim is about (its defined names and what they use), expanded:
    a counterexample must be a point where all of them are defined."""
    syms = set()
    for node in t.walk(tree):
        if isinstance(node, t.Name):
            v = world.values.get(node.name) or world.elements.get(node.name)
            if v is not None:
                syms |= set(v) if values.shape(v) else {v}
    out = set()
    for s in syms:
        if s in world.bodies:
            out.add(s)
            out |= {a for a in world.bodies.ancestors(s) if a in world.bodies}
    return [expand(s) for s in sorted(out, key=lambda s: s.name)]


def _judge_scalar(true, claimed, expand, subs, tol, ref_is_lhs, bodies, explain=True,
                  guards=(), clock=None, atol=0.0):
    """(holds, counterexample Point or None, reason) for one pair of scalar sides."""
    et, ec = expand(true), expand(claimed)
    left, right = (et, ec) if ref_is_lhs else (ec, et)
    syms = sorted(et.free_symbols | ec.free_symbols, key=lambda s: s.name)
    fs = numeric.abstract_functions(et, ec)
    clock = clock or budget.Clock(budget.DISPLAY_SECONDS)
    if not syms and not fs:
        a, b, agree = numeric.same(left, right, {}, tol, atol=atol)
        if agree is None:
            return False, _fixed_point(subs, a, b), "a side is undefined here"
        if agree:
            return True, None, None
        if atol:
            t_val, c_val = (a, b) if ref_is_lhs else (b, a)
            return False, _fixed_point(subs, a, b), _rounding_reason(t_val, c_val, atol)
        return False, _fixed_point(subs, a, b), clock.run(
            reason.classify, true.xreplace(subs), claimed.xreplace(subs), expand, bodies, tol,
            default="different value")
    found = numeric.differ_generically(left, right, syms, tol, guards=guards, atol=atol)
    if found == "undecided":
        if _simplifies_to_zero(et - ec, tol):
            return True, None, None
    elif found is None:
        return True, None, None
    cx = numeric.find_counterexample(left, right, syms, tol, fallback=found, guards=guards,
                                     atol=atol)
    if cx is not None:
        for s, v in sorted(subs.items(), key=lambda kv: kv[0].name):
            cx[s.name] = numeric.readable(v)
    if not explain:
        return False, cx, None
    why = clock.run(reason.classify, true.xreplace(subs), claimed.xreplace(subs), expand,
                    bodies, tol, default="different expression")
    return False, cx, why


def _rounding_reason(true, claimed, atol):
    """An ``\\approx`` claim whose digits are not the true value's, rounded."""
    import math
    places = max(0, round(-math.log10(2 * atol)))
    return f"rounding: the true value {float(true):.{places + 3}g} is {float(true):.{places}f} to " \
           f"{places} decimals, not {float(claimed):.{places}f}"


def _simplifies_to_zero(difference, tol):
    """When no point could be checked (a side undefined at every point tried), sympy
    decides, within ``budget.DECIDE_SECONDS``; if it cannot, that is an error, not a
    verdict either way."""
    try:
        return budget.within(budget.DECIDE_SECONDS, sp.simplify, difference) == 0
    except budget.OutOfTime:
        raise VerifyError(f"cannot decide: both sides are undefined at every point tried "
                          f"and sympy did not simplify their difference within "
                          f"{budget.DECIDE_SECONDS:g} s") from None


def _fixed_point(subs, a, b):
    p = numeric.Point({s.name: numeric.readable(v)
                       for s, v in sorted(subs.items(), key=lambda kv: kv[0].name)})
    p.lhs_value, p.rhs_value = numeric.readable_pair(a, b)
    return p


def _shape_reason(true, claimed, expand):
    st, sc = values.describe_shape(true), values.describe_shape(claimed)
    if values.shape(true) and values.shape(claimed) and true.shape == claimed.shape[::-1]:
        def same(a, b):
            a, b = expand(a), expand(b)
            syms = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
            return numeric.differ_generically(a, b, syms, tries=3) is None
        if all(same(a, b) for a, b in zip(true.T, claimed)):
            return f"transposed: the true value is {st}, the claimed {sc}"
    return f"shape: the true value is {st}, the claimed {sc}"


def _tidy(e, clock=None):
    """The shortest of e, factor(e), simplify(e) (those done in the ``clock``'s time);
    a number as a 15-digit float."""
    e = sp.sympify(e)
    if e.is_number and not e.has(sp.core.function.AppliedUndef):
        if e.is_Rational:
            return e
        v = numeric.value(e, {})
        return sp.Float(v, 15) if v is not None else e
    best = e
    if sp.count_ops(e) > MAX_SIMPLIFY_OPS:
        return e
    fns = (sp.factor, sp.simplify) if sp.count_ops(e) <= MAX_FULL_SIMPLIFY_OPS else (sp.factor,)
    clock = clock or budget.Clock(budget.DISPLAY_SECONDS)
    for fn in fns:
        try:
            cand = clock.run(fn, e, default=e)
        except Exception:       # sympy can fail on exotic forms; the plain form is fine
            continue
        if sp.count_ops(cand) < sp.count_ops(best):
            best = cand
    return _fewer_minus_signs(best)


def _fewer_minus_signs(e):
    """-2*x*(y - yhat)*(yhat - 1) → 2*x*(1 - yhat)*(y - yhat): minus signs moved between
    the coefficient and the sum factors to leave as few as possible (value unchanged)."""
    if not isinstance(e, sp.Mul):
        return e
    coeff, factors = e.as_coeff_mul()
    adds = [k for k, f in enumerate(factors) if f.is_Add]
    if not adds or len(adds) > 5:
        return e

    def score(x):
        text = str(x)
        return (text.count("-"), text.count(" - 1)"), len(text))

    best, best_score = e, score(e)
    for mask in range(1, 2 ** len(adds)):
        fs = list(factors)
        flipped = 0
        for bit, k in enumerate(adds):
            if mask >> bit & 1:
                fs[k] = -fs[k]
                flipped += 1
        cand = sp.Mul(coeff if flipped % 2 == 0 else -coeff, *fs)
        if score(cand) < best_score:
            best, best_score = cand, score(cand)
    return best
