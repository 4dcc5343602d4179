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
            msg += f"\n  {self.text}"
            if self.col is not None:
                msg += "\n  " + " " * (self.col - 1) + "^"
        return msg

    def __str__(self):
        return self.args[0]


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
