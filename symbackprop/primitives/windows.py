"""Sliding-window geometry shared by convolution and pooling: argument normalisation, output
sizes, and the numpy windows the oracles read.

A window op slides over the trailing ``d`` spatial axes; along each axis, output position
``y`` reads input positions ``y·stride + k − padding`` for kernel offsets ``k``.

>>> out_size(28, 3, 1, 0), out_size(7, 2, 2, 0), out_size(5, 3, 2, 1)
(26, 3, 3)
"""

import itertools

import numpy as np

from symbackprop.errors import ArgumentError, ShapeError


def pair(value, d, what, minimum):
    """``value`` (an int or a sequence of ``d`` ints) as a tuple of ``d`` ints ≥ ``minimum``.

    >>> pair(2, 2, "stride", 1), pair((1, 3), 2, "stride", 1)
    ((2, 2), (1, 3))
    """
    items = (value,) * d if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if (items is None or len(items) != d
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in items)):
        raise ArgumentError(f"{what} must be an int ≥ {minimum} or {d} of them, got {value!r}")
    return tuple(int(v) for v in items)


def out_size(size, kernel, stride, padding):
    """Output length along one axis (PyTorch's floor rule); < 1 when the window does not fit."""
    return (size + 2 * padding - kernel) // stride + 1


def out_sizes(spatial, kernel, stride, padding, what):
    """Output lengths along every spatial axis, or a ``ShapeError`` naming ``what``."""
    sizes = tuple(out_size(s, k, st, p) for s, k, st, p in zip(spatial, kernel, stride, padding))
    if any(not isinstance(s, int) for s in spatial) or min(sizes) < 1:
        raise ShapeError(f"{what}: a kernel of size {kernel} with padding {padding} does not fit the spatial size "
                         f"{tuple(spatial)}")
    return sizes


def offsets(kernel):
    """Every kernel offset, row-major."""
    return itertools.product(*(range(k) for k in kernel))


def window(xp, k, stride, count):
    """``xp[..., k + y·stride, ...]`` for y < count along each trailing axis (a view)."""
    d = len(k)
    index = (Ellipsis,) + tuple(slice(ki, ki + (c - 1) * s + 1, s) for ki, s, c in zip(k, stride, count))
    assert len(index) == d + 1
    return xp[index]


def padded(x, padding, value=0.0):
    """``x`` with ``padding`` added on both sides of its trailing axes."""
    if not any(padding):
        return x
    widths = [(0, 0)] * (x.ndim - len(padding)) + [(p, p) for p in padding]
    return np.pad(x, widths, constant_values=value)
