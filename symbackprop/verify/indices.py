r"""Indexed notation at concrete sizes: ``x_i``, ``w_{jk}``, ``\sum_i``, ``\delta_{ij}``.

A component name is a vector or matrix name followed by index letters (``x_i`` is element
i of the vector ``x``, ``w_l_jk`` element (j, k) of the matrix ``w_l``: see ``names.py``).
An index is bound by a sum (``\sum_{i=1}^{n}``, or ``\sum_i`` over the whole range of what
it indexes) or free: a claim with free indices is checked for every value of them at the
concrete sizes (``\frac{\partial s_i}{\partial z_j} = s_i(\delta_{ij} - s_j)`` for all
i, j).  ``\delta_{ij}`` is the Kronecker delta unless ``delta`` is itself a vector or
matrix; ``[x > 0]`` and ``\mathbb{1}(x \geq y)`` are 1 or 0.  A vector's index may be
shifted by a whole number (``x_{j+1}``, ``h_{t-1}``, named ``x_jp1``, ``h_tm1``): element
j+1 of ``x``; a free index then takes only the values that keep every element in range.

>>> import sympy as sp
>>> from symbackprop.verify.world import World
>>> from symbackprop.verify.parse import parse_expression
>>> w = World(shapes={"x": ["n"]}, sizes={"n": 3})
>>> w.evaluate(parse_expression(r"\sum_{i=1}^{n} x_i^2"))
x_1**2 + x_2**2 + x_3**2
"""

import itertools
import re

import sympy as sp

from symbackprop.verify import limits, values
from symbackprop.verify import tree as t
from symbackprop.verify.errors import ClaimError

#: one shifted index, as names.py spells it: j+1 -> jp1, t-1 -> tm1
_SHIFTED = re.compile(r"([a-z])([pm])([0-9]+)")


def split(name, is_shaped):
    """``(base, index text)`` when ``name`` is a shaped base followed by index letters
    (``jk``) or one shifted index (``jp1``).

    >>> split("w_l_jk", lambda b: b == "w_l"), split("x_1", lambda b: True)
    (('w_l', 'jk'), None)
    >>> split("x_jp1", lambda b: True)
    ('x', 'jp1')
    """
    if "_" not in name:
        return None
    base, idx = name.rsplit("_", 1)
    if (idx.isalpha() and len(idx) <= 2 or _SHIFTED.fullmatch(idx)) and is_shaped(base):
        return base, idx
    return None


def terms(idx):
    """An index text as ``[(letter, offset)]``.

    >>> terms("jk"), terms("jp1"), terms("tm2")
    ([('j', 0), ('k', 0)], [('j', 1)], [('t', -2)])
    """
    m = _SHIFTED.fullmatch(idx)
    if m:
        return [(m[1], int(m[3]) if m[2] == "p" else -int(m[3]))]
    return [(c, 0) for c in idx]


def _spelled(idx):
    """``jp1`` as the book writes it, ``j+1``, for messages."""
    return ", ".join(c + (f"{o:+d}" if o else "") for c, o in terms(idx))


def _shape_of(world, base):
    v = world.values.get(base)
    if v is None and base in world.shapes:
        v = world._input(base)
    return values.shape(v) if v is not None else ()


def _is_shaped(world):
    return lambda base: bool(_shape_of(world, base))


def element(ev, node):
    """The element a component name means under the evaluator's index values, or None."""
    w = ev.w
    if node.name in ev.env:             # an index itself: [i = j], \sum_i i x_i
        return sp.Integer(ev.env[node.name])
    if node.name in w.values or node.name in w.elements:
        return None
    hit = split(node.name, _is_shaped(w))
    if hit is None:
        hit = _kronecker(ev, node)
        return hit
    base, idx = hit
    if not all(c in ev.env for c, _ in terms(idx)):
        return None
    value = w.values[base]
    pos = [ev.env[c] + off for c, off in terms(idx)]
    rows, cols = value.shape
    if len(pos) == 1 and 1 in (rows, cols):
        i = pos[0]
        if not 1 <= i <= max(rows, cols):
            raise ClaimError(f"{node.name}: index {_spelled(idx)} = {i} outside "
                             f"1..{max(rows, cols)}", col=node.col)
        return value[i - 1] if rows == 1 or cols == 1 else None
    if len(pos) == 2:
        i, j = pos
        if not (1 <= i <= rows and 1 <= j <= cols):
            raise ClaimError(f"{node.name}: index ({i}, {j}) outside {rows}×{cols}",
                             col=node.col)
        return value[i - 1, j - 1]
    raise ClaimError(f"{node.name}: {len(pos)} indices for a {rows}×{cols} value",
                     col=node.col)


def _kronecker(ev, node):
    if node.name.startswith("delta_") and not _shape_of(ev.w, "delta"):
        idx = node.name[len("delta_"):]
        if len(idx) == 2 and all(c in ev.env for c in idx):
            return sp.S.One if ev.env[idx[0]] == ev.env[idx[1]] else sp.S.Zero
    return None


