"""Print a sympy scalar body as a textbook formula, in Unicode or in LaTeX.

Operands are placeholders whose rendering (text and precedence) is given; an elementwise
product of two tensor-valued factors prints ``⊙`` (``\\odot``), scalar coefficients are
written in front (``2(ŷ − y)/(3N)``), ``σ``, ``tanh``, ``𝟙[z > 0]`` for Heaviside.

>>> import sympy as sp
>>> from symbackprop.graph.scalar import N, sigmoid
>>> a, y = sp.symbols("a y")
>>> ops = {a: Piece("ŷ", r"\\hat{y}"), y: Piece("y", "y")}
>>> UNICODE.expr(2 * (a - y) / (3 * N), ops).text
'2(ŷ − y)/(3N)'
>>> print(LATEX.expr(a * (1 - a) * (a - y), ops).text)
\\left(\\hat{y} - y\\right) \\odot \\hat{y} \\odot \\left(1 - \\hat{y}\\right)
"""

from dataclasses import dataclass

import sympy as sp

from symbackprop.graph.scalar import N, sigmoid, softplus

ADD, MATMUL, MUL, NEG, POW, ATOM = 1, 2, 3, 3, 4, 5

_SUPER = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_MINUS = ("−", "-")  # a leading sign, as either style prints it


@dataclass(frozen=True)
class Piece:
    """A rendered sub-formula: its text in each style and its precedence; ``tensor`` says
    whether it is an array (so products with it are elementwise)."""
    text: str
    latex: str = None
    prec: int = ATOM
    tensor: bool = True


def wrap(style, piece, prec):
    """``piece`` in ``style``, parenthesised when it binds less tightly than ``prec``."""
    t = style.piece(piece)
    return t if piece.prec >= prec else style.paren(t)


@dataclass(frozen=True)
class Out:
    text: str
    prec: int
    tensor: bool


