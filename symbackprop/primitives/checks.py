"""Argument checks shared by the primitive definitions: dtypes, names, operands.

>>> dtype_name("float32", "input 'x'")
'float32'
"""

import numpy as np

from symbackprop.errors import ArgumentError, DTypeError, ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Expr

FLOAT_DTYPES = ("float64", "float32")
DTYPES = FLOAT_DTYPES + ("int64",)


def dtype_name(dtype, what):
    """The canonical name of a supported dtype, or a ``DTypeError`` saying ``what`` asked."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise DTypeError(f"{what}: dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")
    return name


def leaf_name(name, what):
    """A leaf's name: a non-empty printable string.  Names appear in formulas, error messages
    and comments of generated code, so a newline or control character (which could end a
    comment and start code) is refused here, where the leaf is made."""
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"{what}: a name must be a non-empty string, got {name!r}")
    if not name.isprintable():
        raise ArgumentError(f"{what}: name {name!r} holds a non-printable character (newline, tab, control "
                            "character); use printable characters only")
    return name


def no_empty_axes(shape, what):
    """``shape``, refused when an axis has length 0."""
    if any(isinstance(d, int) and d == 0 for d in shape):
        raise ShapeError(f"{what}: shape {shp.fmt(shape)} has an axis of length 0; every axis needs at least "
                         "one element (the batch axis is None)")
    return shape


def result_dtype(nodes):
    """The float dtype of an operation on ``nodes``: float64 if any is, float32 if all floats are."""
    floats = [n.dtype for n in nodes if n.dtype in FLOAT_DTYPES]
    if not floats:
        return "float64"
    return "float64" if "float64" in floats else "float32"


def as_node(value, like=None, where=None):
    """``value`` as a graph node: nodes as they are, numeric numpy arrays as constants (of
    ``like``'s float dtype); anything else is an ``ArgumentError`` naming ``where``."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        from symbackprop.primitives.leaf import const
        dtype = like.dtype if like is not None and like.dtype in FLOAT_DTYPES and value.dtype.kind == "f" else None
        return const(value, dtype)
    what = f"{type(value).__name__} {value!r}" if isinstance(value, (str, bytes)) else type(value).__name__
    if isinstance(value, np.ndarray):
        what = f"numpy array of dtype {value.dtype}"
    hint = "; wrap a list in np.array(...)" if isinstance(value, (list, tuple)) else ""
    raise ArgumentError(f"{where or 'operand'}: expected a graph node, a number or a numeric numpy array, "
                        f"got a {what}{hint}")
