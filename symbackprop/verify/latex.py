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
``\varphi``, ``\psi``, which are abstract functions there.  If a mapped name such as
``W_2`` is not used anywhere but ``W2`` is, the evaluator uses ``W2`` (``world.py``).

>>> from symbackprop.verify.tree import show
>>> show(parse(r"\frac{\partial L}{\partial \hat{y}} = \hat{y} - y_{true}"))
'd(L, yhat) == (yhat - y_true)'
>>> show(parse(r"\sigma(z)(1 - \sigma(z)) w_{12} e^{-x}"))
'(((sigmoid(z) · (1 - sigmoid(z))) · w_12) · exp(-x))'
"""

from contextvars import ContextVar
from fractions import Fraction

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from symbackprop.verify import functions, limits
from symbackprop.verify import tree as t
from symbackprop.verify.errors import ClaimError, ClaimSyntaxError
from symbackprop.verify.syntax import describe, with_text

GRAMMAR = r"""
?start: expr "=" expr          -> equation
      | expr APPROX expr       -> approx
      | expr

?expr: term
     | expr "+" term           -> add
     | expr "-" term           -> sub
?term: signed
     | term MULOP signed       -> product
     | term HADAMARD signed    -> hadamard
     | term "/" signed         -> div
?signed: juxt
       | "-" signed            -> neg
       | "+" signed
juxt: item+
item: atom script*
script: "_" subarg             -> subscript
      | "^" suparg             -> superscript
      | PRIME                  -> prime
atom: NUMBER                   -> number
    | LETTER                   -> letter
    | CMD                      -> command
    | PARTIAL                  -> partial
    | ACCENT accarg            -> accent
    | FONT "{" word "}"        -> font
    | FRAC arg arg             -> frac
    | FRAC12                   -> frac12
    | SQRT arg                 -> sqrt
    | "(" expr ("," expr)* ")" -> group
    | "[" expr ("," expr)* "]" -> group
    | "{" expr "}"             -> brace
accarg: "{" (LETTER | CMD | FONT "{" word "}") "}" | LETTER | CMD
word: (LETTER | NUMBER | CMD | "_")*
arg: "{" expr "}" | NUMBER | LETTER | CMD
subarg: "{" subword "}" | NUMBER | LETTER | CMD
subword: (LETTER | NUMBER | CMD | "," | FONT "{" word "}")+
suparg: "{" expr "}" | NUMBER | LETTER | CMD