class Style:
    """How one output language writes each construct."""

    latex = False
    minus, odot, times = " − ", " ⊙ ", ""

    def paren(self, text):
        return f"({text})"

    def wrap(self, out, prec):
        return out.text if out.prec >= prec else self.paren(out.text)

    def call(self, name, arg):
        return f"{name}({arg})"

    def fname(self, f):
        return {"sigmoid": "σ", "exp": "exp", "log": "log", "Abs": None, "Heaviside": None}.get(f, f)

    def number(self, value):
        if value.is_Integer:
            return str(value)
        if value.is_Rational:
            return f"{value.p}/{value.q}"
        text = f"{float(value):.6g}"
        return text

    def pow_text(self, base, exp):
        if exp.is_Integer and exp > 0:
            return base + str(int(exp)).translate(_SUPER)
        return f"{base}^{exp}"

    def sqrt(self, arg):
        return f"√{arg}" if arg.replace("π", "p").isalnum() else f"√{self.paren(arg)}"

    def frac(self, num, den, num_out, den_out):
        return f"{self.wrap(num_out, MUL)}/{self.wrap(den_out, POW)}"

    def abs(self, arg):
        return f"|{arg}|"

    def heaviside(self, arg):
        return f"𝟙[{arg} > 0]"

    def symbol(self, s):
        return "N" if s == N else str(s)

    def piece(self, p):
        return p.text

    # ---- expressions ------------------------------------------------------------------
    def expr(self, e, operands):
        """``e`` with each placeholder symbol printed as ``operands[symbol]`` (a Piece)."""
        return self._expr(e, operands)

    def _expr(self, e, ops):
        if e in ops:
            p = ops[e]
            return Out(self.piece(p), p.prec, p.tensor)
        if e.is_Symbol:
            return Out(self.symbol(e), ATOM, False)
        if e is sp.pi:
            return Out(r"\pi" if self.latex else "π", ATOM, False)
        if e is sp.E:
            return Out("e", ATOM, False)
        if e.is_Number:
            if e.is_negative:
                inner = self._expr(-e, ops)
                return Out("-" + inner.text if self.latex else "−" + inner.text, NEG, False)
            return Out(self.number(e), ATOM if e.is_Integer or e.is_Float else MUL, False)
        if e.is_Add:
            return self._add(e, ops)
        if e.is_Mul:
            return self._mul(e, ops)
        if e.is_Pow:
            return self._pow(e, ops)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e, ops)
        if isinstance(e, (sp.Function, sp.Max, sp.Min)):
            return self._function(e, ops)
        return Out(sp.sstr(e), ATOM, True)

    def _piecewise(self, e, ops):
        parts = []
        tensor = False
        for value, cond in e.args:
            v = self._expr(value, ops)
            tensor |= v.tensor
            if cond is sp.true:
                parts.append(f"{v.text} otherwise" if not self.latex else r"%s\ \mathrm{otherwise}" % v.text)
                continue
            lhs, rhs = (self._expr(a, ops) for a in cond.args)
            rel = {"==": "=", "<": "<", ">": ">", "<=": "≤", ">=": "≥", "!=": "≠"}.get(cond.rel_op, cond.rel_op)
            if self.latex:
                rel = {"≤": r"\leq", "≥": r"\geq", "≠": r"\neq"}.get(rel, rel)
                parts.append(r"%s\ \mathrm{if}\ %s %s %s" % (v.text, lhs.text, rel, rhs.text))
            else:
                parts.append(f"{v.text} if {lhs.text} {rel} {rhs.text}")
        if self.latex:
            return Out(r"\left[%s\right]" % r",\ ".join(parts), ATOM, tensor)
        return Out("[" + ", ".join(parts) + "]", ATOM, tensor)

    def _add(self, e, ops):
        c, rest = e.primitive()
        if c != 1 and rest.is_Add and c.is_Integer:
            inner = self._add(rest, ops)
            text = self.number(c) + (" " if self.latex else "") + self.paren(inner.text)
            return Out(text, MUL, inner.tensor)
        terms = list(e.as_ordered_terms())
        # positive terms first, products of matrices (x W) before their bias; else sympy's order
        terms.sort(key=lambda t: (t.could_extract_minus_sign(), not (t in ops and ops[t].prec == MATMUL)))
        parts, tensor = [], False
        for i, t in enumerate(terms):
            neg = t.could_extract_minus_sign()
            out = self._expr(-t if neg else t, ops)
            tensor |= out.tensor
            text = self.wrap(out, ADD + 1) if neg else out.text
            if i == 0:
                parts.append(("-" if self.latex else "−") + text if neg else text)
            elif not neg and text.startswith(_MINUS):  # an operand printed with a sign: a − b, not a + −b
                parts.append(self.minus + text[1:].lstrip())
            else:
                parts.append((self.minus if neg else (" + ")) + text)
        return Out("".join(parts), ADD, tensor)

    def _mul(self, e, ops):
        if e.could_extract_minus_sign():
            inner = self._expr(-e, ops)
            text = self.wrap(inner, MUL)
            if text.startswith(_MINUS):  # −(−a), never −−a
                text = self.paren(text)
            return Out(("-" if self.latex else "−") + text, NEG, inner.tensor)
        num, den = [], []
        coeff, factors = e.as_coeff_mul()
        if coeff != 1:
            if coeff.p != 1:
                num.append(sp.Integer(coeff.p) if coeff.is_Rational else coeff)
            if coeff.is_Rational and coeff.q != 1:
                den.append(sp.Integer(coeff.q))
        for f in factors:
            if f.is_Pow and f.exp.is_number and f.exp.is_negative:
                den.append(f.base ** (-f.exp))
            else:
                num.append(f)
        num_out = self._product(num, ops)
        if den and num_out.prec < MUL and not self.latex:  # (a ⊙ b)/N, not a ⊙ b/N
            num_out = Out(self.paren(num_out.text), ATOM, num_out.tensor)
        if not den:
            return num_out
        den_out = self._product(den, ops)
        return Out(self.frac(num_out.text, den_out.text, num_out, den_out), MUL, num_out.tensor or den_out.tensor)

    def _product(self, factors, ops):
        if not factors:
            return Out("1", ATOM, False)
        factors = sorted(factors, key=lambda f: _factor_rank(f, ops))
        outs = [self._expr(f, ops) for f in factors]
        scalars = [o for o in outs if not o.tensor]
        tensors = [o for o in outs if o.tensor]
        if len(outs) == 1:
            return outs[0]
        head = self.times.join(self.wrap(o, POW) if i else self.wrap(o, MUL + 1) for i, o in enumerate(scalars))
        if self.latex:
            head = " ".join(self.wrap(o, POW) for o in scalars)
        body = self.odot.join(self.wrap(o, MUL + 1) for o in tensors)
        if head and body:
            if len(tensors) == 1 and tensors[0].prec >= POW:
                text = head + (" " if self.latex or not head[-1].isdigit() or "√" in head else "") + body
            else:
                text = head + (" " if self.latex else "") + (self.paren(body) if len(tensors) > 1 else self.wrap(tensors[0], POW))
        else:
            text = head or body
        return Out(text, MUL - 0.5 if len(tensors) > 1 else MUL, bool(tensors))

    def _pow(self, e, ops):
        base, exp = e.args
        if exp == sp.S.Half:
            inner = self._expr(base, ops)
            return Out(self.sqrt(inner.text), ATOM, inner.tensor)
        if exp.is_number and exp.is_negative:
            return self._mul(sp.Mul(sp.S.One, e, evaluate=False), ops)
        inner = self._expr(base, ops)
        if exp.is_number:
            return Out(self.pow_text(self.wrap(inner, ATOM), exp), POW, inner.tensor)
        e_out = self._expr(exp, ops)
        return Out(self.pow_text(self.wrap(inner, ATOM), e_out.text), POW, inner.tensor or e_out.tensor)

    def _function(self, e, ops):
        args = [self._expr(a, ops) for a in e.args]
        tensor = any(a.tensor for a in args)
        name = type(e).__name__
        if isinstance(e, sp.Heaviside):
            return Out(self.heaviside(args[0].text), ATOM, tensor)
        if isinstance(e, sp.Abs):
            return Out(self.abs(args[0].text), ATOM, tensor)
        if isinstance(e, (sp.Max, sp.Min)):
            parts = sorted(e.args, key=lambda a: a.is_number)
            outs = [self._expr(a, ops) for a in parts]
            return Out(self.call(name.lower(), ", ".join(o.text for o in outs)), ATOM, tensor)
        label = {"sigmoid": "σ"}.get(name, name)
        return Out(self.call(self.fname(label) or label, ", ".join(a.text for a in args)), ATOM, tensor)


