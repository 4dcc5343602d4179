"""Backend-neutral preparation of a sympy scalar body for a loop: common subexpressions
split out, and the parts that do not change inside the loop hoisted before it.

>>> import sympy as sp
>>> x, s = sp.symbols("x0 x1", real=True)
>>> split_body(sp.exp(x) * s**2 + sp.exp(x), {s}, "_c")
([(_c0, x1**2)], [(_c1, exp(x0))], _c0*_c1 + _c1)
"""

import hashlib
from functools import lru_cache

import sympy as sp


@lru_cache(maxsize=1 << 17)
def digest(expr):
    """16 bytes naming a sympy expression's tree: class names, atoms (a symbol with its
    assumptions) and arguments in sympy's canonical order; the same in every process
    (Python's ``hash`` is salted per process).  Cached per subexpression, so a body built
    from earlier bodies costs only its new nodes, and nothing is printed.

    >>> x = sp.Symbol("x0", real=True)
    >>> digest(sp.tanh(x) + 1) == digest(1 + sp.tanh(x)), digest(x) == digest(sp.Symbol("x0"))
    (True, False)
    """
    h = hashlib.blake2b(type(expr).__name__.encode(), digest_size=16)
    if expr.args:
        for arg in expr.args:
            h.update(digest(arg))
    else:
        h.update(b"=" + str(expr).encode())
        if isinstance(expr, sp.Symbol):
            h.update(repr(sorted(expr.assumptions0.items())).encode())
    return h.digest()


_PLAIN = (str, int, bool, float, type(None))


def described(value):
    """Text naming a value made of sympy expressions, tuples, lists and plain values (a
    step's fields, a shape, a sharing key): expressions by their ``digest``, never printed
    (printing a deep network's bodies and update rules costs seconds), tuples and lists
    item by item, the rest by ``repr``.  Deterministic across processes.

    >>> described((sp.Integer(3), "a", [1]))[33:]
    ", 'a', [1])"
    """
    if isinstance(value, sp.Basic):
        return digest(value).hex()
    if isinstance(value, (tuple, list)) and all(type(v) in _PLAIN for v in value):
        return repr(value)  # names, ints: as the general case below would write them, faster
    if isinstance(value, tuple):
        return "(" + ", ".join(map(described, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(map(described, value)) + "]"
    return repr(value)


def split_body(expr, invariant, prefix):
    """(hoisted [(symbol, expr)], loop [(symbol, expr)], result expr) for ``expr``.

    Subexpressions whose symbols are all in ``invariant`` (scalars, hyperparameters) go
    to ``hoisted``, computed once before the loop; new locals are named ``{prefix}{k}``.
    Each list is in dependency order; loop entries may use hoisted symbols.
    """
    inv = set(invariant)
    fresh = sp.numbered_symbols(prefix)
    pulled = []
    expr = _pull_invariant(expr, inv, fresh, pulled)
    replacements, (reduced,) = sp.cse([expr], symbols=fresh, optimizations=None)
    hoisted, inner = [], []
    for sym, sub in pulled:
        hoisted.append((sym, sub))
        inv.add(sym)
    for sym, sub in replacements:
        if sub.free_symbols <= inv:
            inv.add(sym)
            hoisted.append((sym, sub))
        else:
            inner.append((sym, sub))
    return hoisted, inner, reduced


def _pull_invariant(e, inv, fresh, pulled):
    """Replace each maximal loop-invariant subexpression of ``e`` by a new symbol."""
    if e.is_Atom:
        return e
    if e.free_symbols and e.free_symbols <= inv:
        sym = next(fresh)
        pulled.append((sym, e))
        return sym
    if e.is_Add or e.is_Mul:
        fixed = [a for a in e.args if a.free_symbols <= inv and not a.is_Number]
        if len(fixed) > 1 or (fixed and not fixed[0].is_Atom):
            sym = next(fresh)
            pulled.append((sym, e.func(*fixed)))
            rest = [_pull_invariant(a, inv, fresh, pulled) for a in e.args if a not in fixed]
            return e.func(sym, *rest)
    return e.func(*[_pull_invariant(a, inv, fresh, pulled) for a in e.args])
