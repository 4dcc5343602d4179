"""``map``: an elementwise sympy body over operands broadcast together, numpy's rules.

``+ - * / **``, ``exp``, ``tanh``, ``sigmoid``, ... and every user activation are maps: the
body is a ``sympy.Lambda`` over the canonical symbols x0, x1, ... (one per operand), so the
derivative comes from ``sympy.diff`` and the code from each backend's scalar printer.

>>> import symbackprop as sb
>>> (sb.input("x", (None, 2)) * 2).attrs.body
Lambda(x0, 2*x0)
"""

import numbers
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError, ShapeError, UnsupportedFunction
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Expr
from symbackprop.graph.scalar import ARG, N, NAMED_FUNCTIONS, derivative, numpy_namespace
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import as_node, result_dtype
from symbackprop.primitives.constants import scalar_value, sympy_number

_ALLOWED_FUNCS = (sp.exp, sp.log, sp.tanh, sp.sinh, sp.cosh, sp.sin, sp.cos, sp.tan, sp.atan,
                  sp.asin, sp.acos, sp.asinh, sp.acosh, sp.atanh, sp.erf, sp.erfc, sp.Abs,
                  sp.sign, sp.Max, sp.Min, sp.Heaviside, sp.Piecewise, sp.floor, sp.ceiling,
                  *NAMED_FUNCTIONS.values())
_G = sp.Symbol("g", real=True)
_HEAVISIDE = sp.Function("heaviside")


class MapAttrs(NamedTuple):
    body: sp.Lambda


def check_body(expr, where):
    """Raise ``UnsupportedFunction`` if ``expr`` uses a function no backend evaluates.

    >>> check_body(sp.Function("f")(ARG[0]), "elementwise")
    Traceback (most recent call last):
    ...
    symbackprop.errors.UnsupportedFunction: elementwise: function f(x0) has no numeric definition; define it as a sympy expression (e.g. with sb.elementwise) in terms of exp, log, tanh, sigmoid, ...
    """
    for f in expr.atoms(sp.Function):
        if not isinstance(f, _ALLOWED_FUNCS):
            raise UnsupportedFunction(
                f"{where}: function {f} has no numeric definition; define it as a sympy expression "
                "(e.g. with sb.elementwise) in terms of exp, log, tanh, sigmoid, ...")
    for s in expr.atoms(sp.Derivative, sp.Integral, sp.Sum, sp.Product):
        raise UnsupportedFunction(f"{where}: {s} is not a closed form the backends can evaluate")


# Map.apply runs once per map built, rewritten, differentiated or fused: thousands of times
# for a deep graph whose bodies repeat, so its sympy work is cached per expression
@lru_cache(maxsize=1 << 15)
def _free_symbols(expr):
    return expr.free_symbols


@lru_cache(maxsize=1 << 15)
def body_variables(body):
    """``body.variables``, cached: sympy rebuilds the tuple on every access (~5 µs), and the
    passes ask it of every map they visit."""
    return body.variables


@lru_cache(maxsize=1 << 15)
def _renamed(expr, pairs):
    """``expr`` with each symbol of ``pairs`` (old, new) renamed; the canonical x0, x1, ..."""
    return expr.xreplace(dict(pairs)) if any(a != b for a, b in pairs) else expr


@lru_cache(maxsize=1 << 15)
def _lambda(arity, expr):
    return sp.Lambda(ARG[:arity], expr)


@lru_cache(maxsize=1 << 14)
def _formula_template(body):
    """``body`` printed with ⟨i⟩ for its variables (printed once per distinct body)."""
    names = {v: sp.Symbol(f"⟨{i}⟩") for i, v in enumerate(body.variables)}
    # sympy's ordering of terms costs more than the printing: a long (fused) body, whose
    # text is cut short in comments anyway, prints its terms as stored
    order = "none" if _larger_than(body.expr, FORMULA_ORDERED_NODES) else None
    return sp.sstr(body.expr.xreplace(names), order=order)


@lru_cache(maxsize=1 << 14)
def _partial(body, i):
    """∂body/∂(argument i) as an expression in the body's variables (cached per body)."""
    return derivative(body, i)(*body.variables)


@lru_cache(maxsize=1 << 14)
def _g_times_partial(body, i):
    """g·∂body/∂(argument i): the body of the vjp's map (a sympy product made once per body)."""
    return _G * _partial(body, i)


_CHECKED = set()


def _check_body_once(expr, where):
    """``check_body``, once per accepted expression (a refused one raises every time)."""
    if expr not in _CHECKED:
        check_body(expr, where)
        if len(_CHECKED) > 1 << 15:
            _CHECKED.clear()
        _CHECKED.add(expr)


