"""The arguments of ``verify``, checked at the door: a wrong type or value is a
``BadArgument`` naming the argument, never a ``TypeError`` from deep inside sympy.

Derivation files go through the same checks (``files.py`` adds the file and line).

>>> check_rtol(-1)
Traceback (most recent call last):
...
symbackprop.verify.errors.BadArgument: rtol must be a number >= 0, got -1
>>> check_sizes({"h": 3})
{'h': 3}
"""

import math
import numbers
from collections.abc import Mapping

from symbackprop.verify import limits
from symbackprop.verify.errors import BadArgument

#: the keyword arguments ``verify`` takes
KEYWORDS = ("define", "assume", "at", "shapes", "sizes", "rtol", "name")


def _type(v):
    return type(v).__name__


def check_keywords(unknown):
    """No keyword argument other than ``KEYWORDS``.

    >>> check_keywords({"rtool": 1})
    Traceback (most recent call last):
    ...
    symbackprop.verify.errors.BadArgument: unknown keyword argument 'rtool' (known: define, assume, at, shapes, sizes, rtol, name)
    """
    for key in unknown:
        raise BadArgument(f"unknown keyword argument {key!r} (known: {', '.join(KEYWORDS)})")


def check_claim(claim):
    """A claim is a string."""
    if not isinstance(claim, str):
        raise BadArgument(f"claim must be a string such as 'd(L, w) == x', got "
                          f"{_type(claim)}")
    return claim


def _mapping(value, arg):
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadArgument(f"{arg} must be a mapping {{name: ...}}, got {_type(value)}")
    for key in value:
        if not isinstance(key, str):
            raise BadArgument(f"{arg}: names must be strings, got {key!r} ({_type(key)})")
    return value


def check_define(define):
    """``{name: expression}``, both strings."""
    define = _mapping(define, "define")
    for key, text in define.items():
        if not isinstance(text, str):
            raise BadArgument(f"define[{key!r}] must be an expression as a string, got "
                              f"{_type(text)}")
    return define


def check_assume(assume):
    """``{name: word or list of words}``; the words themselves are checked by ``World``."""
    assume = _mapping(assume, "assume")
    for key, words in assume.items():
        ok = isinstance(words, str) or (isinstance(words, (list, tuple))
                                        and all(isinstance(w, str) for w in words))
        if not ok:
            raise BadArgument(f"assume[{key!r}] must be a word such as 'positive' or a list "
                              f"of words, got {_type(words)}")
    return assume


def is_number(v):
    """An int, a Fraction, a finite float, or a string, but not a bool (a string is
    checked when it is read, by ``check._number``)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, (numbers.Rational, str))


def check_at(at):
    """``{name: number}``, or a (nested) list of numbers for a vector or matrix."""
    at = _mapping(at, "at")
    for key, val in at.items():
        flat = val if isinstance(val, (list, tuple)) else [val]
        flat = [x for r in flat for x in (r if isinstance(r, (list, tuple)) else [r])]
        bad = [x for x in flat if not is_number(x)]
        if bad:
            raise BadArgument(f"at[{key!r}] must be a number or a list of numbers, got "
                              f"{bad[0]!r}")
        if len(flat) > limits.MAX_ELEMENTS:
            raise BadArgument(f"at[{key!r}]: {len(flat)} numbers, at most "
                              f"{limits.MAX_ELEMENTS}")
    return at


def _size(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise BadArgument(f"{what} must be a positive int, got {value!r}")
    if value > limits.MAX_ELEMENTS:
        raise BadArgument(f"{what} = {value} is too large: a vector or matrix has at most "
                          f"{limits.MAX_ELEMENTS} elements")
    return int(value)


def check_sizes(sizes):
    """``{size name: positive int}``."""
    return {k: _size(v, f"sizes[{k!r}]") for k, v in _mapping(sizes, "sizes").items()}


def check_shapes(shapes):
    """``{name: [rows, cols]}`` (or ``[n]``, a column) with positive ints or size names.

    >>> check_shapes({"W": ["h", 0]})
    Traceback (most recent call last):
    ...
    symbackprop.verify.errors.BadArgument: shapes['W'][1] must be a positive int, got 0
    """
    out = {}
    for key, dims in _mapping(shapes, "shapes").items():
        listed = list(dims) if isinstance(dims, (list, tuple)) else [dims]
        if len(listed) > 2:
            raise BadArgument(f"shapes[{key!r}]: at most 2 dimensions, got {len(listed)}")
        checked = []
        for i, d in enumerate(listed):
            if isinstance(d, str) and d.isidentifier():
                checked.append(d)
            elif isinstance(d, str):
                raise BadArgument(f"shapes[{key!r}][{i}] must be a size name or a positive "
                                  f"int, got {d!r}")
            else:
                checked.append(_size(d, f"shapes[{key!r}][{i}]"))
        fixed = math.prod(d for d in checked if isinstance(d, int))
        if fixed > limits.MAX_ELEMENTS:
            raise BadArgument(f"shapes[{key!r}] = {checked} has {fixed} elements: at most "
                              f"{limits.MAX_ELEMENTS}")
        out[key] = checked
    return out


def check_rtol(rtol):
    """A finite number ``>= 0`` (``0``: exact)."""
    if rtol is None:
        return 0.0
    ok = isinstance(rtol, numbers.Real) and not isinstance(rtol, bool)
    if not ok or not math.isfinite(float(rtol)) or rtol < 0:
        raise BadArgument(f"rtol must be a number >= 0, got {rtol!r}")
    return float(rtol)


def check_name(name):
    """A claim's name (shown in messages) is a string."""
    if name is not None and not isinstance(name, str):
        raise BadArgument(f"name must be a string, got {_type(name)}")
    return name
