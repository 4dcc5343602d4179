r"""LaTeX claims, as a textbook writes them, parsed by a lark grammar into ``tree`` nodes.

Math is read as TeX reads it: single letters (``wx`` is w·x), juxtaposition multiplies,
``\cdot``/``\times`` multiply, ``\odot``/``\circ`` multiply elementwise, ``\frac{a}{b}``
and ``\frac12`` divide, ``e^{-z}`` is exp(−z), ``^T``/``^\top`` transpose, ``\left``/``\right``
and spacing commands are ignored, ``\approx`` is an equation judged to the digits given.

**Name rule** (applied to the parsed tokens, so LaTeX claims and sympy-syntax definitions
mix in one file):

====================================  ===================
LaTeX                                  name
====================================  ===================
``\hat{y}``, ``\bar{x}``, ``\tilde{x}``  ``yhat``, ``xbar``, ``xtilde``
``y_{true}``, ``w_{12}``, ``w_{1,2}``    ``y_true``, ``w_12``, ``w_12``
``\delta_2``, ``\hat{y}_i``              ``delta_2``, ``yhat_i``
``W^{(2)}``, ``W^{[2]}``                 ``W_2``
``\mathbf{W}``, ``\text{loss}``          ``W``, ``loss``
``\sigma(z)``, ``\sigma'(z)``            ``sigmoid(z)``, its derivative
``\tanh``, ``\exp``, ``\log``/``\ln``      the functions; ``\operatorname{ReLU}(z)`` → relu
``\frac{\partial L}{\partial w}``        ``d(L, w)``; also ``\frac{dL}{dw}``
====================================  ===================

A letter followed by ``(`` multiplies (``y(1-y)``) except ``f``, ``g``, ``h``, ``\phi``,
``\varphi``, ``\psi``, which are abstract functions there, unless the derivation defines
or uses that name as a quantity (an LSTM's gate ``f_t``: ``f_t (1 - f_t)`` multiplies).  If a mapped name such as
``W_2`` is not used anywhere but ``W2`` is, the evaluator uses ``W2`` (``world.py``).

>>> from symbackprop.verify.tree import show
>>> show(parse(r"\frac{\partial L}{\partial \hat{y}} = \hat{y} - y_{true}"))
'd(L, yhat) == (yhat - y_true)'
>>> show(parse(r"\sigma(z)(1 - \sigma(z)) w_{12} e^{-x}"))
'(((sigmoid(z) · (1 - sigmoid(z))) · w_12) · exp(-x))'
"""

import functools
import re
from contextvars import ContextVar
from fractions import Fraction

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from symbackprop.verify import functions, limits, names
from symbackprop.verify.names import index_text
from symbackprop.verify import tree as t
from symbackprop.verify.errors import ClaimError, ClaimSyntaxError
from symbackprop.verify.syntax import describe, with_text

