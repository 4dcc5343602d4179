"""The checker's limits, in one place, and the checks that apply them.

sympy and Python compute whatever they are asked to, however large: ``10**(10**10)`` is a
ten-billion-digit integer, ``1e999999999`` a billion-digit ``Fraction``, 5000 nested
parentheses a ``RecursionError``, a 10⁹×10⁹ matrix a billion symbols.  Every text, number,
exponent, nesting and size is therefore checked here *before* it is built, and anything
beyond a limit is a ``TooLarge`` error that says what was too large and where.  The values
are far above anything a derivation needs and low enough that every check ends in seconds.

>>> check_literal("1e999999999", col=6)
Traceback (most recent call last):
...
symbackprop.verify.errors.TooLarge: number 1e999999999 too large: at most 1000 digits at column 6
"""

import math
from fractions import Fraction

import sympy as sp

from symbackprop.verify import tree as t
from symbackprop.verify.errors import TooLarge

#: characters in one claim or definition.  A textbook formula is under 300; an expanded
#: per-element form pasted from ``sb.expand`` a few thousand.  Parsing is linear, but what
#: follows (sympy, the chain rule, numeric checks) is not.
MAX_TEXT_CHARS = 10_000

#: nested brackets ``( [ {`` in one text.  Formulas nest under 10; the limit is checked by
#: a scan before parsing, so no parser or tree walk ever recurses this deep.
MAX_NESTING = 50

#: levels of the parsed tree.  A sum of n terms is n levels (the parser nests left to
#: right), so this bounds written-out sums too.  Python allows 1000 frames and reading one
#: level costs up to 3 (lark's transformer, the evaluator, sympy's printer).
MAX_DEPTH = 200

#: decimal digits of any exact number: a literal, or one computed from literals
#: (numerator and denominator each).  Python itself refuses to read integers over 4300
#: digits; 1000 is far beyond any constant of a derivation, and the numeric check's
#: working precision grows with it (``numeric.working_digits``).
MAX_DIGITS = 1000

#: absolute value of a numeric exponent (``x**1000``, ``10**-30``).  A power tower such as
#: ``2**2**2**2**2**2`` is caught at the step whose exponent (65536) exceeds it, before
#: sympy computes the 10^19728-digit result.
MAX_EXPONENT = 1000

#: derivatives taken one after the other on a path of a claim (``d(d(f, x), x)`` is 2,
#: ``sigmoid''(z)`` is 2).  Textbooks take first and second derivatives; each order
#: multiplies the size of the expression (the 10th of sigmoid takes 6 s to check).
MAX_ORDER = 4

#: elements of one vector or matrix (a declared shape or any intermediate result, an
#: outer product included).  verify checks every element as a scalar claim (20 ms for
#: ``2*W``, seconds for an element of an expanded network); a misplaced transpose or a
#: missing factor shows at sizes 2 to 4.
MAX_ELEMENTS = 256

#: bytes of a derivation file: a page of formulas is a few kB.
MAX_FILE_BYTES = 1_000_000


def check_text(text, what="text"):
    """Length and bracket nesting of a claim or definition text, before any parsing.

    >>> try:
    ...     check_text("(" * 60 + "x" + ")" * 60, "claim")
    ... except TooLarge as e:
    ...     print(str(e).splitlines()[0])
    claim nested too deeply: 51 levels of brackets (at most 50) at column 51
    """
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise TooLarge(f"{what} nested too deeply: {depth} levels of brackets "
                               f"(at most {MAX_NESTING})", text=text, col=i + 1)
        elif ch in ")]}":
            depth -= 1
    if len(text) > MAX_TEXT_CHARS:
        raise TooLarge(f"{what} too long: {len(text)} characters (at most {MAX_TEXT_CHARS})",
                       text=text)


def check_depth(tree, text, what="text"):
    """Depth of a parsed lark tree, walked without recursion, before anything recurses on it.

    >>> from lark import Tree
    >>> check_depth(Tree("neg", [Tree("neg", ["x"])]), "--x")
    """
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            col = getattr(getattr(node, "meta", None), "column", None)
            raise TooLarge(f"{what} nested too deeply: more than {MAX_DEPTH} levels of "
                           f"operations", text=text, col=col)
        for child in getattr(node, "children", ()):
            stack.append((child, depth + 1))


def check_order(node, text=None):
    """The order of derivatives along any path of a claim tree (``tree.py`` nodes).

    >>> from symbackprop.verify.syntax import parse
    >>> check_order(parse("d(d(x**3, x), x) == 6*x"))
    """
    stack = [(node, 0)]
    while stack:
        n, order = stack.pop()
        if isinstance(n, t.Derivative):
            order += 1
        elif isinstance(n, t.Call):
            order += n.primes
        if order > MAX_ORDER:
            raise TooLarge(f"derivative of order {order}: at most {MAX_ORDER}", text=text,
                           col=getattr(n, "col", None) or None)
        stack.extend((c, order) for c in _children(n))