@lru_cache(maxsize=4096)
def body_function(body):
    """A numpy function of (operands..., N) for a map body (cached per body): the oracle's.

    >>> from symbackprop.graph.scalar import FUNCTIONS
    >>> float(body_function(FUNCTIONS["sigmoid"])(np.float64(0.0), 1))
    0.5
    """
    # sympy prints Heaviside as a Piecewise, which is 1 at NaN: numpy's heaviside is NaN there
    expr = body.expr.replace(sp.Heaviside, lambda x, h0=sp.S.Half: _HEAVISIDE(x, h0))
    return sp.lambdify(list(body.variables) + [N], expr,
                       modules=[{**numpy_namespace(), "heaviside": np.heaviside}, "scipy", "numpy"])


def _number(expr):
    try:
        return float(expr)
    except TypeError:
        raise ShapeError(f"elementwise: constant body {expr} is not a real number") from None


def _context(where, nodes):
    return where + " of " + ", ".join(n.describe() for n in nodes)


def _strip(node):
    """The node under any reshapes and broadcasts."""
    from symbackprop.primitives.base import definition
    while definition(node).layout:
        node = node.args[0]
    return node


#: bodies of more nodes than this print their terms in stored order (see ``Map.formula``)
FORMULA_ORDERED_NODES = 40


def _larger_than(expr, limit):
    """True when ``expr`` has more than ``limit`` nodes (stops counting there)."""
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > limit:
            return True
    return False