GRAMMAR = r"""
?start: block | chain

block: BEGIN rows END
rows: [row] (ROWSEP [row])*
?row: chain | continuation
chain: part (rel part)*
continuation: (rel part)+
part: expr
rel: EQ | APPROX

?expr: term
     | expr "+" term           -> add
     | expr "-" term           -> sub
?term: signed
     | term MULOP signed       -> product
     | term HADAMARD signed    -> hadamard
     | term "/" signed         -> div
?signed: juxt
       | juxt BAR "_" "{" barpoint ("," barpoint)* "}" -> evaluated
       | "-" signed            -> neg
       | "+" signed
barpoint: item EQ expr
juxt: item+
item: atom script*
script: "_" subarg             -> subscript
      | "^" suparg             -> superscript
      | PRIME                  -> prime
atom: NUMBER                   -> number
    | BODYSIGN                 -> bodysign
    | LETTER                   -> letter
    | CMD                      -> command
    | PARTIAL                  -> partial
    | NABLA                    -> nabla
    | ACCENT accarg            -> accent
    | FONT "{" word "}"        -> font
    | FRAC arg arg             -> frac
    | FRAC12                   -> frac12
    | SQRT arg                 -> sqrt
    | BIGOP ("_" sumsub)? ("^" suparg)?   -> bigop
    | INDICATOR "(" expr CMP expr ")"     -> indicator
    | INDICATOR "_" "{" expr CMP expr "}" -> indicator
    | "[" expr CMP expr "]"    -> iverson
    | "[" expr EQ expr "]"     -> iverson
    | "(" expr ("," expr)* ")" -> group
    | "[" expr ("," expr)* "]" -> group
    | LBRACE expr ("," expr)* RBRACE -> group
    | "{" expr "}"             -> brace
sumsub: "{" sumindex (EQ expr)? "}" | LETTER
sumindex: LETTER | CMD
accarg: "{" (LETTER | CMD | FONT "{" word "}") "}" | LETTER | CMD
word: (LETTER | NUMBER | CMD | "_")*
arg: "{" expr "}" | NUMBER | LETTER | CMD
subarg: "{" subword "}" | NUMBER | LETTER | CMD
!subword: (LETTER | NUMBER | CMD | "," | "-" | "+" | FONT "{" word "}")+
suparg: "{" expr "}" | NUMBER | LETTER | CMD

BEGIN.5: /\\begin\s*\{(aligned|align\*?|eqnarray\*?|split|gathered|gather\*?|equation\*?|multline\*?)\}/
END.5: /\\end\s*\{(aligned|align\*?|eqnarray\*?|split|gathered|gather\*?|equation\*?|multline\*?)\}/
ROWSEP.5: /\\\\(\[[^\]]*\])?/
EQ: "="
LBRACE.4: /\\\{/
RBRACE.4: /\\\}/
FRAC12.3: /\\[dt]?frac\s*\d\s*\d/
FRAC.2: /\\[dt]?frac(?![a-zA-Z])/
PARTIAL.2: /\\partial(?![a-zA-Z])/
NABLA.2: /\\nabla(?![a-zA-Z])/
BIGOP.2: /\\(sum|prod)(?![a-zA-Z])/
INDICATOR.4: /\\(mathbb|mathbf|mathds|bm)\s*\{\s*1\s*\}/ | /\\(mathbb|mathbf)\s*1/
CMP.2: /\\(geq?|leq?|gt|lt|geqslant|leqslant)(?![a-zA-Z])/ | ">=" | "<=" | ">" | "<"
BAR.4: /\\right\s*(\||\\vert(?![a-zA-Z]))/ | /\\[bB]igg?r?\s*(\||\\vert(?![a-zA-Z]))/
MULOP.2: /\\(cdot|times|ast)(?![a-zA-Z])/ | "*"
HADAMARD.2: /\\(odot|circ)(?![a-zA-Z])/
APPROX.2: /\\(approx|simeq)(?![a-zA-Z])/
ACCENT.2: /\\(hat|widehat|bar|overline|tilde|widetilde|vec|dot|ddot)(?![a-zA-Z])/
FONT.2: /\\(mathbf|boldsymbol|bm|mathrm|mathit|mathsf|mathcal|mathscr|mathfrak|mathbb|operatorname|text|textrm|textit|textnormal|textbf)(?![a-zA-Z])/
SQRT.2: /\\sqrt(?![a-zA-Z])/
CMD: /\\[a-zA-Z]+/
LETTER: /[a-zA-Z]/
NUMBER: /\d+(\.\d+)?|\.\d+/
BODYSIGN: "\ue000"
PRIME: /'+/
PROSE.6: /\\(text|mbox|textrm|textit|textnormal)\s*\{[^{}]*[^A-Za-z0-9_{}][^{}]*\}((?!\\\\|\\end\s*\{).)*/
TAG.6: /\\(tag\*?|label)\s*\{[^{}]*\}/ | /\\(nonumber|notag|limits|nolimits)(?![a-zA-Z])/
LEFTDOT.4: /\\left\s*[.]/
MATHDELIM.4: /\$+/ | /\\[\[\]]/
ENDPUNCT.3: /[.,;](?=\s*(\\\\|\\end\s*\{|\$|\\\]|$))/
SPACING.3: /\\[,;:! ]/ | /\\(quad|qquad|displaystyle|textstyle)(?![a-zA-Z])/ | "&" | "~"
SIZING.3: /\\(left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])/
%ignore SPACING
%ignore SIZING
%ignore PROSE
%ignore TAG
%ignore LEFTDOT
%ignore MATHDELIM
%ignore ENDPUNCT
%ignore /[ \t\n]+/
"""

@functools.cache
def _parser():
    """The grammar's parser, built on first use (building it takes about a second: not at import)."""
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)

#: names the surrounding derivation uses; a run of adjacent letters spelling one of them
#: (``out_{o1}`` when ``out_o1`` is defined) is that name, not a product of letters
_KNOWN = ContextVar("known_names", default=frozenset())
#: function names declared by the derivation (``functions: {loss: 1}``) -> arity
_FUNCTIONS = ContextVar("declared_functions", default={})
#: vector and matrix names of the derivation: z^3_j is element j of z_3 when z_3 is one
_SHAPED = ContextVar("shaped_names", default=frozenset())
#: True while parsing a definition's key: every superscript is part of the name
_KEY = ContextVar("key_mode", default=False)

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
    "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
    "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega", "ell",
}

#: LaTeX commands that are functions when an argument follows
COMMAND_FUNCTIONS = {"exp": "exp", "log": "log", "ln": "log", "tanh": "tanh", "sin": "sin",
                     "cos": "cos", "sigma": "sigmoid", "max": "Max", "min": "Min"}