FRAC12.3: /\\[dt]?frac\s*\d\s*\d/
FRAC.2: /\\[dt]?frac(?![a-zA-Z])/
PARTIAL.2: /\\partial(?![a-zA-Z])/
MULOP.2: /\\(cdot|times|ast)(?![a-zA-Z])/ | "*"
HADAMARD.2: /\\(odot|circ)(?![a-zA-Z])/
APPROX.2: /\\approx(?![a-zA-Z])/
ACCENT.2: /\\(hat|widehat|bar|overline|tilde|widetilde|vec|dot)(?![a-zA-Z])/
FONT.2: /\\(mathbf|boldsymbol|bm|mathrm|mathit|mathsf|operatorname|text|textrm|textit)(?![a-zA-Z])/
SQRT.2: /\\sqrt(?![a-zA-Z])/
CMD: /\\[a-zA-Z]+/
LETTER: /[a-zA-Z]/
NUMBER: /\d+(\.\d+)?|\.\d+/
PRIME: /'+/
SPACING.3: /\\[,;:! ]/ | /\\(quad|qquad|displaystyle|textstyle)(?![a-zA-Z])/
SIZING.3: /\\(left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])/
%ignore SPACING
%ignore SIZING
%ignore /[ \t\n]+/
"""

_parser = Lark(GRAMMAR, parser="lalr", propagate_positions=True)

#: names the surrounding derivation uses; a run of adjacent letters spelling one of them
#: (``out_{o1}`` when ``out_o1`` is defined) is that name, not a product of letters
_KNOWN = ContextVar("known_names", default=frozenset())

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
    "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
    "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega", "ell",
}

#: LaTeX commands that are functions when an argument follows
COMMAND_FUNCTIONS = {"exp": "exp", "log": "log", "ln": "log", "tanh": "tanh", "sin": "sin",
                     "cos": "cos", "sigma": "sigmoid", "max": "Max", "min": "Min"}

TRANSPOSE_MARKS = {"T", "top", "intercal", "mathsf{T}"}

ACCENT_SUFFIX = {"hat": "hat", "widehat": "hat", "bar": "bar", "overline": "bar",
                 "tilde": "tilde", "widetilde": "tilde", "vec": "", "dot": "dot"}


class _Partial:
    """The ``\\partial`` token; meaningful only inside ``\\frac{\\partial f}{\\partial v}``."""

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


def _err(message, col):
    return ClaimSyntaxError(message, col=col)


def _command_name(token):
    return str(token)[1:]


@v_args(meta=True)
class _ToTree(Transformer):
    # -- relations and operators -------------------------------------------------------
    def equation(self, meta, c):
        return t.Equation(_value(c[0]), _value(c[1]), col=meta.column)

    def approx(self, meta, c):
        return t.Equation(_value(c[0]), _value(c[2]), approx=True, col=meta.column)

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

    # -- atoms -----------------------------------------------------------------------
    def number(self, meta, c):
        limits.check_literal(str(c[0]), col=meta.column)
        return t.Number(Fraction(str(c[0])), col=meta.column)

    def letter(self, meta, c):
        name = str(c[0])
        if name == "e":
            return _Func("exp", 0, meta.column, may_be_name="e")
        if functions.is_abstract(name) and name in "fgh":
            return _Func(name, 0, meta.column, may_be_name=name)
        return t.Name(name, col=meta.column)

    def command(self, meta, c):
        name = _command_name(c[0])
        if name in COMMAND_FUNCTIONS:
            return _Func(COMMAND_FUNCTIONS[name], 0, meta.column,
                         may_be_name=name if name in GREEK else None)
        if name in ("phi", "varphi", "psi"):
            return _Func(name, 0, meta.column, may_be_name=name)
        if name in GREEK:
            return t.Name(name, col=meta.column)
        raise _err(f"unknown LaTeX command \\{name}", meta.column)

    def partial(self, meta, c):
        return _Partial(meta.column)

    def accent(self, meta, c):
        kind = _command_name(c[0])
        return t.Name(c[1] + ACCENT_SUFFIX[kind], col=meta.column)

    def accarg(self, meta, c):
        return _word(c)

    def font(self, meta, c):
        name = c[1]
        if functions.canonical(name) is not None:
            return _Func(functions.canonical(name), 0, meta.column, may_be_name=name)
        if name in ("d",):
            return t.Name("d", col=meta.column)
        return t.Name(name, col=meta.column)

    def word(self, meta, c):
        return _word(c)

    def subword(self, meta, c):
        return _word(c)

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
        return _Group([_value(x) for x in c], meta.column)

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


def _item(atom, scripts):
    """Attach subscripts, primes and superscripts to one atom, in TeX's meaning."""
    node = atom
    for kind, val, col in scripts:
        if kind == "sub":
            if isinstance(node, t.Name):
                node = t.Name(f"{node.name}_{_sub_text(val, col)}", col=node.col)
            elif isinstance(node, _Func) and node.may_be_name and not node.primes:
                node = t.Name(f"{node.may_be_name}_{_sub_text(val, col)}", col=node.col)
            else:
                raise _err("a subscript needs a name before it", col)
        elif kind == "prime":
            if isinstance(node, t.Name) and functions.is_abstract(node.name):
                node = _Func(node.name, 0, node.col)
            if not isinstance(node, _Func):
                raise _err("a prime (') needs a function before it, as in \\sigma'(z)", col)
            node.primes += val
        elif isinstance(node, _Group):
            node.sups.append((val, col))
        else:
            node = _superscript(node, val, col)
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
            and isinstance(val.items[0], (t.Number, t.Name)):
        # W^{(2)}, a^{(L)}: a layer index, not a power
        idx = val.items[0]
        return t.Name(f"{node.name}_{idx.value if isinstance(idx, t.Number) else idx.name}",
                      col=node.col)
    if isinstance(node, _Func):
        if node.name == "exp" and node.may_be_name == "e" and not node.primes:
            return t.Call("exp", (_value(val),), col=node.col)
        node.sups.append((_value(val), col))     # \sin^2(x): applied after the call
        return node
    return t.Binary("**", _value(node), _value(val), col=getattr(node, "col", col))


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
        if isinstance(it, _Func):
            letter_like = it.may_be_name is not None and it.name not in COMMAND_FUNCTIONS.values()
            applies = nxt is not None and not isinstance(nxt, _Partial) and (
                isinstance(nxt, _Group) or not letter_like)
            if letter_like and it.name in "fgh" and not isinstance(nxt, _Group):
                applies = False
            if applies:
                args = nxt.items if isinstance(nxt, _Group) else [_value(nxt)]
                node = t.Call(it.name, tuple(args), primes=it.primes, col=it.col)
                for sup, scol in it.sups:
                    node = t.Binary("**", node, sup, col=it.col)
                for sup, scol in getattr(nxt, "sups", []):
                    node = _superscript(node, sup, scol)
                out.append(node)
                i += 2
                continue
            out.append(_value(it))
        elif isinstance(it, (_Partial, _DerivOp)):
            out.append(it)
        else:
            out.append(_value(it))
        i += 1
    if any(isinstance(x, _Partial) for x in out):
        return _PartialProduct(out, col)
    for k in range(len(out) - 1, -1, -1):       # innermost operator first
        if isinstance(out[k], _DerivOp):
            rest = out[k + 1:]
            if not rest:
                raise _err("\\frac{d}{dx} needs something to differentiate after it",
                           out[k].col)
            f = rest[0]
            for x in rest[1:]:
                f = t.Binary("product", f, x, col=col)
            out = out[:k] + [t.Derivative(f, out[k].v, col=out[k].col)]
    node = out[0]
    for x in out[1:]:
        node = t.Binary("product", node, x, col=col)
    return node


