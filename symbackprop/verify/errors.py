"""Errors of verify: all are ``VerifyError`` (so all are ``SymbackpropError``).

Each message names what is wrong, which text it was in (the claim or the definition),
the column for syntax errors (with a caret under the text), and the file and line once the
file runner knows them.

>>> e = ClaimSyntaxError("unexpected ')'", text="d(L, w)) == 0", col=8)
>>> print(e)
unexpected ')' at column 8
  d(L, w)) == 0
         ^
"""

from symbackprop.errors import VerifyError

#: the longest piece of a claim quoted in a message
EXCERPT_CHARS = 120


class ClaimError(VerifyError):
    """A claim or definition cannot be read; knows its text, column, file and line."""

    def __init__(self, message, text=None, col=None, where=None):
        self.message = message
        self.text = text
        self.col = col
        self.where = where      # "claim 'grad_w'" or "definition of 'yhat'"
        self.file = None
        self.line = None
        super().__init__(self._render())

    def locate(self, file=None, line=None, where=None):
        """Add the file, line and the claim's name once the caller knows them."""
        self.file = file if file is not None else self.file
        self.line = line if line is not None else self.line
        self.where = self.where or where
        self.args = (self._render(),)
        return self

    def _render(self):
        head = ""
        if self.file is not None:
            head = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        if self.where:
            head += f"{self.where}: "
        msg = head + self.message
        if self.col is not None:
            msg += f" at column {self.col}"
        if self.text is not None:
            shown, col = excerpt(self.text, self.col)
            msg += f"\n  {shown}"
            if col is not None:
                msg += "\n  " + " " * (col - 1) + "^"
        return msg

    def __str__(self):
        return self.args[0]


def excerpt(text, col=None, width=EXCERPT_CHARS):
    """At most ``width`` characters of ``text`` around column ``col`` (1-based), and the
    column within the excerpt: a 100 000-character claim must not fill the terminal.

    >>> excerpt("a" * 50 + "b" + "c" * 50, col=51, width=11)
    ('…aaaaabccccc…', 7)
    """
    text = text.replace("\n", " ")
    if len(text) <= width:
        return text, col
    start = max(0, min((col or 1) - 1 - width // 2, len(text) - width))
    shown = text[start:start + width]
    lead = "…" if start > 0 else ""
    tail = "…" if start + width < len(text) else ""
    return lead + shown + tail, (col - start + len(lead) if col is not None else None)


class ClaimSyntaxError(ClaimError):
    """Text that neither claim language can parse (sympy syntax or LaTeX)."""


class UndefinedName(ClaimError):
    """A name that is neither defined nor used by any definition, or an unknown function."""


class CyclicDefinitions(ClaimError):
    """Definitions that depend on themselves: ``a: b + 1``, ``b: 2*a``."""


class NotAnEquation(ClaimError):
    """A claim without ``==`` (or ``=`` in LaTeX): there is nothing to check."""


class ShapeMismatch(ClaimError):
    """A definition whose shapes do not fit (``W @ x`` with W 3×2 and x 3×1)."""


class DerivationFileError(ClaimError):
    """A derivation file that is not valid YAML or not of the documented form."""


class TooLarge(ClaimError):
    """Input beyond a limit of ``limits.py``: a number, exponent, nesting depth, size or
    length the checker refuses before asking sympy to build it."""


class BadArgument(ClaimError, TypeError):
    """An argument of ``verify`` of the wrong type or value; the message names it."""
