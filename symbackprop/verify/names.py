r"""The name rule for indexed quantities: how a LaTeX name with scripts becomes one name.

A textbook indexes layers, units and time steps with scripts; each indexed quantity is one
variable, named by joining its parts with ``_``:

================================  =================  ==================================
LaTeX                             name               rule
================================  =================  ==================================
``z_{l-1}``, ``a_{l+1}``          ``z_lm1``, ``a_lp1``  ``-`` → ``m``, ``+`` → ``p``
``w_{jk}``, ``w_{1,2}``           ``w_jk``, ``w_12``    single-character parts join
``w_{l-1,l}``                     ``w_lm1_l``        longer parts are joined by ``_``
``W^{(2)}``, ``W^{[l]}``          ``W_2``, ``W_l``    a bracketed superscript is a layer
``\delta^{(l)}``, ``a^{(l-1)}``   ``delta_l``, ``a_lm1``
``z^L_j``, ``w^l_{jk}``           ``z_L_j``, ``w_l_jk``  superscript (layer) before subscript
``\sigma_B^2`` (as a key)         ``sigma_2_B``      same rule
================================  =================  ==================================

A plain superscript (``z^L``, ``x^2``) is a power, except in a definition's key (always a
name) and where the name it would make is known to the derivation (defined, declared in
``shapes:``, or used in a definition): then ``\sigma_B^2`` in a claim is the defined
``sigma_2_B``, and ``x_i^2`` stays a square.

>>> index_text(["l", "-", "1"]), index_text(["l", "-", "1", ",", "l"]), index_text(["1", ",", "2"])
('lm1', 'lm1_l', '12')
>>> compose("w", ["l"], "jk")
'w_l_jk'
"""

from fractions import Fraction

from symbackprop.verify import tree as t

#: how an index operator is spelled inside a name
OPERATORS = {"-": "m", "+": "p"}


def index_text(tokens):
    """A subscript's tokens (letters, digits, command names, ``,``, ``-``, ``+``) as text."""
    parts, cur = [], ""
    for tok in tokens:
        if tok == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += OPERATORS.get(tok, tok)
    parts.append(cur)
    parts = [p for p in parts if p]
    joiner = "" if all(len(p) == 1 for p in parts) else "_"
    return joiner.join(parts)


def tree_text(node):
    r"""An index expression tree (``l - 1``, ``2``, ``t+1``, ``2l``) as name text, or None
    when it is not one (a fraction, a call).

    >>> from symbackprop.verify.latex import parse
    >>> tree_text(parse("l-1")), tree_text(parse("2")), tree_text(parse(r"\frac{1}{2}"))
    ('lm1', '2', None)
    """
    if isinstance(node, t.Name):
        return node.name
    if isinstance(node, t.Number):
        v = node.value
        return str(v.numerator) if isinstance(v, Fraction) and v.denominator == 1 else None
    if isinstance(node, t.Binary) and node.op in ("+", "-", "product"):
        a, b = tree_text(node.left), tree_text(node.right)
        if a is None or b is None:
            return None
        return a + OPERATORS.get(node.op, "") + b
    return None


def compose(base, sups=(), sub=None):
    """``base`` with layer superscripts, then the subscript, joined by ``_``.

    >>> compose("z", ["L"], "j"), compose("W", ["2"]), compose("y", [], "true")
    ('z_L_j', 'W_2', 'y_true')
    """
    parts = [base, *sups] + ([sub] if sub else [])
    return "_".join(p for p in parts if p)
