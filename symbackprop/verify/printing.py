"""Print results in the claim language, so a ``correct`` form can be pasted back as a claim.

Differs from sympy's ``str`` only where sympy's spelling is not claim syntax:
``Heaviside(x, 0)`` → ``step(x)``, ``Max(0, x)`` → ``relu(x)``, derivatives of abstract
functions → ``f'(x)``.

>>> x = sp.Symbol("x")
>>> show(sp.Heaviside(x, 0) * sp.Max(0, x)), show(sp.Function("f")(x).diff(x))
('step(x)*relu(x)', "f'(x)")
"""

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter


class ClaimPrinter(StrPrinter):
    """sympy's str printer with claim-language spellings (see module doc)."""

    def _print_Heaviside(self, e):
        return f"step({self._print(e.args[0])})"

    def _print_Max(self, e):
        if len(e.args) == 2 and sp.S.Zero in e.args:
            other = e.args[0] if e.args[1] == 0 else e.args[1]
            return f"relu({self._print(other)})"
        return "Max(%s)" % ", ".join(self._print(a) for a in e.args)

    def _print_Derivative(self, e):
        f = e.expr
        if isinstance(f, sp.core.function.AppliedUndef) and len(e.variable_count) == 1:
            var, n = e.variable_count[0]
            if len(f.args) == 1 and f.args[0] == var:
                return f"{f.func}{chr(39) * n}({self._print(var)})"
        return super()._print_Derivative(e)

    def _print_Subs(self, e):
        expr, old, new = e.args
        if isinstance(expr, sp.Derivative) and len(old) == 1:
            f = expr.expr
            if isinstance(f, sp.core.function.AppliedUndef) and f.args == (old[0],):
                n = expr.variable_count[0][1]
                return f"{f.func}{chr(39) * n}({self._print(new[0])})"
        return super()._print_Subs(e)


def show(expr):
    """``expr`` in claim syntax (a matrix as a nested list).

    >>> show(sp.ImmutableMatrix([[1, sp.Symbol("a")]]))
    '[[1, a]]'
    """
    if expr is None:
        return None
    if isinstance(expr, sp.MatrixBase):
        return "[" + ", ".join("[" + ", ".join(show(e) for e in expr.row(i)) + "]"
                               for i in range(expr.rows)) + "]"
    return ClaimPrinter().doprint(sp.sympify(expr))


class ClaimLatexPrinter(LatexPrinter):
    """sympy's LaTeX with textbook spellings that the claim parser reads back:
    ``\\sigma(z)``, ``\\sigma'(z)``, ``f'(x)``."""

    _NAMES = {"sigmoid": "\\sigma", "relu": "\\operatorname{ReLU}", "tanh": "\\tanh",
              "softplus": "\\operatorname{softplus}"}

    def _print_Function(self, e, exp=None):
        name = type(e).__name__
        if name in self._NAMES and len(e.args) == 1:
            out = f"{self._NAMES[name]}\\left({self._print(e.args[0])}\\right)"
            return f"{out}^{{{exp}}}" if exp else out
        return super()._print_Function(e, exp)

    def _print_Derivative(self, e):
        f = e.expr
        if isinstance(f, sp.core.function.AppliedUndef) and len(e.variable_count) == 1:
            var, n = e.variable_count[0]
            if len(f.args) == 1 and f.args[0] == var:
                return f"{self._print(f.func)}{chr(39) * n}\\left({self._print(var)}\\right)"
        return super()._print_Derivative(e)

    def _print_Heaviside(self, e, exp=None):
        return f"[{self._print(e.args[0])} > 0]"


def latex(expr):
    r"""``expr`` as LaTeX a claim can hold (a matrix as ``\begin{bmatrix}``).

    >>> latex(sp.Symbol("yhat", real=True) * (1 - sp.Symbol("yhat", real=True)))
    '\\hat{y} \\left(1 - \\hat{y}\\right)'
    """
    if expr is None:
        return None
    return ClaimLatexPrinter().doprint(sp.sympify(expr))
