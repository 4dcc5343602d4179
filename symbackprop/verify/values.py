"""Values of claim expressions: a sympy scalar, or a small ``ImmutableMatrix`` of them.

Shapes follow numpy: ``*``, ``+``, ``/``, ``**`` are elementwise with broadcasting (a
column times a row is their outer product), ``@`` is the matrix product, a 1×1 result is a
scalar.  LaTeX's ``\\cdot`` (op ``product``) is the matrix product when both sides are
matrices that fit, elementwise otherwise.

>>> import sympy as sp
>>> col = sp.ImmutableMatrix([[1], [2]]); row = sp.ImmutableMatrix([[3, 4]])
>>> binary("*", col, row)
Matrix([
[3, 4],
[6, 8]])
>>> binary("@", row, col)
11
"""

import sympy as sp

from symbackprop.verify import limits


class ShapeProblem(ValueError):
    """Shapes that do not fit; world.py turns it into a ShapeMismatch with the column."""


def shape(v):
    """() for a scalar, (rows, cols) for a matrix.

    >>> shape(sp.Symbol("x")), shape(sp.ImmutableMatrix([[1, 2]]))
    ((), (1, 2))
    """
    return tuple(v.shape) if isinstance(v, sp.MatrixBase) else ()


def scalarize(v):
    """A 1×1 matrix is a scalar.

    >>> scalarize(sp.ImmutableMatrix([[5]]))
    5
    """
    if isinstance(v, sp.MatrixBase) and v.shape == (1, 1):
        return v[0, 0]
    return v


def elementwise(fn, *vals):
    """``fn`` applied per element with numpy broadcasting over the values.

    >>> elementwise(lambda a, b: a + b, sp.ImmutableMatrix([[1], [2]]), 10)
    Matrix([
    [11],
    [12]])
    """
    shapes = [shape(v) for v in vals if shape(v)]
    if not shapes:
        return fn(*vals)
    rows = _fit([s[0] for s in shapes])
    cols = _fit([s[1] for s in shapes])
    if rows is None or cols is None:
        raise ShapeProblem("shapes " + ", ".join(_fmt(shape(v)) for v in vals)
                           + " do not broadcast")

    limits.check_elements(rows, cols, "an elementwise result")

    def at(v, i, j):
        if not shape(v):
            return v
        return v[i if v.shape[0] > 1 else 0, j if v.shape[1] > 1 else 0]

    out = sp.ImmutableMatrix(rows, cols, lambda i, j: fn(*(at(v, i, j) for v in vals)))
    return scalarize(out)


def _fit(dims):
    big = {d for d in dims if d != 1}
    if len(big) > 1:
        return None
    return big.pop() if big else 1


def _fmt(s):
    return "scalar" if not s else f"{s[0]}×{s[1]}"


def matmul(a, b):
    """The matrix product; both must be matrices with matching inner sizes.

    >>> matmul(sp.ImmutableMatrix([[1, 2]]), sp.ImmutableMatrix([[3], [4]]))
    11
    """
    # a scalar is a 1×1 matrix here: a one-output layer's delta is a scalar
    a = a if shape(a) else sp.ImmutableMatrix([[a]])
    b = b if shape(b) else sp.ImmutableMatrix([[b]])
    if a.shape[1] != b.shape[0]:
        raise ShapeProblem(f"inner sizes differ: {_fmt(a.shape)} @ {_fmt(b.shape)}")
    limits.check_elements(a.shape[0], b.shape[1], "a matrix product")
    return scalarize(sp.ImmutableMatrix(a * b))


_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b,
}


def binary(op, a, b):
    """One binary operation of the claim language on two values (see module doc).

    >>> binary("product", 2, sp.Symbol("x"))
    2*x
    """
    if op == "@":
        return matmul(a, b)
    if op == "product":
        if shape(a) and shape(b) and a.shape[1] == b.shape[0]:
            return matmul(a, b)
        return elementwise(_OPS["*"], a, b)
    return elementwise(_OPS[op], a, b)


def transpose(v):
    """``v.T``; a scalar is its own transpose.

    >>> transpose(sp.ImmutableMatrix([[1, 2]])).shape
    (2, 1)
    """
    return v.T if shape(v) else v


def describe_shape(v):
    """'scalar' or 'rows×cols', for messages.

    >>> describe_shape(sp.ImmutableMatrix([[1, 2]]))
    '1×2'
    """
    return _fmt(shape(v))
