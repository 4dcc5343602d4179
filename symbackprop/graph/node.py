"""The graph node: immutable, interned, with a static shape and a dtype.

Building the same expression twice gives the same object (hash-consing), so common
subexpressions are shared for free and nodes can be dict keys by identity.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2))
>>> (x + 1) is (x + 1)
True
>>> (x @ sb.param("W", (2, 3))).shape
(N, 3)
"""

import hashlib
import weakref
from functools import lru_cache

import numpy as np
import sympy as sp

from symbackprop.graph.shape import fmt

_INTERNED = weakref.WeakValueDictionary()


def _structural_key(op, args, attrs, shape, dtype):
    """A digest of the node's structure: the same in every process, whatever was built
    before, so canonical operand orders and generated kernels (and their cache keys) are
    reproducible.  Python's own ``hash`` of strings is salted per process."""
    h = hashlib.blake2b(digest_size=16)
    h.update(op.encode())
    for a in args:
        h.update(a.key)
    for item in attrs:
        h.update(item.digest if isinstance(item, Constant) else _text(item))
        h.update(b"\x00")
    h.update(_shape_text(shape))
    h.update(dtype.encode())
    return h.digest()


def _key_with_operands(node):
    """Make the keys of ``node`` and of every operand below it still without one, operands
    first, with an explicit stack: a 5,000-link chain would overflow Python's recursion."""
    stack = [node]
    while stack:
        top = stack[-1]
        if top._key is not None:
            stack.pop()
            continue
        missing = [a for a in top.args if a._key is None]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        object.__setattr__(top, "_key", _structural_key(top.op, top.args, top.attrs, top.shape, top.dtype))
    return node._key


@lru_cache(maxsize=1 << 12)
def _shape_text(shape):
    return str(shape).encode()  # printing N through sympy is the slow part of a key


def _text(item):
    """The bytes standing for an attribute in the key: its text, a sympy body's printed once
    per distinct body (deep networks repeat a few bodies many times).  The text, not
    ``codegen.bodies.digest``, because the key orders a map's operands, and the textbook
    forms ``explain`` finds (BatchNorm's compact input gradient) depend on that order."""
    if isinstance(item, sp.Basic):
        return _sympy_text(item)
    return str(item).encode()


@lru_cache(maxsize=1 << 16)
def _sympy_text(expr):
    return str(expr).encode()


class Constant:
    """A read-only array held by a ``const`` node, compared and hashed by value."""

    __slots__ = ("array", "_hash", "digest")

    def __init__(self, array):
        array = np.array(array, copy=True)
        array.setflags(write=False)
        self.array = array
        self._hash = hash((array.dtype.str, array.shape, array.tobytes()))
        self.digest = hashlib.blake2b(f"{array.dtype.str}{array.shape}".encode() + array.tobytes(),
                                      digest_size=16).digest()

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (isinstance(other, Constant) and self._hash == other._hash
                and self.array.dtype == other.array.dtype and self.array.shape == other.array.shape
                and np.array_equal(self.array, other.array, equal_nan=True))

    def __repr__(self):
        return f"Constant({self.array.tolist()!r})" if self.array.size <= 6 else f"Constant({self.array.shape})"