#: letters and Greek names that are abstract functions when an argument list follows
FUNCTION_LETTERS = {"f", "g", "h", "phi", "varphi", "psi"}

TRANSPOSE_MARKS = {"T", "top", "intercal", "mathsf{T}", "mathrm{T}"}

ACCENT_SUFFIX = {"hat": "hat", "widehat": "hat", "bar": "bar", "overline": "bar",
                 "tilde": "tilde", "widetilde": "tilde", "vec": "", "dot": "dot",
                 "ddot": "ddot"}

CMP_OPS = {"\\geq": ">=", "\\ge": ">=", "\\geqslant": ">=", "\\leq": "<=", "\\le": "<=",
           "\\leqslant": "<=", "\\gt": ">", "\\lt": "<", ">=": ">=", "<=": "<=", ">": ">",
           "<": "<", "=": "=="}


class _Partial:
    """The ``\\partial`` token; meaningful only inside ``\\frac{\\partial f}{\\partial v}``."""

    def __init__(self, col):
        self.col = col


class _Nabla:
    """``\\nabla`` without a subscript: the derivative of the function call after it."""

    def __init__(self, col):
        self.col = col


class _Func:
    """A function name waiting for its argument (``\\sigma``, ``\\log``, ``f'``)."""

    def __init__(self, name, primes, col, may_be_name=None):
        self.name, self.primes, self.col = name, primes, col
        self.may_be_name = may_be_name     # the variable it is when no argument follows
        self.sups = []


class _Group:
    """A parenthesised list: an argument list after a function, a factor otherwise."""

    def __init__(self, items, col):
        self.items, self.col = items, col
        self.sups = []      # (z)^2 after a function: squares the call, not its argument


class _Row:
    """One line of a chain: its parts ``(node, start, end)`` and relations (approx flags);
    ``continues`` when it starts with ``=`` (``&= ...`` in an aligned block)."""

    def __init__(self, parts, rels, continues, col):
        self.parts, self.rels, self.continues, self.col = parts, rels, continues, col


class _DerivOp:
    """``\\frac{d}{dx}``, ``\\partial_x``, ``\\nabla_x``: differentiates the juxtaposed rest."""

    def __init__(self, v, col):
        self.v, self.col = v, col


class _ReduceOp:
    """``\\sum_{i=1}^{n}`` / ``\\prod_j``: sums or multiplies the juxtaposed rest."""

    def __init__(self, op, index, lower, upper, col):
        self.op, self.index, self.lower, self.upper, self.col = op, index, lower, upper, col


class _PartialProduct:
    """``\\partial L`` as juxtaposed items: only a ``\\frac`` may consume it."""

    def __init__(self, items, col):
        self.items, self.col = items, col


def _err(message, col):
    return ClaimSyntaxError(message, col=col)


def _command_name(token):
    return str(token)[1:]


def _is_value(func):
    """A function letter the derivation knows as a quantity (``f_t: \\sigma(...)``, or an
    element of a vector ``g`` in ``shapes:``), not declared in ``functions:``: then
    ``f_t (1 - f_t)`` multiplies, as the book means."""
    name = func.may_be_name
    if func.primes or name is None or name in _FUNCTIONS.get():
        return False
    # g_i with g a vector of shapes: its element i, so g_i (w x_i) multiplies too
    return name in _KNOWN.get() or name.split("_")[0] in _SHAPED.get()


def _is_function_name(name):
    """Names that take an argument list after them: f, g_k, \\phi, declared ones."""
    base = name.split("_")[0]
    return name in _FUNCTIONS.get() or base in FUNCTION_LETTERS


