"""Small concrete sizes for vector/matrix claims: the one place shapes become elements.

A shaped name becomes a sympy matrix of element symbols (``W2`` 2×3 → ``W2_11 ... W2_23``,
a column ``x`` → ``x_1, x_2``), and symbolic sizes get small distinct values (2, 3, 4, ...
in order of first appearance) so a misplaced transpose shows up as a shape mismatch instead
of passing by accident on square matrices.  Everything else in verify works on these
elements as scalars.

This is verify's stand-in for ``sb.expand`` (per-element expressions for small nets); when
that exists, ``element_matrix`` and ``choose_sizes`` are what to swap for it.

>>> choose_sizes({"x": ["n", 1], "W": ["h", "n"]})
{'n': 2, 'h': 3}
>>> element_matrix("W", (2, 2))
Matrix([
[W_11, W_12],
[W_21, W_22]])
"""

import sympy as sp


def symbol(name, assumptions=None):
    """The one way verify makes a variable: real, plus any user assumptions.

    >>> symbol("x", {"positive": True}).is_positive
    True
    """
    return sp.Symbol(name, real=True, **(assumptions or {}))


def choose_sizes(shapes, sizes=None):
    """Concrete values for the symbolic sizes used in ``shapes``.

    ``sizes`` fixes some by hand; the others get 2, 3, 4, ... skipping those taken.
    """
    chosen = dict(sizes or {})
    taken = set(chosen.values())
    nxt = 2
    for dims in shapes.values():
        for d in _dims(dims):
            if isinstance(d, str) and d not in chosen:
                while nxt in taken:
                    nxt += 1
                chosen[d] = nxt
                taken.add(nxt)
    return chosen


def _dims(dims):
    if isinstance(dims, (int, str)):
        return [dims]
    return list(dims)


def concrete_shape(dims, sizes):
    """(rows, cols) for a declared shape; a 1-d shape ``[n]`` is a column.

    >>> concrete_shape(["n", 1], {"n": 3}), concrete_shape(["n"], {"n": 2})
    ((3, 1), (2, 1))
    """
    ds = [sizes[d] if isinstance(d, str) else int(d) for d in _dims(dims)]
    if len(ds) == 0:
        return (1, 1)
    if len(ds) == 1:
        return (ds[0], 1)
    if len(ds) == 2:
        return tuple(ds)
    raise ValueError(f"shapes have at most 2 dimensions, got {len(ds)}")


def element_names(name, shp):
    """The element names of a ``name`` of shape ``shp``, row by row.

    >>> element_names("x", (2, 1)), element_names("A", (1, 1))
    ([['x_1'], ['x_2']], [['A']])
    """
    rows, cols = shp
    if rows == 1 and cols == 1:
        return [[name]]
    sep = "_" if max(rows, cols) > 9 else ""
    if cols == 1 or rows == 1:
        return [[f"{name}_{max(i, j) + 1}" for j in range(cols)] for i in range(rows)]
    return [[f"{name}_{i + 1}{sep}{j + 1}" for j in range(cols)] for i in range(rows)]


def element_matrix(name, shp, assumptions=None):
    """A matrix of element symbols (a plain symbol for 1×1).

    >>> element_matrix("x", (1, 1))
    x
    """
    names = element_names(name, shp)
    if shp == (1, 1):
        return symbol(name, assumptions)
    return sp.ImmutableMatrix([[symbol(n, assumptions) for n in row] for row in names])
