"""sympy simplification of one scalar body, cached per body and cheap by construction.

Function applications (``exp(x0 − x1)``, ``σ(x1)``, ``tanh(x0)``) are held opaque while the
rational part is simplified, so sympy never splits ``exp(a − b)`` into an overflowing
``exp(a)·exp(−b)`` nor rewrites ``tanh`` into exponentials; a candidate is kept only when it
is cheaper by :func:`cost` and uses no function the original did not.

>>> import sympy as sp
>>> from symbackprop.graph.scalar import ARG, N, sigmoid
>>> x0, x1 = ARG[:2]
>>> s = sigmoid(x1)
>>> simplify_expr((1 - s) * (-x0 / (N * s) + (1 - x0) / (N * (1 - s))) * s)
(-x0 + sigmoid(x1))/N
"""

import time
import zlib
from functools import lru_cache

import sympy as sp


#: bodies above this many operations get only the cheapest rewrite (cancel)
MAX_FACTOR_OPS = 60


@lru_cache(maxsize=1 << 15)
def op_count(expr):
    """``sp.count_ops``, cached: inlining and reuse ask it of the same bodies again and again."""
    return sp.count_ops(expr)


@lru_cache(maxsize=1 << 15)
def cost(expr):
    """Operations to evaluate ``expr``, a function call weighing as ten arithmetic ops.

    >>> from symbackprop.graph.scalar import ARG
    >>> cost(sp.exp(ARG[0]) * sp.exp(-ARG[1])) > cost(sp.exp(ARG[0] - ARG[1]))
    True
    """
    calls = sum(1 for f in sp.preorder_traversal(expr) if isinstance(f, sp.Function))
    return sp.count_ops(expr) + 10 * calls


_OPAQUE = (sp.Function, sp.Max, sp.Min, sp.Piecewise)


def _functions(expr):
    return {type(f) for f in expr.atoms(*_OPAQUE)}


def _opaque(expr):
    """``expr`` with each outermost function call replaced by a dummy; and the way back."""
    calls = {}

    def visit(e):
        if isinstance(e, sp.Piecewise):
            inner = e
        elif isinstance(e, _OPAQUE):
            args = [simplify_expr(a) for a in e.args]
            # rebuilt only when an argument changed: sympy's eval of sin(x) alone costs ~1 ms
            inner = e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)
        if isinstance(e, _OPAQUE):
            if inner not in calls:
                calls[inner] = sp.Dummy(f"f{len(calls)}", real=True)
            return calls[inner]
        if e.is_Atom:
            return e
        return e.func(*[visit(a) for a in e.args])

    out = visit(expr)
    return out, {d: f for f, d in calls.items()}


def exact_rationals(expr):
    """Floats that are exactly small binary fractions (``1.0``, ``0.5``) as sympy rationals.

    >>> exact_rationals(sp.Float(0.5) * sp.Symbol("x") + sp.Float(0.1))
    x/2 + 0.1
    """
    subs = {}
    for f in expr.atoms(sp.Float):
        num, den = float(f).as_integer_ratio()
        if den <= 1024 and abs(num) <= 2 ** 20:
            subs[f] = sp.Rational(num, den)
    return expr.xreplace(subs) if subs else expr


@lru_cache(maxsize=1 << 14)
def simplify_expr(expr):
    """The cheapest of a few exact rewrites of ``expr`` (``expr`` itself when none is cheaper).

    Cached per body up to the names of its symbols: the body is simplified with its symbols
    renamed in an order set by where each stands (see ``symbol_order``), so the bodies of a
    long chain or a deep network, which repeat with their operands listed in other orders,
    are simplified once.

    >>> x, y = sp.symbols("x y", real=True)
    >>> simplify_expr(x * y / x + y), simplify_expr(y * x / y + x)
    (2*y, 2*x)
    """
    symbols = expr.free_symbols
    if len(symbols) < 2:
        return _simplify_expr(expr)
    names = {s: sp.Symbol(f"_v{k}", **s.assumptions0) for k, s in enumerate(symbol_order(expr))}
    out = _simplify_expr(expr.xreplace(names))
    return out.xreplace({v: s for s, v in names.items()})