@v_args(meta=True)
class _ToTree(Transformer):
    # -- chains and blocks ---------------------------------------------------------------
    def block(self, meta, c):
        rows = c[1]
        chains, cur = [], None
        for row in rows:
            if row.continues:
                if cur is None:
                    raise _err("a line starting with '=' needs a line before it", row.col)
                cur = _Row(cur.parts + row.parts, cur.rels + row.rels, False, cur.col)
            else:
                if cur is not None:
                    chains.append(cur)
                cur = row
        if cur is not None:
            chains.append(cur)
        if not chains:
            raise _err("an empty block: no formula between \\begin and \\end", meta.column)
        return chains

    def rows(self, meta, c):
        return [r for r in c if r is not None and not isinstance(r, Token)]

    def chain(self, meta, c):
        return _Row(c[0::2], c[1::2], False, meta.column)

    def continuation(self, meta, c):
        return _Row(c[1::2], c[0::2], True, meta.column)

    def part(self, meta, c):
        return (_value(c[0]), meta.start_pos, meta.end_pos)

    def rel(self, meta, c):
        return str(c[0]) != "="

    # -- operators -----------------------------------------------------------------------
    def add(self, meta, c):
        return t.Binary("+", _value(c[0]), _value(c[1]), col=meta.column)

    def sub(self, meta, c):
        return t.Binary("-", _value(c[0]), _value(c[1]), col=meta.column)

    def product(self, meta, c):
        op = "*" if str(c[1]) == "*" else "product"
        return t.Binary(op, _value(c[0]), _value(c[2]), col=meta.column)

    def hadamard(self, meta, c):
        return t.Binary("*", _value(c[0]), _value(c[2]), col=meta.column)

    def div(self, meta, c):
        return t.Binary("/", _value(c[0]), _value(c[1]), col=meta.column)

    def neg(self, meta, c):
        return t.Unary("neg", _value(c[0]), col=meta.column)

    def evaluated(self, meta, c):
        points = tuple(x for x in c[2:] if isinstance(x, tuple))
        return t.At(_value(c[0]), points, col=meta.column)

    def barpoint(self, meta, c):
        name = _value(c[0])
        if not isinstance(name, t.Name):
            raise _err("an evaluation bar sets a variable: \\right|_{x=a}", meta.column)
        return (name, _value(c[2]))

    def indicator(self, meta, c):
        return t.Compare(CMP_OPS[str(c[2])], _value(c[1]), _value(c[3]), col=meta.column)

    def iverson(self, meta, c):
        return t.Compare(CMP_OPS[str(c[1])], _value(c[0]), _value(c[2]), col=meta.column)

    def bigop(self, meta, c):
        op = _command_name(c[0])
        index = lower = upper = None
        for x in c[1:]:
            if isinstance(x, tuple) and x and x[0] == "sumsub":
                index, lower = x[1], x[2]
            else:
                upper = _value(x)
        if index is None:
            raise _err(f"\\{op} needs its index: \\{op}_{{i=1}}^{{n}} or \\{op}_i",
                       meta.column)
        if (lower is None) != (upper is None):
            raise _err(f"\\{op}: give both bounds (\\{op}_{{i=1}}^{{n}}) or none "
                       f"(\\{op}_i, over the whole index range)", meta.column)
        return _ReduceOp("sum" if op == "sum" else "prod", index, lower, upper, meta.column)

    def sumsub(self, meta, c):
        lower = _value(c[2]) if len(c) > 2 else None
        return ("sumsub", _index_name(c[0]), lower)

    def sumindex(self, meta, c):
        return c[0]

    # -- atoms -----------------------------------------------------------------------
    def bodysign(self, meta, c):
        return t.Number(Fraction(-1), col=meta.column)     # see _signed_bodies

    def number(self, meta, c):
        text = str(c[0])
        limits.check_literal(text, col=meta.column)
        decimals = len(text.split(".")[1]) if "." in text else None
        return t.Number(Fraction(text), col=meta.column, decimals=decimals)

    def letter(self, meta, c):
        name = str(c[0])
        if name == "e":
            return _Func("exp", 0, meta.column, may_be_name="e")
        if name in FUNCTION_LETTERS or name in _FUNCTIONS.get():
            return _Func(name, 0, meta.column, may_be_name=name)
        return t.Name(name, col=meta.column)

    def command(self, meta, c):
        name = _command_name(c[0])
        if name in COMMAND_FUNCTIONS:
            return _Func(COMMAND_FUNCTIONS[name], 0, meta.column,
                         may_be_name=name if name in GREEK else None)
        if name in FUNCTION_LETTERS or name in _FUNCTIONS.get():
            return _Func(name, 0, meta.column, may_be_name=name)
        if name in GREEK:
            return t.Name(name, col=meta.column)
        raise _err(f"unknown LaTeX command \\{name}", meta.column)

    def partial(self, meta, c):
        return _Partial(meta.column)

    def nabla(self, meta, c):
        return _Nabla(meta.column)

    def accent(self, meta, c):
        kind = _command_name(c[0])
        return t.Name(c[1] + ACCENT_SUFFIX[kind], col=meta.column)

    def accarg(self, meta, c):
        return _word(c)

    def font(self, meta, c):
        name = c[1]
        if name in _FUNCTIONS.get():
            return _Func(name, 0, meta.column, may_be_name=name)
        if functions.canonical(name) is not None:
            return _Func(functions.canonical(name), 0, meta.column, may_be_name=name)
        if name in COMMAND_FUNCTIONS:
            return _Func(COMMAND_FUNCTIONS[name], 0, meta.column, may_be_name=name)
        if not name:
            raise _err("an empty name", meta.column)
        return t.Name(name, col=meta.column)

    def word(self, meta, c):
        return _word(c)

    def subword(self, meta, c):
        tokens = []
        for x in c:
            if isinstance(x, str) and not hasattr(x, "type"):
                tokens.append(x)          # a \mathrm{...} word
            elif getattr(x, "type", None) == "CMD":
                tokens.append(_command_name(x))
            elif getattr(x, "type", None) == "FONT":
                continue
            else:
                tokens.append(str(x))
        return index_text(tokens)

    def frac(self, meta, c):
        num, den = c[1], c[2]
        d = _leibniz(num, den, meta.column)
        if d is not None:
            return d
        return t.Binary("/", _value(num), _value(den), col=meta.column)

    def frac12(self, meta, c):
        digits = [ch for ch in str(c[0]) if ch.isdigit()]
        return t.Binary("/", t.Number(Fraction(int(digits[0])), col=meta.column),
                        t.Number(Fraction(int(digits[1])), col=meta.column), col=meta.column)

    def sqrt(self, meta, c):
        return t.Call("sqrt", (_value(c[1]),), col=meta.column)

    def group(self, meta, c):
        return _Group([_value(x) for x in c if not isinstance(x, Token)], meta.column)

    def brace(self, meta, c):
        return _value(c[0])

    def arg(self, meta, c):
        return _arg(c[0], meta)

    def suparg(self, meta, c):
        if len(c) == 1 and hasattr(c[0], "type") and c[0].type == "CMD":
            name = _command_name(c[0])
            if name in TRANSPOSE_MARKS:
                return "T"
        return _arg(c[0], meta)

    def subarg(self, meta, c):
        x = c[0]
        if hasattr(x, "type"):
            return _command_name(x) if x.type == "CMD" else str(x)
        return x

    # -- scripts and juxtaposition -----------------------------------------------------
    def subscript(self, meta, c):
        return ("sub", c[0], meta.column)

    def superscript(self, meta, c):
        return ("sup", c[0], meta.column)

    def prime(self, meta, c):
        return ("prime", len(str(c[0])), meta.column)

    def item(self, meta, c):
        return _item(c[0], c[1:])

    def juxt(self, meta, c):
        return _juxt(c, meta.column)


