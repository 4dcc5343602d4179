"""The verdict on one claim: holds or not, the correct form, and how it is wrong.

>>> v = Verdict(claim="d(x**2, x) == x", holds=False, lhs=None, rhs=None, correct=2,
...             difference=-1, counterexample=None, reason="missing factor 2")
>>> v.to_dict()["reason"]
'missing factor 2'
"""

from dataclasses import dataclass, field

import sympy as sp

from symbackprop.verify import mistakes
from symbackprop.verify.parse import is_latex
from symbackprop.verify.printing import latex, show


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
    texts: tuple = None         # the source text of each side (for the corrected line)

    def __bool__(self):
        return bool(self.holds)

    def mistake(self):
        """The kind of mistake in words (None when the claim holds); see ``mistakes.py``."""
        return None if self.holds else mistakes.describe(self.reason)

    def corrected(self):
        r"""The claim with its derived side replaced by the true value: a line to paste back
        (LaTeX for a LaTeX claim, sympy syntax otherwise).  None when it holds.

        >>> from symbackprop.verify import verify
        >>> verify(r"\frac{d}{dx} x^3 = 2x").corrected()
        '\\frac{d}{dx} x^3 = 3 x^{2}'
        """
        if self.holds or self.correct is None:
            return None
        texts = self.texts or ()
        if len(texts) != 2:
            return None
        kept = texts[0] if self.reference == "lhs" else texts[1]
        # the whole claim decides: a failing link "a - y = y - a" of a LaTeX chain has no
        # backslash of its own, and must still come back as LaTeX
        if is_latex(self.claim) or is_latex(self.link_text or ""):
            value = latex(self.correct)
            rel = "="
        else:
            value = show(self.correct)
            rel = "=="
        if self.reference == "lhs":
            prefix = self._chain_prefix()
            if prefix is not None:      # a chain: its links up to the failing one, fixed
                return f" {rel} ".join(prefix + [value])
        return f"{kept} {rel} {value}" if self.reference == "lhs" else f"{value} {rel} {kept}"

    def _chain_prefix(self):
        r"""The sides of a one-line chain up to the failing link's left side, or None (not
        a chain, a block of several lines, or a side whose text is unknown).

        >>> from symbackprop.verify import verify
        >>> print(verify(r"\frac{d}{dx} x^2 = 2x = 3x").corrected())
        \frac{d}{dx} x^2 = 2x = 2 x
        """
        if not self.links or not self.link or r"\begin" in self.claim:
            return None
        sides = []
        for k, v in enumerate(self.links[:self.link], 1):
            texts = v.texts or ()
            if len(texts) != 2:
                return None
            if not sides:
                sides.append(texts[0])
            if k < self.link:
                sides.append(texts[1])
        return sides

    def explain(self, detail=True):
        """A few lines a person reads: ✓/✗, the correct form, the counterexample; with
        ``detail`` also the kind of mistake in words, the corrected line and each link of a
        chain.

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
            if detail and self.mistake():
                lines.append(f"  mistake:        {self.mistake()}")
            if detail and self.corrected():
                lines.append(f"  corrected:      {self.corrected()}")
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
            if cx is not None and cx.indices:
                lines.append(f"    at index values {cx.indices}")
        if detail and self.links:
            for k, (link, text) in enumerate(zip(self.links, self.link_texts or []), 1):
                lines.append(f"  link {k}: {'✓' if link.holds else '✗'} {text}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def _repr_html_(self):
        from symbackprop.render.notebook import verdict_html
        return verdict_html(self)

    def _repr_latex_(self):
        from symbackprop.render.notebook import verdict_latex
        return verdict_latex(self)

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
            "mistake": self.mistake(),
            "corrected": self.corrected(),
        }
        if self.links:
            d["links"] = [{"text": text, "holds": bool(link.holds), "reason": link.reason}
                          for link, text in zip(self.links, self.link_texts or [])]
            d["link"] = self.link
            d["link_text"] = self.link_text
        if cx is not None and cx.indices:
            d["indices"] = cx.indices
        if cx is not None and cx.element:
            d["element"] = list(cx.element)
        if cx is not None and cx.functions:
            d["functions"] = cx.functions
        return d


def _num(v):
    return f"{v:.8g}" if isinstance(v, float) else str(v)
