"""Static shapes: tuples of ints and the batch symbol ``N``, with numpy's broadcasting rules.

User code writes the batch axis as ``None``; inside the graph it is the sympy symbol ``N``
(so a mean over the batch renders as ``/N``).  Broadcasting ``N`` against 1 gives ``N``;
``N`` against any other int is an error, because the batch size is not known to equal it.

>>> from symbackprop.graph.shape import normalize, broadcast_shapes, fmt
>>> fmt(broadcast_shapes(normalize((None, 3)), normalize((3,))))
'(N, 3)'
"""

from functools import lru_cache

import sympy as sp

from symbackprop.errors import ShapeError
from symbackprop.graph.scalar import N


def normalize(shape, what="shape"):
    """User shape -> internal shape: ``None`` becomes ``N``; ints are checked.

    >>> normalize((None, 2))
    (N, 2)
    """
    if isinstance(shape, (int, type(None))) or shape is N:
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ShapeError(f"{what}: expected a tuple of ints (None for the batch axis), got {shape!r}") from None
    out = []
    for d in dims:
        if d is None or d is N or (isinstance(d, sp.Basic) and d == N):
            out.append(N)
        elif isinstance(d, sp.Basic) and d.free_symbols <= {N}:
            out.append(d)
        elif isinstance(d, (int,)) or (hasattr(d, "__index__") and not isinstance(d, bool)):
            d = int(d)
            if d < 0:
                raise ShapeError(f"{what}: negative dimension {d} in {tuple(dims)!r}")
            out.append(d)
        else:
            raise ShapeError(f"{what}: dimension {d!r} in {tuple(dims)!r} is not an int or None")
    return tuple(out)


def fmt(shape):
    """Shape as a user reads it: ``(N, 3)``, ``(2,)``, ``()``.

    >>> fmt((N, 3)), fmt((2,)), fmt(())
    ('(N, 3)', '(2,)', '()')
    """
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def size(shape):
    """Number of elements, an int or a sympy expression in ``N``.

    >>> size((N, 3))
    3*N
    """
    try:
        return _size(shape)
    except TypeError:  # an unhashable dimension (a list): not cached
        return _size.__wrapped__(shape)


@lru_cache(maxsize=1 << 12)
def _size(shape):
    total = sp.Integer(1)
    for d in shape:
        total = total * d
    return int(total) if total.is_Integer else total


def broadcast_shapes(*shapes, context="broadcast"):
    """numpy broadcasting of static shapes, with ``N`` as an unknown batch size.

    >>> broadcast_shapes((N, 1), (1, 4))
    (N, 4)
    """
    if shapes and all(s == shapes[0] for s in shapes):  # the common case, thousands of times per graph
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dims = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            shown = " and ".join(fmt(s) for s in shapes)
            raise ShapeError(f"{context}: shapes {shown} do not broadcast (axis {axis}: {sorted(map(str, dims))})")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalize_axes(axis, ndim, what="axis"):
    """``axis`` (None, int or tuple, negatives allowed) -> sorted tuple of non-negative axes.

    >>> normalize_axes(-1, 2), normalize_axes(None, 3)
    ((1,), (0, 1, 2))
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = set()
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < ndim:
            raise ShapeError(f"{what}: axis {a!r} is out of range for a {ndim}-d array")
        out.add(a % ndim)
    if len(out) != len(axes):
        raise ShapeError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def concrete(shape, n):
    """The shape with the batch size ``n`` put in for ``N``.

    >>> concrete((N, 3), 5)
    (5, 3)
    """
    return tuple(int(d.subs(N, n)) if isinstance(d, sp.Basic) else int(d) for d in shape)