def _index_name(tok):
    return _command_name(tok) if getattr(tok, "type", None) == "CMD" else str(tok)


def _word(children):
    parts = []
    for x in children:
        if isinstance(x, str) and not hasattr(x, "type"):
            parts.append(x)
        elif getattr(x, "type", None) == "CMD":
            parts.append(_command_name(x))
        elif getattr(x, "type", None) == "FONT":
            continue
        elif str(x) != ",":
            parts.append(str(x))
    return "".join(parts)


def _arg(x, meta):
    """A one-token argument (``\\frac12``-style) or a braced expression."""
    if hasattr(x, "type"):
        if x.type == "NUMBER":
            limits.check_literal(str(x), col=x.column)
            return t.Number(Fraction(str(x)), col=x.column)
        if x.type == "LETTER":
            return t.Name(str(x), col=x.column)
        name = _command_name(x)
        if name in GREEK:
            return t.Name(name, col=x.column)
        raise _err(f"unexpected LaTeX command \\{name}", x.column)
    return x


def _base_name(atom):
    """The name an atom contributes to a scripted name (``w``, ``yhat``, ``sigma``)."""
    if isinstance(atom, t.Name):
        return atom.name
    if isinstance(atom, _Func) and atom.may_be_name and atom.may_be_name != "e" \
            and not atom.primes:
        return atom.may_be_name
    return None


def _known(name):
    known = _KNOWN.get()
    return name in known or name in _FUNCTIONS.get()


def _item(atom, scripts):
    """Attach subscripts, primes and superscripts to one atom, in TeX's meaning."""
    base = _base_name(atom)
    if base is not None and any(k in ("sub", "sup") for k, _, _ in scripts):
        return _scripted_name(atom, base, scripts)
    node = atom
    for kind, val, col in scripts:
        if kind == "sub":
            if isinstance(node, (_Partial, _Nabla)):
                node = _DerivOp(t.Name(_sub_text(val, col), col=col), node.col)
            else:
                raise _err("a subscript needs a name before it", col)
        elif kind == "prime":
            if isinstance(node, t.Name) and _is_function_name(node.name):
                node = _Func(node.name, 0, node.col)
            if not isinstance(node, _Func):
                raise _err("a prime (') needs a function before it, as in \\sigma'(z)", col)
            node.primes += val
        elif isinstance(node, _Group):
            node.sups.append((val, col))
        else:
            node = _superscript(node, val, col)
    return node