def compare(ev, node):
    """An indicator: 1 where the comparison holds, else 0 (a step function of the
    difference, so its derivative is 0 away from the kink, as autodiff takes it)."""
    a, b = ev.eval(node.left), ev.eval(node.right)
    if node.op == "==":
        if not (getattr(a, "is_number", False) and getattr(b, "is_number", False)):
            raise ClaimError("[a = b] compares numbers or indices, such as [i = j]",
                             col=node.col)
        return sp.S.One if a == b else sp.S.Zero
    strict = node.op in (">", "<")
    diff = values.binary("-", a, b) if node.op in (">", ">=") else values.binary("-", b, a)
    return values.elementwise(lambda d: sp.Heaviside(d, 0 if strict else 1), diff)


def _bound(ev, node, what):
    v = ev.eval(node)
    if isinstance(node, t.Name) and node.name in ev.w.sizes:
        v = sp.Integer(ev.w.sizes[node.name])
    if not (isinstance(v, sp.Integer) or (isinstance(v, sp.Expr) and v.is_Integer)):
        raise ClaimError(f"the {what} bound of a sum must be a whole number or a size from "
                         f"'sizes:', not {t.show(node)}", col=getattr(node, "col", None))
    return int(v)


def index_range(ev, letter, body):
    """1..n for an index letter, from the shapes of the names it indexes in ``body``."""
    for n in t.walk(body):
        if isinstance(n, t.Name):
            hit = split(n.name, _is_shaped(ev.w))
            # a shifted index (x_{j+1}) says nothing of j's own range: bounds must be given
            if hit and (letter, 0) in terms(hit[1]):
                shp = _shape_of(ev.w, hit[0])
                pos = terms(hit[1]).index((letter, 0))
                if len(hit[1]) == 1:
                    return max(shp)
                return shp[pos]
    return None


def reduce(ev, node):
    """``\\sum``/``\\prod`` over the index's range, each term with the index set."""
    if node.lower is not None:
        lo, hi = _bound(ev, node.lower, "lower"), _bound(ev, node.upper, "upper")
    else:
        lo, hi = 1, index_range(ev, node.index, node.body)
        if hi is None:
            raise ClaimError(f"\\{node.op}_{node.index}: no vector or matrix is indexed by "
                             f"{node.index}; give the range (\\{node.op}_{{{node.index}=1}}^"
                             f"{{n}})", col=node.col)
    limits.check_elements(max(hi - lo + 1, 0), 1, f"the {node.op} over {node.index}")
    saved = ev.env.get(node.index)
    terms = []
    try:
        for k in range(lo, hi + 1):
            ev.env[node.index] = k
            terms.append(ev.eval(node.body))
    finally:
        if saved is None:
            ev.env.pop(node.index, None)
        else:
            ev.env[node.index] = saved
    if not terms:
        return sp.S.Zero if node.op == "sum" else sp.S.One
    out = terms[0]
    for x in terms[1:]:
        out = values.binary("+" if node.op == "sum" else "*", out, x)
    return out


def free_indices(world, tree):
    """Index letters of a claim that no sum binds, with their ranges: ``{letter: range}``
    (the values for which every element the letter picks, shifted or not, exists).

    >>> from symbackprop.verify.world import World
    >>> from symbackprop.verify.parse import parse_claim
    >>> w = World(shapes={"s": ["n"], "z": ["n"]}, sizes={"n": 3})
    >>> free_indices(w, parse_claim(r"\\frac{\\partial s_i}{\\partial z_j} = 0"))
    {'i': range(1, 4), 'j': range(1, 4)}
    >>> free_indices(w, parse_claim(r"s_{t+1} = z_t"))
    {'t': range(1, 3)}
    """
    bound = {n.index for n in t.walk(tree) if isinstance(n, t.Reduce)}
    out = {}
    for n in t.walk(tree):
        if not isinstance(n, t.Name) or n.name in world.values or n.name in world.elements:
            continue
        if n.name in world.known and n.name not in world.shapes:
            continue
        hit = split(n.name, _is_shaped(world))
        if hit is None:
            continue
        base, idx = hit
        shp = _shape_of(world, base)
        vector = 1 in shp
        parts = terms(idx)
        if vector and len(parts) != 1 or not vector and len(parts) != 2:
            continue
        for pos, (c, off) in enumerate(parts):
            if c in bound:
                continue
            n = max(shp) if vector else shp[pos]
            lo, hi = 1 - off, n - off          # 1 <= c + off <= n
            if c in out:
                lo, hi = max(lo, out[c].start), min(hi, out[c].stop - 1)
            out[c] = range(max(lo, 1), hi + 1)
    return out


def assignments(free):
    """Every assignment of values to the free indices, in order.

    >>> list(assignments({"i": range(1, 3), "j": range(1, 3)}))
    [{'i': 1, 'j': 1}, {'i': 1, 'j': 2}, {'i': 2, 'j': 1}, {'i': 2, 'j': 2}]
    """
    letters = sorted(free)
    total = 1
    for c in letters:
        total *= len(free[c])
    limits.check_elements(total, 1, "the index combinations of a claim")
    for combo in itertools.product(*[free[c] for c in letters]):
        yield dict(zip(letters, combo))
