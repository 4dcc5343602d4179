"""The sympy-syntax claim language, parsed by a lark grammar into ``tree`` nodes.

It is Python/sympy expression syntax plus two things Python lacks: primes for derivatives
(``sigmoid'(z)``) and ``==``/``=`` between the two sides.  ``^`` is accepted as a power
(as sympy's ``convert_xor`` does), ``.T`` transposes, ``@`` is the matrix product.

>>> from symbackprop.verify.tree import show
>>> show(parse("d(L, w) == x*(yhat - y)"))
'd(L, w) == (x * (yhat - y))'
"""

import functools
import re
from fractions import Fraction

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from symbackprop.verify import limits, names
from symbackprop.verify import tree as t
from symbackprop.verify.errors import ClaimError, ClaimSyntaxError

GRAMMAR = r"""
?start: part ("==" part)+      -> chain
      | part "=" part          -> chain
      | expr

part: expr

?expr: term
     | expr "+" term           -> add
     | expr "-" term           -> sub
?term: unary
     | term "*" unary          -> mul
     | term "/" unary          -> div
     | term "@" unary          -> matmul
?unary: power
      | "-" unary              -> neg
      | "+" unary
?power: postfix
      | postfix ("**" | "^") unary -> pow
?postfix: atom
        | postfix TRANSPOSE    -> transpose
?atom: NUMBER                  -> number
     | NAME                    -> name
     | QUALIFIED               -> name
     | NAME [PRIMES] "(" [args] ")" -> call
     | QUALIFIED "(" [args] ")" -> qualified_call
     | "(" expr ")"

args: expr ("," expr)*

TRANSPOSE: /\.T(?![A-Za-z0-9_])/
PRIMES: /'+/
QUALIFIED.2: /(sympy|sp)\.[A-Za-z_][A-Za-z0-9_]*/
NAME: /[A-Za-z_]([A-Za-z0-9]|_(?!\{))*(_\{[A-Za-z0-9,+\- ]+\})?/
NUMBER: /(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/
%ignore /[ \t]+/
"""

@functools.cache
def _parser():
    """The grammar's parser, built on first use (building it takes about a second: not at import)."""
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)

#: names that mean the derivative when called: d(f, v), diff(f, v)
DERIVATIVE_NAMES = ("d", "diff")


def _col(x):
    return getattr(x, "column", None) or getattr(getattr(x, "meta", None), "column", 0) or 0


def _node_col(node):
    return node.col if hasattr(node, "col") else _col(node)


#: sympy's constructors of numbers, accepted as they are written in sympy code
NUMBER_CONSTRUCTORS = ("Rational", "S", "Integer", "Float", "sympify", "nsimplify")


def name_text(token):
    """A NAME token as a variable name: ``sympy.exp`` → ``exp``, ``z_{l-1}`` → ``z_lm1``
    (the index rule of ``names.py``, shared with LaTeX).

    >>> name_text("z_{l-1}"), name_text("w_{l-1,l}"), name_text("sympy.exp")
    ('z_lm1', 'w_lm1_l', 'exp')
    """
    text = str(token)
    if text.startswith(("sympy.", "sp.")):
        return text.split(".", 1)[1]
    if "{" in text:
        base, idx = text.split("{", 1)
        tokens = re.findall(r"[A-Za-z0-9]+|[-+,]", idx.rstrip("}"))
        return base + names.index_text(tokens)
    return text


@v_args(meta=True)
class _ToTree(Transformer):
    def __init__(self, text=""):
        super().__init__()
        self.text = text

    def part(self, meta, c):
        return (c[0], meta.start_pos, meta.end_pos)

    def chain(self, meta, c):
        nodes = [p[0] for p in c]
        texts = tuple(self.text[s:e].strip() for _, s, e in c)
        if len(nodes) == 2:
            return t.Equation(nodes[0], nodes[1], col=meta.column, texts=texts)
        return t.Chain(tuple(nodes), (False,) * (len(nodes) - 1), texts, col=meta.column)

    def add(self, meta, c):
        return t.Binary("+", c[0], c[1], col=meta.column)

    def sub(self, meta, c):
        return t.Binary("-", c[0], c[1], col=meta.column)

    def mul(self, meta, c):
        return t.Binary("*", c[0], c[1], col=meta.column)

    def div(self, meta, c):
        return t.Binary("/", c[0], c[1], col=meta.column)

    def matmul(self, meta, c):
        return t.Binary("@", c[0], c[1], col=meta.column)

    def pow(self, meta, c):
        return t.Binary("**", c[0], c[1], col=meta.column)

    def args(self, meta, c):
        return list(c)

    def neg(self, meta, c):
        return t.Unary("neg", c[0], col=meta.column)

    def transpose(self, meta, c):
        return t.Unary("T", c[0], col=meta.column)

    def number(self, meta, c):
        limits.check_literal(str(c[0]), col=meta.column)
        return t.Number(Fraction(str(c[0])), col=meta.column)

    def name(self, meta, c):
        return t.Name(name_text(c[0]), col=meta.column)

    def qualified_call(self, meta, c):
        return self.call(meta, [c[0], None, c[1]])

    def call(self, meta, c):
        name, primes, args = c
        name = name_text(name)
        args = tuple(args or ())
        if name in NUMBER_CONSTRUCTORS and not primes:
            return _number_constructor(name, args, meta.column)
        if str(name) in DERIVATIVE_NAMES and not primes:
            if len(args) != 2:
                raise ClaimSyntaxError(f"{name}(f, v) takes two arguments, got {len(args)}",
                                       col=meta.column)
            return t.Derivative(args[0], args[1], col=meta.column)
        return t.Call(str(name), args, primes=len(primes) if primes else 0, col=meta.column)


def _number_constructor(name, args, col):
    """``Rational(1, 2)``, ``S(1)``, ``Integer(2)``: the exact number they build."""
    if name == "Rational" and len(args) == 2:
        return t.Binary("/", args[0], args[1], col=col)
    if len(args) == 1:
        return args[0]
    raise ClaimSyntaxError(f"{name}(...) takes {'one or two arguments' if name == 'Rational' else 'one argument'}, "
                           f"got {len(args)}", col=col)


def parse(text):
    """Parse one sympy-syntax claim or expression into a tree.

    >>> from symbackprop.verify.tree import show
    >>> show(parse("sigmoid'(z) * W.T @ x"))
    "((sigmoid'(z) * W.T) @ x)"
    """
    try:
        parsed = _parser().parse(text)
    except UnexpectedInput as e:
        message, col = describe(e, text)
        raise ClaimSyntaxError(message, text=text, col=col) from None
    limits.check_depth(parsed, text)
    try:
        return _ToTree(text).transform(parsed)
    except VisitError as e:
        raise with_text(e.orig_exc, text) from None


def with_text(err, text):
    """An error raised while transforming, given the text (lark wraps it in VisitError).

    Shared with ``latex.py``.
    """
    if isinstance(err, ClaimError):
        return type(err)(err.message, text=text, col=err.col)
    return err


def describe(e, text):
    """(message, column) for a lark error; lark's own message lists token names.

    Shared with ``latex.py``.
    """
    token = getattr(e, "token", None)
    if token is not None and token.type == "$END" or e.pos_in_stream is None:
        return "unexpected end of text", len(text) + 1
    pos = e.pos_in_stream
    if pos >= len(text):
        return "unexpected end of text", len(text) + 1
    what = str(token) if token is not None and str(token) else text[pos]
    return f"unexpected {what!r}", e.column