def _scripted_name(atom, base, scripts):
    r"""A name with subscripts and superscripts (``z_{l-1}``, ``W^{(2)}``, ``z^L_j``,
    ``\sigma_B^2``), following the rule of ``names.py``; what is not part of the name (a
    power, ``^T``, primes) applies after it."""
    subs = [(val, col) for kind, val, col in scripts if kind == "sub"]
    if len(subs) > 1:
        raise _err("a double subscript", subs[1][1])
    sub = _sub_text(*subs[0]) if subs else None     # z^L_j and z_j^L alike
    layers, after, primes = [], [], 0
    for kind, val, col in scripts:
        if kind == "sub":
            continue
        elif kind == "prime":
            primes += val
        elif val == "T" or (isinstance(val, t.Name) and val.name == "T"):
            after.append((val, col))
        elif isinstance(val, _Group) and len(val.items) == 1 and \
                names.tree_text(val.items[0]) is not None:
            layers.append(names.tree_text(val.items[0]))      # W^{(2)}, a^{[l-1]}
        else:
            text = names.tree_text(_value(val)) if not isinstance(val, str) else None
            # x^2, h_2^2 are powers; z^L_j is a name when z_L is known, \sigma_B^2 when
            # sigma_2_B is (a numeric superscript only ever names a defined quantity)
            number = isinstance(val, t.Number)
            cand_base = names.compose(base, layers + [text]) if text else None
            full = names.compose(base, layers + [text], sub) if text else None
            if text and (_KEY.get() or (not number and _known(cand_base))
                         or (sub is not None and (_known(full) or cand_base in _SHAPED.get()))):
                layers.append(text)
            else:
                after.append((val, col))
    name = names.compose(base, layers, sub)
    col = atom.col
    if isinstance(atom, _Func) and (primes or atom.name in FUNCTION_LETTERS
                                    or atom.name in _FUNCTIONS.get()) \
            or _is_function_name(name) and primes:
        node = _Func(name if isinstance(atom, t.Name) or atom.name in FUNCTION_LETTERS
                     or atom.name in _FUNCTIONS.get() else atom.name, primes, col,
                     may_be_name=name)
    elif _is_function_name(name) and name != base:
        node = _Func(name, 0, col, may_be_name=name)
    else:
        if primes:
            raise _err("a prime (') needs a function before it, as in \\sigma'(z)", col)
        node = t.Name(name, col=col)
    for val, scol in after:
        node = _superscript(node, val, scol)
    return node


def _sub_text(val, col):
    if isinstance(val, str):
        return val
    if isinstance(val, t.Number):
        return str(val.value)
    if isinstance(val, t.Name):
        return val.name
    raise _err("a subscript must be letters or digits", col)


def _superscript(node, val, col):
    if val == "T" or (isinstance(val, t.Name) and val.name == "T"):
        return t.Unary("T", _value(node), col=getattr(node, "col", col))
    if isinstance(val, _Group) and len(val.items) == 1 and isinstance(node, t.Name) \
            and names.tree_text(val.items[0]) is not None:
        # W^{(2)}, a^{(L)}: a layer index, not a power
        return t.Name(names.compose(node.name, [names.tree_text(val.items[0])]), col=node.col)
    if isinstance(node, _Func):
        if node.name == "exp" and node.may_be_name == "e" and not node.primes:
            return t.Call("exp", (_value(val),), col=node.col)
        node.sups.append((_value(val), col))     # \sin^2(x): applied after the call
        return node
    return t.Binary("**", _value(node), _value(val), col=getattr(node, "col", col))


def _apply(func, nxt):
    """``func`` called on the item after it."""
    args = nxt.items if isinstance(nxt, _Group) else [_value(nxt)]
    node = t.Call(func.name, tuple(args), primes=func.primes, col=func.col)
    for sup, scol in func.sups:
        node = t.Binary("**", node, sup, col=func.col)
    for sup, scol in getattr(nxt, "sups", []):
        node = _superscript(node, sup, scol)
    return node


def _juxt(items, col):
    """Juxtaposed items: apply functions to the argument after them, multiply the rest."""
    if len(items) == 1 and isinstance(items[0], _Group):
        return items[0]     # kept whole: it may be an argument list or a layer index
    items = _merge_runs(items)
    out = []
    i = 0
    while i < len(items):
        it = items[i]
        nxt = items[i + 1] if i + 1 < len(items) else None
        if isinstance(it, t.Name) and isinstance(nxt, _Group) and (
                len(nxt.items) > 1 or it.name in _FUNCTIONS.get()):
            it = _Func(it.name, 0, it.col, may_be_name=it.name)   # F_k(\theta, z): a call
        if isinstance(it, _Func):
            letter_like = it.may_be_name is not None and it.name not in COMMAND_FUNCTIONS.values()
            applies = nxt is not None and not isinstance(nxt, (_Partial, _Nabla)) and (
                isinstance(nxt, _Group) or not letter_like)
            if letter_like and not isinstance(nxt, _Group):
                applies = False
            if letter_like and _is_value(it) and isinstance(nxt, _Group) and len(nxt.items) == 1:
                applies = False     # f_t (1 - f_t) with the gate f_t defined: a product
            if applies:
                out.append(_apply(it, nxt))
                i += 2
                continue
            out.append(_value(it))
        elif isinstance(it, (_Partial, _DerivOp, _ReduceOp, _Nabla)):
            out.append(it)
        else:
            out.append(_value(it))
        i += 1
    if any(isinstance(x, _Partial) for x in out):
        return _PartialProduct(out, col)
    for k in range(len(out) - 1, -1, -1):       # innermost operator first
        if isinstance(out[k], _Nabla):
            rest = out[k + 1:]
            if not rest or not isinstance(rest[0], t.Call) or len(rest[0].args) != 1:
                raise _err("\\nabla needs a variable (\\nabla_w L) or a function of one "
                           "argument after it (\\nabla f(x))", out[k].col)
            c = rest[0]
            out = out[:k] + [t.Call(c.func, c.args, primes=c.primes + 1, col=out[k].col)] \
                + rest[1:]
        elif isinstance(out[k], (_DerivOp, _ReduceOp)):
            rest = out[k + 1:]
            op = out[k]
            if not rest:
                what = "\\frac{d}{dx}" if isinstance(op, _DerivOp) else f"\\{op.op}"
                raise _err(f"{what} needs something after it", op.col)
            f = rest[0]
            for x in rest[1:]:
                f = t.Binary("product", f, x, col=col)
            if isinstance(op, _DerivOp):
                node = t.Derivative(f, op.v, col=op.col)
            else:
                node = t.Reduce(op.op, op.index, op.lower, op.upper, f, col=op.col)
            out = out[:k] + [node]
    node = out[0]
    for x in out[1:]:
        node = t.Binary("product", node, x, col=col)
    return node