@register
class Map(Primitive):
    op = "map"
    Attrs = MapAttrs

    def apply(self, expr, bindings, where="map", dtype=None):
        """Elementwise ``expr`` (a sympy expression) with each symbol bound to a node.

        The one place map nodes are made; it canonicalises them so equal computations intern
        to one node: operands ordered by structure (the same in every process), repeated
        operands merged, unused operands dropped, scalar constants folded into the body, and
        an identity body returns its operand.
        """
        expr = expr if isinstance(expr, sp.Basic) else sp.sympify(expr)
        nodes = list(bindings.values())
        try:  # the error's context prints every operand: build it only when there is an error
            out_shape = shp.broadcast_shapes(*(n.shape for n in nodes))
        except ShapeError:
            out_shape = shp.broadcast_shapes(*(n.shape for n in nodes), context=_context(where, nodes))
        # a rebuilt node keeps its dtype even when no float operand is left to carry it
        dtype = dtype or result_dtype(nodes)
        free = _free_symbols(expr)
        if not all(s in bindings or s is N for s in free):
            extra = free - set(bindings) - {N}
            raise ShapeError(f"{where}: symbols {sorted(str(s) for s in extra)} in {expr} are bound to no operand")
        first, subs = {}, {}
        for sym, node in bindings.items():
            if node.op == "const" and node.shape == ():
                subs[sym] = sympy_number(node.attrs.value.array.item())
            elif node in first:
                subs[sym] = first[node]
            else:
                first[node] = sym
        expr = expr.xreplace(subs) if subs else expr
        used = _free_symbols(expr)
        operands = [n for n, s in first.items() if s in used]
        if len(operands) > 1:
            operands.sort(key=attrgetter("key"))
        if len(operands) > len(ARG):
            raise ShapeError(f"{where}: more than {len(ARG)} operands in one elementwise body")
        expr = _renamed(expr, tuple((first[n], ARG[i]) for i, n in enumerate(operands)))
        _check_body_once(expr, where)
        if not operands:
            if expr.has(N):  # a value depending only on the batch size: a map of no operands
                node = Expr("map", (), MapAttrs(sp.Lambda((), expr)), (), dtype)
            else:
                from symbackprop.primitives.leaf import const
                node = const(np.array(_number(expr), dtype=dtype))
        elif (expr is ARG[0] or (expr.is_Symbol and expr == ARG[0])) and operands[0].dtype == dtype:
            node = operands[0]
        else:
            node_shape = shp.broadcast_shapes(*(n.shape for n in operands))
            node = Expr("map", tuple(operands), MapAttrs(_lambda(len(operands), expr)), node_shape, dtype)
        if node.shape != out_shape:
            from symbackprop.primitives.layout import broadcast_to
            node = broadcast_to(node, out_shape)
        return node

    def make(self, args, attrs, dtype=None):
        body = attrs.body
        return self.apply(body.expr, dict(zip(body_variables(body), args)), where="map", dtype=dtype)

    def evaluate(self, node, args, n):
        out = body_function(node.attrs.body)(*args, n)
        return np.broadcast_to(np.asarray(out, dtype=node.dtype), shp.concrete(node.shape, n))

    def vjp(self, node, g):
        from symbackprop.primitives.layout import unbroadcast
        body, args = node.attrs.body, node.args
        out = []
        for i, arg in enumerate(args):
            # applied, not .expr: d(u**2/2)/du = u is sympy's IdentityFunction, whose
            # .expr is its own dummy _x, bound to no operand
            d = _partial(body, i)
            if d == 0 or arg.dtype == "int64":
                out.append(None)
                continue
            bindings = {_G: g, **{ARG[j]: a for j, a in enumerate(args)}}
            out.append(unbroadcast(self.apply(_g_times_partial(body, i), bindings, where="gradient of map"),
                                   arg.shape))
        return out

    def formula(self, node, texts):
        from symbackprop.graph.text import atomic
        text = _formula_template(node.attrs.body)
        for i, t in enumerate(texts):
            text = text.replace(f"(⟨{i}⟩)", f"({t})")  # a call's parentheses suffice
            text = text.replace(f"⟨{i}⟩", t if atomic(t) else f"({t})")
        return text

    def detail(self, node):
        return str(node.attrs.body.expr)

    def render(self, node, args, renderer):
        from symbackprop.render.printer import LATEX, UNICODE, Piece
        body = node.attrs.body
        holders, subs = {}, {}
        for i, (v, p) in enumerate(zip(body.variables, args)):
            # placeholders sort by the operand's text, so sympy's order of terms and factors
            # follows the names (y ⊙ z), not the graph's internal operand order
            s = sp.Symbol(f"{p.text}\u0000{i}")
            subs[v] = s
            holders[s] = p
        expr = _softmax(body.expr.xreplace(subs), node, holders)
        tu = UNICODE.expr(expr, holders)
        tl = LATEX.expr(expr, holders)
        return Piece(tu.text, tl.text, tu.prec, node.ndim > 0)

    def expand(self, node, args, n):
        body = node.attrs.body
        expr = body.expr.subs(N, n)
        if not args:
            return np.broadcast_to(np.array(expr, dtype=object), shp.concrete(node.shape, n))
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in args])
        out = np.empty(arrays[0].shape, dtype=object)
        for idx in np.ndindex(*out.shape) if out.shape else [()]:
            out[idx] = expr.xreplace({v: a[idx] for v, a in zip(body.variables, arrays)})
        return np.broadcast_to(out, shp.concrete(node.shape, n))

    def rewrite(self, node, args):
        body = node.attrs.body
        values = [scalar_value(arg) for arg in args]
        if _settled(body) and all(v is None for v in values) and all(a is b for a, b in zip(args, node.args)):
            return node  # nothing to rewrite: no sympy work (most nodes of a deep graph)
        from symbackprop.primitives.layout import broadcast_to
        from symbackprop.primitives.leaf import const
        from symbackprop.simplify.stable import stabilise
        expr = stabilise(body.expr)
        bindings, subs = {}, {}
        for var, arg, value in zip(body_variables(body), args, values):
            if value is not None:
                subs[var] = value
            else:
                bindings[var] = arg
        if subs:
            expr = expr.xreplace(subs)
        expr, bindings = _stabilise_through_operands(expr, bindings)
        if not bindings and not expr.has(N):
            out = const(np.array(float(expr), dtype=node.dtype))
        else:
            out = self.apply(expr, bindings, where="simplify", dtype=node.dtype)
        if out.dtype != node.dtype and out.op == "const":
            out = const(out.attrs.value.array.astype(node.dtype))
        return out if out.shape == node.shape else broadcast_to(out, node.shape)

    def lower(self, node, out, lo):
        from codegen.program import Map as MapStep
        return MapStep(out, tuple(lo.name(a) for a in node.args), node.attrs.body)


MAP = PRIMITIVES["map"]


def _softmax(expr, node, holders):
    """``exp(z − logsumexp(z))`` reads as ``softmax(z)``."""
    from symbackprop.render.printer import ATOM, Piece
    syms = list(holders)
    for e in expr.atoms(sp.exp):
        arg = e.args[0]
        if not (arg.is_Add and len(arg.args) == 2):
            continue
        pos = [t for t in arg.args if t in holders]
        neg = [-t for t in arg.args if (-t) in holders]
        if len(pos) != 1 or len(neg) != 1:
            continue
        zi, li = syms.index(pos[0]), syms.index(neg[0])
        lse = _strip(node.args[li])
        z = node.args[zi]
        if lse.op == "reduce" and lse.attrs.kind == "logsumexp" and _strip(lse.args[0]) is _strip(z):
            zp = holders[pos[0]]
            s = sp.Symbol(f"_softmax{zi}")
            holders[s] = Piece(f"softmax({zp.text})", r"\mathrm{softmax}\left(%s\right)" % zp.latex, ATOM, True)
            expr = expr.xreplace({e: s})
    return expr


