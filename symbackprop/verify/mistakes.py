r"""What kind of mistake a failing claim makes, in words, beyond ``reason.py``'s one line.

Two mistakes are seen only in the claim's structure or the derivation's definitions:

- a **self-referential chain rule**: the derivative being derived appears on its own right
  side (``\frac{\partial L}{\partial z_2} = \frac{\partial L}{\partial z_2} \cdot
  \frac{\partial z_2}{\partial z_1}``);
- a **missing chain-rule factor**: the claim is short by exactly one local derivative
  ∂u/∂v of the derivation (u defined from v), named as such.

``describe`` turns any reason into a sentence (sign, missing/extra factor, a factor
swapped for another variable, a missing term, a numeric slip).

>>> from symbackprop.verify.parse import parse_claim
>>> self_reference(parse_claim("d(L, z) == d(L, z) * d(z, w)"))
'self-referential chain rule: d(L, z) appears on both sides'
>>> describe("sign")
'sign error: the claimed side is the negative of the true one'
"""

import sympy as sp

from symbackprop.verify import numeric
from symbackprop.verify import tree as t
from symbackprop.verify.printing import show

#: local derivatives tried as the missing chain-rule factor (small derivations have tens)
MAX_PAIRS = 80


def self_reference(eq):
    """The self-referential chain rule's reason, or None."""
    for side, other in ((eq.lhs, eq.rhs), (eq.rhs, eq.lhs)):
        if isinstance(side, t.Derivative):
            key = t.show(side)
            if any(isinstance(n, t.Derivative) and t.show(n) == key for n in t.walk(other)):
                return f"self-referential chain rule: {key} appears on both sides"
    return None


def chain_factor(true, claimed, bodies, expand):
    """``the chain-rule factor d(u, v)`` when ``true`` is ``claimed`` times
    one local derivative of the derivation; else None."""
    if bodies is None or claimed == 0:
        return None
    et, ec = sp.sympify(expand(true)), sp.sympify(expand(claimed))
    pairs = [(u, v) for u, body in bodies.bodies.items()
             for v in sorted(body.free_symbols, key=lambda s: s.name)][:MAX_PAIRS]
    for u, v in pairs:
        d = bodies.derivative(u, v)
        if d == 0 or d == 1 or d.is_Symbol:
            continue        # a single variable is named plainly by the reason already
        cand = sp.sympify(expand(claimed * d))
        syms = sorted(et.free_symbols | cand.free_symbols, key=lambda s: s.name)
        if numeric.differ_generically(et, cand, syms, seed=3, tries=3) is None:
            return f"the chain-rule factor d({u}, {v})"
    return None


_WORDS = (
    ("self-referential", "the derivative is defined by itself: the chain rule must go "
                         "through the quantities it depends on, not through itself"),
    ("missing factor", "a chain-rule factor is missing"),
    ("sign and", "sign error, and a factor is wrong"),
    ("sign", "sign error: the claimed side is the negative of the true one"),
    ("missing factor", "a factor is missing"),
    ("extra factor", "an extra factor"),
    ("wrong factor", "a wrong constant factor"),
    ("factor", "a factor is swapped for another quantity"),
    ("missing term", "a term is missing"),
    ("extra term", "an extra term"),
    ("off by", "the sides differ by a term"),
    ("rounding", "a numeric slip in the digits"),
    ("wrong value", "a wrong number"),
    ("transposed", "a transpose is misplaced"),
    ("shape", "the shapes differ"),
    ("claimed 0", "the claim says 0"),
)


def describe(reason):
    """One sentence for a reason (a chain's ``link k of n (...): why`` included).

    >>> describe("link 2 of 3 (a = b): factor w_2 replaced by w_1")
    'link 2 of 3 is wrong: a factor is swapped for another quantity (factor w_2 replaced by w_1)'
    """
    if not reason:
        return None
    prefix = ""
    if reason.startswith("link ") and "): " in reason:
        head, reason = reason.split("): ", 1)
        prefix = head.split(" (", 1)[0] + " is wrong: "
    for start, words in _WORDS:
        if start == "missing factor" and "chain-rule factor" not in reason:
            continue
        if reason.startswith(start):
            detail = "" if reason == start else f" ({reason})"
            if start == "sign":
                detail = ""
            return prefix + words + detail
    return prefix + f"the sides differ ({reason})"