def _merge_runs(items):
    """Adjacent single letters that spell a known name become that name (see _KNOWN)."""
    known = _KNOWN.get()
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
            out.append(t.Name(best[1], col=items[i].col))
            i = best[0] + 1
        else:
            out.append(items[i])
            i += 1
    return out


class _DerivOp:
    """``\frac{d}{dx}`` without a numerator: differentiates the juxtaposed rest."""

    def __init__(self, v, col):
        self.v, self.col = v, col


class _PartialProduct:
    """``\\partial L`` as juxtaposed items: only a ``\\frac`` may consume it."""

    def __init__(self, items, col):
        self.items, self.col = items, col


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
    if isinstance(x, (_Partial, _PartialProduct)):
        raise _err("\\partial outside \\frac{\\partial f}{\\partial v}", x.col)
    return x


def parse(text, known=()):
    r"""Parse one LaTeX claim or expression into a tree.

    ``known``: names of the derivation, so ``out_{o1}`` reads as ``out_o1`` when that
    name is defined or used (otherwise it is o·u·t_o1, as TeX means).

    >>> from symbackprop.verify.tree import show
    >>> show(parse(r"\frac{dL}{dw} = 2wx"))
    'd(L, w) == ((2 · w) · x)'
    """
    try:
        parsed = _parser.parse(text)
    except UnexpectedInput as e:
        message, col = describe(e, text)
        raise ClaimSyntaxError(message, text=text, col=col) from None
    limits.check_depth(parsed, text)
    token = _KNOWN.set(frozenset(known))
    try:
        return _value(_ToTree().transform(parsed))
    except VisitError as e:
        raise with_text(e.orig_exc, text) from None
    except ClaimError as err:
        raise with_text(err, text) from None
    finally:
        _KNOWN.reset(token)