def symbol_order(expr):
    """``expr``'s symbols ordered by where each stands, whatever their names (names break
    ties): bodies equal up to renaming list their symbols alike.

    One pass over the tree per round (linear in its size; a digest of the whole body per
    symbol cost seconds on a long chain's inlined bodies): every subtree gets a name-blind
    number (a symbol counts by its assumptions, so the batch size ``N`` stays apart, then
    by its colour), a symbol's colour is the sorted list of the numbers of the places it
    occurs in; two rounds, so a symbol also tells its parents' places apart.  Numbers are
    hashes of ints and tuples of ints: the same in every process (string hashes are not).

    >>> a, b, c = sp.symbols("a b c", real=True)
    >>> symbol_order(sp.exp(b) * c + c), symbol_order(sp.exp(a) * b + b)
    ([c, b], [b, a])
    """
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    colour = {s: _atom_code(s) for s in symbols}
    for _ in range(2):
        places = {s: [] for s in symbols}
        _blind(expr, colour, places, {})
        colour = {s: hash(tuple(sorted(p))) for s, p in places.items()}
    return sorted(symbols, key=lambda s: (colour[s], s.name))


_COMMUTATIVE = (sp.Add, sp.Mul)


def _blind(e, colour, places, memo):
    """The name-blind number of ``e`` (symbols by ``colour``), recording in ``places`` each
    symbol's (parent's kind, position) pairs."""
    key = id(e)
    if key in memo:
        return memo[key]
    if e.is_Symbol:
        out = colour[e]
    elif not e.args:
        out = _atom_code(e)
    else:
        kinds = [_blind(a, colour, places, memo) for a in e.args]
        commutative = isinstance(e, _COMMUTATIVE)
        out = hash((_type_code(type(e)), tuple(sorted(kinds)) if commutative else tuple(kinds)))
        for i, a in enumerate(e.args):
            if a.is_Symbol:
                places[a].append((out, 0 if commutative else i))
    memo[key] = out
    return out


@lru_cache(maxsize=1 << 12)
def _type_code(cls):
    return zlib.crc32(cls.__name__.encode())


@lru_cache(maxsize=1 << 14)
def _atom_code(atom):
    """A deterministic number for a leaf: its class and text (a symbol: its assumptions only)."""
    if atom.is_Symbol:
        return zlib.crc32(repr(sorted(atom.assumptions0.items())).encode())
    return zlib.crc32(f"{type(atom).__name__}={atom}".encode())


@lru_cache(maxsize=8192)
def _simplify_expr(expr):
    expr = exact_rationals(expr)
    if expr.is_Atom or expr.has(sp.Piecewise):
        return expr
    rational, back = _opaque(expr)
    candidates = []
    try:
        c = sp.cancel(rational)
        candidates.append(c)
        candidates.append(sp.factor_terms(c))
        if sp.count_ops(rational) <= MAX_FACTOR_OPS:
            candidates.append(sp.factor(rational))
    except (sp.PolynomialError, TypeError, ValueError):  # pragma: no cover - sympy corner cases
        pass
    allowed, floats = _functions(expr), expr.atoms(sp.Float)
    best, best_cost = expr, cost(expr)
    for cand in candidates:
        cand = cand.xreplace(back)
        # sympy's polys turn every coefficient inexact beside one float (``1e-5``): ``1.0*v``
        if not _functions(cand) <= allowed or not cand.atoms(sp.Float) <= floats:
            continue
        c = cost(cand)
        if c < best_cost or (c == best_cost and _negatives(cand) < _negatives(best)):
            best, best_cost = cand, c
    return best


def _negatives(expr):
    return sum(1 for e in sp.preorder_traversal(expr) if e.is_Mul and e.could_extract_minus_sign())


class Budget:
    """An allowance of CPU time for sympy work in one ``simplify`` call.

    Bodies met after it runs out are left as fused; cached bodies cost nothing, so in
    practice only the first simplification of a new model spends any of it.  It counts
    this process's CPU time, not the wall clock, so a busy machine does not leave more
    bodies unsimplified (and give other formulas and other kernels) than a quiet one.
    """

    def __init__(self, seconds):
        self.deadline = time.process_time() + seconds

    @property
    def left(self):
        return time.process_time() < self.deadline