@lru_cache(maxsize=1 << 14)
@lru_cache(maxsize=1 << 14)
def _settled(body):
    """True when ``Map.rewrite`` leaves a map with this body as it is, whatever its operands
    (that are not scalars): the body is stable and has no ``log`` to stabilise through them."""
    from symbackprop.simplify.stable import stabilise
    return stabilise(body.expr) == body.expr and not body.expr.has(sp.log)


def _stabilise_through_operands(expr, bindings):
    """``log(v)`` where ``v`` is an operand map ``σ(z)``, ``1 + exp(z)``, ... : the stable form
    in ``z`` (the operand map stays where others read it)."""
    from symbackprop.simplify.stable import stabilise
    if not expr.has(sp.log):
        return expr, bindings
    for log in sorted(expr.atoms(sp.log), key=sp.default_sort_key):
        var = log.args[0]
        arg = bindings.get(var)
        if arg is None or arg.op != "map" or not arg.args:
            continue
        inner = arg.attrs.body
        fresh = {v: sp.Dummy(f"s{i}", real=True) for i, v in enumerate(inner.variables)}
        stable = stabilise(sp.log(inner.expr.xreplace(fresh)))
        if stable.has(sp.log) or stable == sp.log(inner.expr.xreplace(fresh)):
            continue
        expr = expr.xreplace({log: stable})
        bindings = dict(bindings)
        bindings.update({fresh[v]: a for v, a in zip(inner.variables, arg.args)})
        if var not in expr.free_symbols:
            del bindings[var]
    return expr, bindings


# ---- the public constructors ----------------------------------------------------------------
def apply(expr, bindings, where="map", dtype=None):
    """Elementwise ``expr`` (a sympy expression) with each symbol bound to a node (see
    ``Map.apply``).

    >>> x0, x1 = sp.symbols("a b")
    >>> from symbackprop.primitives.leaf import input
    >>> t = input("t", (3,))
    >>> apply(x0 * x1, {x0: t, x1: t}).attrs.body
    Lambda(x0, x0**2)
    """
    return MAP.apply(expr, bindings, where, dtype)


def map(body, *args):
    """Apply a ``sympy.Lambda`` elementwise, with numpy broadcasting of ``args``.

    >>> from symbackprop.primitives.leaf import input
    >>> map(sp.Lambda(sp.Symbol("u"), sp.Symbol("u") ** 2), input("x", (None, 2))).shape
    (N, 2)
    """
    if not isinstance(body, sp.Lambda):
        raise ArgumentError(f"map: body must be a sympy.Lambda, got {type(body).__name__}")
    if len(body.variables) != len(args):
        raise ShapeError(f"map: body {body} takes {len(body.variables)} arguments, got {len(args)}")
    nodes = [as_node(a, where="map") for a in args]
    return apply(body.expr, dict(zip(body.variables, nodes)), where="map")


_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b,
}


def _scalar(value):
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentError("booleans are not numbers here; use 0 or 1")
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, numbers.Real):
        return _float(float(value))
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "if":
        return _scalar(value.item())
    return None


def binary(op, a, b):
    """``a op b`` for nodes, numbers and arrays; Python numbers fold into the body.

    >>> from symbackprop.primitives.leaf import input
    >>> binary("*", input("x", (3,)), 2).attrs.body
    Lambda(x0, 2*x0)
    """
    sa, sb_ = _scalar(a), _scalar(b)
    like = a if isinstance(a, Expr) else b
    bindings = {}
    if sa is None:
        bindings[_U] = as_node(a, like, where=f"'{op}'")
    if sb_ is None:
        bindings[_V] = as_node(b, like, where=f"'{op}'")
    return apply(_binary_expr(op, sa, sb_), bindings, where=f"'{op}'")


_U, _V = sp.Symbol("u", real=True), sp.Symbol("v", real=True)


@lru_cache(maxsize=1 << 10)
def _binary_expr(op, left, right):
    """The body of ``u op v`` with a scalar side folded in (made once per op and scalars)."""
    return _BINARY[op](_U if left is None else left, _V if right is None else right)


@lru_cache(maxsize=1 << 12)
def _float(value):
    return sp.Float(value)