def _factor_rank(f, ops):
    """Textbook order of elementwise factors: products of matrices and differences like
    ``ŷ − y`` first, then values, then complements like ``1 − ŷ``."""
    if f in ops:
        return 0 if ops[f].prec in (MATMUL, ADD) else 1
    if f.is_Add:
        return 2 if any(t.is_number for t in f.args) else 0
    return 1


class LatexStyle(Style):
    latex = True
    minus, odot, times = " - ", r" \odot ", " "

    def paren(self, text):
        return r"\left(%s\right)" % text

    def call(self, name, arg):
        return r"%s\left(%s\right)" % (name, arg)

    def fname(self, f):
        if f == "σ":
            return r"\sigma"
        if f in ("exp", "log", "tanh", "sin", "cos", "tan", "sinh", "cosh", "max", "min"):
            return "\\" + f
        return r"\mathrm{%s}" % f

    def number(self, value):
        if value.is_Rational and not value.is_Integer:
            return r"\frac{%d}{%d}" % (value.p, value.q)
        return super().number(value)

    def pow_text(self, base, exp):
        return "%s^{%s}" % (base, exp)

    def sqrt(self, arg):
        return r"\sqrt{%s}" % arg

    def frac(self, num, den, num_out, den_out):
        return r"\frac{%s}{%s}" % (num, den)

    def abs(self, arg):
        return r"\left|%s\right|" % arg

    def heaviside(self, arg):
        return r"\left[%s > 0\right]" % arg

    def symbol(self, s):
        return "N" if s == N else sp.latex(s)

    def piece(self, p):
        return p.latex if p.latex is not None else p.text


UNICODE = Style()
LATEX = LatexStyle()

__all__ = ["Piece", "UNICODE", "LATEX", "ADD", "MATMUL", "MUL", "POW", "ATOM", "sigmoid", "softplus"]