def _merge_runs(items):
    """Adjacent single letters that spell a known name become that name (see _KNOWN)."""
    known = _KNOWN.get() | set(_FUNCTIONS.get())
    if not known:
        return items
    out, i = [], 0
    def letter(x):
        if isinstance(x, t.Name):
            return x.name
        if isinstance(x, _Func) and x.may_be_name and len(x.may_be_name) == 1 \
                and not x.primes and not x.sups:
            return x.may_be_name     # e, f, g, h inside a word
        return None

    while i < len(items):
        best = None
        first = letter(items[i])
        if first is not None and len(first) == 1:
            letters = first
            j = i + 1
            while j < len(items) and letter(items[j]) is not None \
                    and items[j].col == items[j - 1].col + 1 \
                    and len(letter(items[j - 1])) == 1:
                letters += letter(items[j])
                if letters in known:
                    best = (j, letters)
                j += 1
        if best:
            name = best[1]
            node = _Func(name, 0, items[i].col, may_be_name=name) \
                if name in _FUNCTIONS.get() else t.Name(name, col=items[i].col)
            out.append(node)
            i = best[0] + 1
        else:
            out.append(items[i])
            i += 1
    return out


def _leibniz(num, den, col):
    r"""``\frac{\partial f}{\partial v}`` or ``\frac{df}{dv}`` as a Derivative, else None."""
    def split(x):
        if isinstance(x, _PartialProduct) and isinstance(x.items[0], _Partial):
            return x.items[1:]
        if isinstance(x, t.Binary) and x.op == "product":
            flat = _flatten_product(x)
            if isinstance(flat[0], t.Name) and flat[0].name == "d":
                return flat[1:]
        return None

    n, d = split(num), split(den)
    if d is not None and len(d) == 1 and isinstance(d[0], t.Name) and (
            (isinstance(num, t.Name) and num.name == "d") or isinstance(num, _Partial)
            or (isinstance(num, _PartialProduct) and len(num.items) == 1)):
        return _DerivOp(d[0], col)       # \frac{d}{dx} f: applies to what follows
    if n is None or d is None:
        if isinstance(num, _PartialProduct) or isinstance(den, _PartialProduct):
            raise _err("expected \\frac{\\partial f}{\\partial v}", col)
        return None
    if len(d) != 1 or not isinstance(d[0], t.Name) or not n:
        raise _err("the denominator of a derivative must be \\partial and one variable", col)
    f = n[0]
    for x in n[1:]:
        f = t.Binary("product", f, _value(x), col=col)
    return t.Derivative(_value(f), d[0], col=col)


def _flatten_product(x):
    if isinstance(x, t.Binary) and x.op == "product":
        return _flatten_product(x.left) + [x.right]
    return [x]


def _value(x):
    """A finished tree node: leftover helper objects become variables or errors."""
    if isinstance(x, _Func):
        if x.may_be_name and not x.primes:
            node = t.Name(x.may_be_name, col=x.col)
            if x.may_be_name == "e":
                node = t.Call("exp", (t.Number(Fraction(1)),), col=x.col)
            for sup, _ in x.sups:
                node = t.Binary("**", node, sup, col=x.col)
            return node
        raise _err(f"function {x.name} needs an argument", x.col)
    if isinstance(x, _Group):
        if len(x.items) != 1:
            raise _err("a list in parentheses is only allowed as function arguments", x.col)
        node = x.items[0]
        for sup, col in x.sups:
            node = _superscript(node, sup, col)
        return node
    if isinstance(x, _DerivOp):
        raise _err("\\frac{d}{dx} needs something to differentiate after it", x.col)
    if isinstance(x, _ReduceOp):
        raise _err(f"\\{x.op} needs something after it", x.col)
    if isinstance(x, _Nabla):
        raise _err("\\nabla needs a variable (\\nabla_w L) or a function call after it",
                   x.col)
    if isinstance(x, (_Partial, _PartialProduct)):
        raise _err("\\partial outside \\frac{\\partial f}{\\partial v}", x.col)
    if isinstance(x, (list, _Row)):
        raise _err("an equation inside an expression", getattr(x, "col", 0))
    return x


