r"""Which claim language a text is in, and parsing it: the one entry point for text.

The rule: a text with a backslash or a brace is LaTeX (``\hat{y}``, ``y_{true}``);
anything else is sympy syntax.  Both give the same trees (``tree.py``).

>>> from symbackprop.verify.tree import show
>>> show(parse_claim(r"\frac{\partial L}{\partial z} = \hat{y} - y"))
'd(L, z) == (yhat - y)'
>>> show(parse_claim("d(L, z) == yhat - y"))
'd(L, z) == (yhat - y)'
"""

from symbackprop.verify import latex, limits, syntax
from symbackprop.verify import tree as t
from symbackprop.verify.errors import ClaimError, ClaimSyntaxError, NotAnEquation


#: what only sympy syntax writes: a text with braces but one of these is sympy syntax
#: with indexed names (``W_{l} @ a_{l-1}``)
SYMPY_MARKS = ("**", "==", "@", ".T", "Rational(", "sympy.", "sp.")


def is_latex(text):
    r"""True when ``text`` is to be read as LaTeX: it has a backslash, or braces and
    nothing only sympy syntax writes (``**``, ``==``, ``@``, ``.T``).

    >>> is_latex(r"\sigma(z)"), is_latex("y_{true}"), is_latex("sigmoid(z)")
    (True, True, False)
    >>> is_latex("W_{l} @ a_{l-1}")
    False
    """
    if "\\" in text:
        return True
    return "{" in text and not any(m in text for m in SYMPY_MARKS)


def _parse(text, known, functions=None, key=False):
    shaped = getattr(known, "shaped", ())
    limits.check_text(text)        # length and nesting, before a parser sees the text
    if is_latex(text):
        node = latex.parse(text, known, functions, key, shaped)
    else:
        try:
            node = syntax.parse(text)
        except ClaimSyntaxError:
            # "w x + b", "2 x": not sympy syntax, but LaTeX without a command
            try:
                node = latex.parse(text, known, functions, key, shaped)
            except ClaimError:
                raise_sympy = True
            else:
                raise_sympy = False
            if raise_sympy:
                raise
    limits.check_order(node, text)
    return node


def parse_expression(text, where=None, known=(), functions=None):
    """Parse an expression (a definition's right side, an ``at`` value) into a tree.

    >>> from symbackprop.verify.tree import show
    >>> show(parse_expression("w*x + b"))
    '((w * x) + b)'
    """
    if not isinstance(text, str):
        text = str(text)
    try:
        node = _parse(text, known, functions)
    except ClaimError as e:
        e.where = e.where or where
        raise e.locate() from None
    if isinstance(node, (t.Equation, t.Chain, t.Block)):
        raise ClaimSyntaxError("expected an expression, found an equation", text=text,
                               col=None, where=where)
    return node


def parse_claim(text, where=None, known=(), functions=None):
    """Parse a claim: an equation ``lhs == rhs`` (``=`` or ``\\approx`` in LaTeX), a chain
    ``a = b = c`` (a ``Chain``) or an aligned block (a ``Block``).

    >>> parse_claim("sigmoid(0)")
    Traceback (most recent call last):
    ...
    symbackprop.verify.errors.NotAnEquation: a claim must be an equation 'left == right'; found no '==' at column 1
      sigmoid(0)
      ^
    """
    if not isinstance(text, str):
        raise NotAnEquation(f"a claim must be a string, got {type(text).__name__}",
                            where=where)
    try:
        node = _parse(text, known, functions)
    except ClaimError as e:
        e.where = e.where or where
        raise e.locate() from None
    if not isinstance(node, (t.Equation, t.Chain, t.Block)):
        eq = "'='" if is_latex(text) else "'=='"
        raise NotAnEquation(f"a claim must be an equation 'left == right'; found no {eq}",
                            text=text, col=1, where=where)
    return node


def parse_name(text, where=None):
    r"""A definition's key as a name: plain, or LaTeX mapped by the name rule (a key is
    always a name, never a power: ``\sigma_B^2`` is ``sigma_2_B``, see ``names.py``).

    >>> parse_name(r"\hat{y}"), parse_name("z1"), parse_name(r"\sigma_B^2"), parse_name("z_{l-1}")
    ('yhat', 'z1', 'sigma_2_B', 'z_lm1')
    >>> parse_name("w^3")
    'w_3'
    
    """
    text = str(text)
    try:
        limits.check_text(text)
        node = latex.parse(text, key=True) if is_latex(text) else syntax.parse(text)
        if not isinstance(node, t.Name) and "^" in text:
            node = latex.parse(text, key=True)      # z^2, w^3: a layer, never a power
    except ClaimError as e:
        e.where = e.where or where
        raise e.locate() from None
    if not isinstance(node, t.Name):
        raise ClaimSyntaxError(f"a definition's name must be one variable, not {t.show(node)!r}",
                               text=str(text), where=where)
    return node.name
