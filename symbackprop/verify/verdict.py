"""The verdict on one claim: holds or not, the correct form, and how it is wrong.

>>> v = Verdict(claim="d(x**2, x) == x", holds=False, lhs=None, rhs=None, correct=2,
...             difference=-1, counterexample=None, reason="missing factor 2")
>>> v.to_dict()["reason"]
'missing factor 2'
"""

from dataclasses import dataclass, field

import sympy as sp

from symbackprop.verify.printing import show


@dataclass
class Verdict:
    """What ``sb.verify`` returns.

    - ``holds``: the claim is true (everywhere, or at ``at``, within ``rtol``).
    - ``lhs``, ``rhs``: both sides as parsed and evaluated (sympy, in the claim's names;
      a derivative already taken).
    - ``correct``: the true value of the left side (of the right side when only it holds a
      ``d(...)``), simplified, in the claim's own names.
    - ``difference``: claimed − true, simplified (0 when the claim holds).
    - ``counterexample``: ``{variable: value}`` where the sides differ, with
      ``.lhs_value`` and ``.rhs_value`` (both sides there); None when it holds.
    - ``reason``: one line ("sign", "missing factor x", ...) or None when it holds.
    """

    claim: str
    holds: bool
    lhs: object
    rhs: object
    correct: object
    difference: object
    counterexample: object
    reason: object
    name: object = None
    rtol: float = 0.0
    reference: str = "lhs"
    notes: list = field(default_factory=list)
    atol: float = 0.0
    links: list = None          # a chain's links: one Verdict each
    link_texts: list = None
    link: int = None            # the first failing link (1-based)
    link_text: str = None

    def __bool__(self):
        return bool(self.holds)

    def explain(self):
        """A few lines a person reads: ✓/✗, the correct form, the counterexample.

        >>> print(Verdict("a == a", True, None, None, 1, 0, None, None).explain())
        ✓ a == a
        """
        head = ("✓ " if self.holds else "✗ ") + (f"{self.name}: " if self.name else "") \
            + self.claim
        lines = [head]
        if not self.holds:
            side = "left" if self.reference == "lhs" else "right"
            if self.reason:
                lines.append(f"  reason:         {self.reason}")
            cx = self.counterexample
            correct, difference = self.correct, self.difference
            label = ""
            if isinstance(correct, sp.MatrixBase) and cx is not None and cx.element:
                # a whole matrix is unreadable in a terminal: show the element that differs
                i, j = cx.element
                label = f", element {cx.element}"
                correct = correct[i - 1, j - 1]
                if isinstance(difference, sp.MatrixBase):
                    difference = difference[i - 1, j - 1]
            lines.append(f"  correct ({side}{label}): {show(correct)}")
            if difference is not None:
                lines.append(f"  claimed − true{label}: {show(difference)}")
            if cx is not None:
                at = ", ".join(f"{k} = {v}" for k, v in cx.items()) or "(no variables)"
                where = f" element {cx.element}" if cx.element else ""
                lines.append(f"  counterexample: {at}{where}: left side = {_num(cx.lhs_value)}, "
                             f"right side = {_num(cx.rhs_value)}")
                if cx.functions:
                    lines.append("    with " + ", ".join(f"{f} = {b}" if "(" in f else f"{f}(u) = {b}"
                                                         for f, b in cx.functions.items()))
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def to_dict(self):
        """JSON-ready: the fields as strings and plain numbers.

        ``counterexample`` is ``{variable: value}`` plus ``lhs_value``/``rhs_value`` beside
        it (and ``element``/``functions`` when they apply).
        """
        cx = self.counterexample
        d = {
            "name": self.name,
            "claim": self.claim,
            "holds": bool(self.holds),
            "lhs": show(self.lhs),
            "rhs": show(self.rhs),
            "correct": show(self.correct),
            "difference": show(self.difference),
            "counterexample": dict(cx) if cx is not None else None,
            "lhs_value": cx.lhs_value if cx is not None else None,
            "rhs_value": cx.rhs_value if cx is not None else None,
            "reason": self.reason,
        }
        if cx is not None and cx.element:
            d["element"] = list(cx.element)
        if cx is not None and cx.functions:
            d["functions"] = cx.functions
        return d


def _num(v):
    return f"{v:.8g}" if isinstance(v, float) else str(v)