class Expr:
    """A node of the tensor graph.

    ``op`` names the primitive (``symbackprop.primitives``: input, param, const, map, matmul,
    reduce, ...); ``args`` are the operand nodes; ``attrs`` the op's named attributes, a
    NamedTuple (a leaf's ``name``, a map's ``body``, a reduction's ``kind`` and ``axes``, ...).
    Do not construct directly: use ``sb.input``, ``sb.param``, operators and the functions of
    ``symbackprop``.
    """

    __slots__ = ("op", "args", "attrs", "shape", "dtype", "_key", "__weakref__")

    def __new__(cls, op, args, attrs, shape, dtype):
        key = (op, args, attrs, shape, dtype)
        node = _INTERNED.get(key)
        if node is not None:
            return node
        node = object.__new__(cls)
        object.__setattr__(node, "op", op)
        object.__setattr__(node, "args", args)
        object.__setattr__(node, "attrs", attrs)
        object.__setattr__(node, "shape", shape)
        object.__setattr__(node, "dtype", dtype)
        object.__setattr__(node, "_key", None)  # made on first use: passes build many nodes they drop
        _INTERNED[key] = node
        return node

    @property
    def key(self):
        """A 16-byte digest of the node's structure, the same in every process (operand orders
        and cache keys).  ``sb.input("x", (2,)).key == sb.input("x", (2,)).key``."""
        key = self._key
        return key if key is not None else _key_with_operands(self)

    def __setattr__(self, name, value):
        raise AttributeError("graph nodes are immutable")

    def __reduce__(self):
        raise TypeError("graph nodes are interned and cannot be pickled; pickle the model code instead")

    # identity semantics: interning makes structural equality identity
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __bool__(self):
        raise TypeError("a graph node has no truth value; compare evaluated arrays instead")

    # ---- descriptive -------------------------------------------------------------------
    @property
    def ndim(self):
        """Number of axes.  ``sb.input("x", (None, 2)).ndim == 2``."""
        return len(self.shape)

    @property
    def name(self):
        """The name of an input or param leaf, else None.  ``sb.param("W", (2, 1)).name == "W"``."""
        return self.attrs.name if self.op in ("input", "param") else None

    @property
    def is_leaf(self):
        """True for inputs, params and constants."""
        return self.op in ("input", "param", "const")

    def describe(self):
        """One line naming the node for error messages: ``param W (2, 1) float64``."""
        if self.op in ("input", "param"):
            return f"{self.op} {self.name} {fmt(self.shape)} {self.dtype}"
        if self.op == "map":
            return f"map {self.attrs.body.expr} {fmt(self.shape)}"
        return f"{self.op} {fmt(self.shape)}"

    def __repr__(self):
        if self.op in ("input", "param"):
            return f"<{self.op} {self.name}: {fmt(self.shape)} {self.dtype}>"
        return f"<{self.op} {fmt(self.shape)} {self.dtype}>"

    def __str__(self):
        """The node as a textbook formula (simplified; named values by name, defined below it).

        >>> import symbackprop as sb
        >>> print(sb.tanh(sb.input("x", (2,)) * 3))
        tanh(3x)
        """
        from symbackprop.render import text
        return text(self)

    def latex(self):
        """The node's formula in LaTeX (``$…$``-ready; renders in matplotlib's mathtext).

        >>> import symbackprop as sb
        >>> print(sb.sigmoid(sb.input("z", (2,))).latex())
        \\sigma\\left(z\\right)
        """
        from symbackprop.render import latex
        return latex(self)

    def _repr_latex_(self):
        return "$" + self.latex() + "$"

    def named(self, name):
        """Give this node a display name for formulas, listings and explanations; returns it.

        >>> import symbackprop as sb
        >>> h = sb.tanh(sb.input("x", (2,))).named("h")
        >>> print(h * 2)
        2h
          where h = tanh(x)
        """
        from symbackprop.render.names import name as _name
        return _name(self, name)

    def listing(self):
        """An SSA listing of the graph that computes this node, one op a line (for debugging),
        with each named value's name beside its line.

        >>> import symbackprop as sb
        >>> print((sb.input("x", (2,)) * 3).listing())
        %0 = input x (2,) float64
        %1 = map(%0) (2,) float64: 3*x0
        """
        from symbackprop.render.listing import listing
        return listing([self])

    # ---- operators ---------------------------------------------------------------------
    def __add__(self, other):
        return _ops().binary("+", self, other)

    def __radd__(self, other):
        return _ops().binary("+", other, self)

    def __sub__(self, other):
        return _ops().binary("-", self, other)

    def __rsub__(self, other):
        return _ops().binary("-", other, self)

    def __mul__(self, other):
        return _ops().binary("*", self, other)

    def __rmul__(self, other):
        return _ops().binary("*", other, self)

    def __truediv__(self, other):
        return _ops().binary("/", self, other)

    def __rtruediv__(self, other):
        return _ops().binary("/", other, self)

    def __pow__(self, other):
        return _ops().binary("**", self, other)

    def __rpow__(self, other):
        return _ops().binary("**", other, self)

    def __neg__(self):
        return _ops().binary("*", -1, self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    __array_ufunc__ = None  # so ndarray + Expr defers to Expr.__radd__

    @property
    def T(self):
        """Reversed axes, as numpy's ``.T``."""
        return _ops().transpose(self)

    def sum(self, axis=None, keepdims=False):
        """``sb.sum(self, axis, keepdims)``."""
        return _ops().sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """``sb.mean(self, axis, keepdims)``."""
        return _ops().mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        """``sb.max(self, axis, keepdims)``."""
        return _ops().max(self, axis, keepdims)

    def __getitem__(self, key):
        """numpy basic indexing: integers, slices (with steps), ``...`` and ``None``.

        >>> import symbackprop as sb
        >>> sb.input("x", (None, 5, 3))[:, -1].shape
        (N, 3)
        """
        from symbackprop.primitives.indexing import index
        return index(self, key)

    def __iter__(self):
        raise TypeError("a graph node is not iterable; index it (x[:, 0]) or unstack it explicitly")

    def reshape(self, *shape):
        """``sb.reshape(self, shape)``; ``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both work."""
        if len(shape) == 1 and not isinstance(shape[0], int) and shape[0] is not None:
            shape = shape[0]
        return _ops().reshape(self, shape)

    def transpose(self, *axes):
        """``sb.transpose(self, axes)``; ``x.transpose(1, 0)`` and ``x.transpose((1, 0))`` both work."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops().transpose(self, axes or None)


def _ops():
    from symbackprop.graph import ops
    return ops