def _children(n):
    if isinstance(n, t.Call):
        return n.args
    if isinstance(n, t.Derivative):
        return (n.f, n.v)
    if isinstance(n, t.Binary):
        return (n.left, n.right)
    if isinstance(n, t.Equation):
        return (n.lhs, n.rhs)
    if isinstance(n, t.Unary):
        return (n.arg,)
    return ()


def check_literal(token, col=None, text=None):
    """A number literal as written (``123``, ``0.5``, ``1e-30``), before it is converted:
    ``Fraction("1e999999999")`` would build a billion-digit integer.

    >>> check_literal("1e-30") is None
    True
    """
    mantissa, _, exponent = token.lower().partition("e")
    size = len(mantissa.replace(".", "").lstrip("0")) or 1
    exp = exponent.lstrip("+-").lstrip("0")
    # an exponent with more digits than MAX_DIGITS has is too large without converting it
    if len(exp) > len(str(MAX_DIGITS)) or size + (int(exp) if exp else 0) > MAX_DIGITS:
        raise TooLarge(f"number {_short(token)} too large: at most {MAX_DIGITS} digits",
                       text=text, col=col)


def digits(r):
    """Decimal digits of the larger of numerator and denominator (from the bit length, so
    cheap for any size).

    >>> digits(Fraction(1, 10**30)), digits(sp.Integer(7))
    (31, 1)
    """
    p, q = (r.numerator, r.denominator) if isinstance(r, Fraction) else (r.p, r.q)
    return max(abs(p).bit_length(), q.bit_length()) * 30103 // 100000 + 1


def check_number(value, col=None, text=None):
    """An exact number computed from literals (the result of ``+ - * /``), and the
    numeric coefficient of a symbolic one (``10**999 * x * 10**999``)."""
    for r in _coefficients(value):
        if digits(r) > MAX_DIGITS:
            raise TooLarge(f"number with about {digits(r)} digits: at most {MAX_DIGITS} "
                           f"digits", text=text, col=col)


def _coefficients(value):
    if isinstance(value, sp.MatrixBase):
        return [c for e in value for c in _coefficients(e)]
    if isinstance(value, Fraction):
        return [value]
    if not isinstance(value, sp.Expr):
        return []
    if value.is_Rational:
        return [value]
    out = []
    c, _ = value.as_coeff_Add()
    if c.is_Rational:
        out.append(c)
    c, _ = value.as_coeff_Mul()
    if c.is_Rational:
        out.append(c)
    return out


def check_power(base, exponent, col=None, text=None):
    """``base ** exponent`` before sympy computes it: a numeric exponent of at most
    ``MAX_EXPONENT``, and a numeric result of at most ``MAX_DIGITS`` digits.

    >>> check_power(sp.Integer(10), sp.Integer(-30)) is None
    True
    >>> check_power(sp.Integer(10), sp.Integer(10)**10)
    Traceback (most recent call last):
    ...
    symbackprop.verify.errors.TooLarge: exponent 10000000000 too large: at most 1000
    """
    exps = [e for e in _elements(exponent) if isinstance(e, sp.Expr) and e.is_Rational]
    if not exps:
        return          # a symbolic exponent: nothing is computed until a point is chosen
    e = max(abs(x) for x in exps)
    if e > MAX_EXPONENT:
        raise TooLarge(f"exponent {_short(e)} too large: at most {MAX_EXPONENT}",
                       text=text, col=col)
    coeffs = [c for b in _elements(base) for c in _coefficients(b) if abs(c) != 1]
    size = max((_log10(c) for c in coeffs), default=0) * e
    if size > MAX_DIGITS:
        raise TooLarge(f"power with about {int(size)} digits: at most {MAX_DIGITS} digits",
                       text=text, col=col)


def _log10(r):
    """log10 of the larger of |numerator| and denominator (math.log10 takes any int)."""
    return max(math.log10(abs(r.p)) if r.p else 0, math.log10(r.q))


def check_exponents(value, col=None, text=None):
    """The numeric exponents in a power's result: sympy folds ``(x**1000)**1000`` into
    ``x**1000000``, whose value at a point would have millions of digits."""
    for e in _elements(value):
        if not isinstance(e, sp.Expr):
            continue
        for p in e.atoms(sp.Pow):
            if p.exp.is_Rational and abs(p.exp) > MAX_EXPONENT:
                raise TooLarge(f"exponent {_short(p.exp)} too large: at most {MAX_EXPONENT}",
                               text=text, col=col)


def _elements(v):
    return list(v) if isinstance(v, sp.MatrixBase) else [v]


def _short(n):
    text = str(n)
    return text if len(text) <= 30 else f"{text[:12]}… ({len(text)} characters)"


def check_elements(rows, cols, what="a value", text=None, col=None):
    """Elements of a vector or matrix before it is built.

    >>> check_elements(10**9, 10**9, "W")
    Traceback (most recent call last):
    ...
    symbackprop.verify.errors.TooLarge: W would have 1000000000000000000 elements (1000000000×1000000000): at most 256
    """
    if rows * cols > MAX_ELEMENTS:
        raise TooLarge(f"{what} would have {rows * cols} elements ({rows}×{cols}): at most "
                       f"{MAX_ELEMENTS}", text=text, col=col)