def _row_tree(row, text):
    """A chain's row as a tree: an expression, an Equation (one link) or a Chain."""
    nodes = [p[0] for p in row.parts]
    if row.continues:
        raise _err("a formula cannot start with '='; in an aligned block a line starting "
                   "with '&=' continues the line before it", row.col)
    if len(nodes) == 1:
        return nodes[0]
    texts = tuple(text[s:e].strip() for _, s, e in row.parts)
    if len(nodes) == 2:
        return t.Equation(nodes[0], nodes[1], approx=row.rels[0], col=row.col, texts=texts)
    return t.Chain(tuple(nodes), tuple(row.rels), texts, col=row.col)


def _top(result, text):
    if isinstance(result, list):       # a block: each chain with its texts
        chains = []
        for row in result:
            if len(row.parts) < 2:
                raise _err("a line of a block without '=': nothing to check", row.col)
            texts = tuple(text[s:e].strip() for _, s, e in row.parts)
            chains.append(t.Chain(tuple(p[0] for p in row.parts), tuple(row.rels), texts,
                                  col=row.col))
        if len(chains) == 1:
            return chains[0] if len(chains[0].parts) > 2 else t.Equation(
                chains[0].parts[0], chains[0].parts[1], approx=chains[0].approx[0],
                col=chains[0].col, texts=chains[0].texts)
        return t.Block(tuple(chains), col=1)
    if isinstance(result, _Row):
        return _row_tree(result, text)
    return _value(result)


#: a minus right after \sum/\prod and their scripts: the body's sign, not a subtraction
_BODY_MINUS = re.compile(r"(\\(?:sum|prod)(?![a-zA-Z])\s*(?:\\limits\s*)?"
                         r"(?:[_^]\s*(?:\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}|\\[a-zA-Z]+|\w)\s*)*)-")
_BODY_SIGN = "\ue000"


def _signed_bodies(text):
    r"""``\sum_{i=1}^{m} -2 x_i`` (the BatchNorm paper's ∂ℓ/∂μ) as TeX means it: the
    sum of -2 x_i.  The minus becomes one private character (a factor -1 in the grammar),
    so every column stays where it was; a text already holding that character is left
    alone and refused by the grammar.

    >>> _signed_bodies(r"\sum_{i=1}^{m} -2 x_i") == "\\sum_{i=1}^{m} " + _BODY_SIGN + "2 x_i"
    True
    """
    if _BODY_SIGN in text:
        return text
    return _BODY_MINUS.sub(lambda m: m.group(1) + _BODY_SIGN, text)


def parse(text, known=(), functions_declared=None, key=False, shaped=()):
    r"""Parse one LaTeX claim or expression into a tree.

    ``known``: names of the derivation, so ``out_{o1}`` reads as ``out_o1`` when that
    name is defined or used (otherwise it is o·u·t_o1, as TeX means).
    ``functions_declared``: ``{name: arity}`` of the file's ``functions:``.
    ``key``: a definition's key, where every superscript is part of the name.

    >>> from symbackprop.verify.tree import show
    >>> show(parse(r"\frac{dL}{dw} = 2wx"))
    'd(L, w) == ((2 · w) · x)'
    >>> show(parse(r"a = b = c"))
    'a == b == c'
    """
    flat = text.replace("\r", " ").replace("\n", " ")    # columns count characters
    flat = _signed_bodies(flat)
    try:
        parsed = _parser().parse(flat)
    except UnexpectedInput as e:
        message, col = describe(e, flat)
        raise ClaimSyntaxError(message, text=text, col=col) from None
    limits.check_depth(parsed, text)
    tokens = (_KNOWN.set(frozenset(known)), _FUNCTIONS.set(dict(functions_declared or {})),
              _KEY.set(key), _SHAPED.set(frozenset(shaped)))
    try:
        return _top(_ToTree().transform(parsed), flat)
    except VisitError as e:
        raise with_text(e.orig_exc, text) from None
    except ClaimError as err:
        raise with_text(err, text) from None
    finally:
        for var, tok in zip((_KNOWN, _FUNCTIONS, _KEY, _SHAPED), tokens):
            var.reset(tok)
