"""Backend-neutral layout of a kernel program: shapes, strides, arena offsets, output views.

Every buffer is a flat, C-ordered array inside a kernel; temporaries are slices of one
arena per dtype, laid out by the program's slot plan (``Program.slots``/``slot_sizes``)
for the batch size ``n`` of a call.  Sizes are sympy expressions in the batch symbol ``N``.

>>> from codegen.program import Program
>>> p = Program({}, (), (), {}, (), slot_sizes={"float64": (3 * N, 4)})
>>> arena_sizes(p, 10)
{'float64': 34}
>>> slot_offsets(p)[("float64", 1)]
3*N
"""

import threading
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import sympy as sp

N = sp.Symbol("N", integer=True, positive=True)


def strides(shape):
    """C-order strides (in elements) of ``shape``.

    >>> strides((N, 2, 3))
    [6, 3, 1]
    """
    out, acc = [], sp.Integer(1)
    for d in reversed(shape):
        out.append(acc)
        acc = acc * d
    return list(reversed(out))


def size(shape):
    """Number of elements of ``shape`` (a sympy expression in N)."""
    total = sp.Integer(1)
    for d in shape:
        total *= d
    return total


#: slots whose size is a multiple of this many elements for every batch size are laid out
#: first, so each of them starts on a 64-byte boundary of a 64-byte aligned arena (a vector
#: load that straddles two cache lines costs two)
ALIGN_ELEMENTS = 16


@lru_cache(maxsize=1 << 12)
def _aligned(s):
    """True when a slot size (a polynomial in N) is a multiple of ALIGN_ELEMENTS for every N.

    >>> _aligned(16 * N), _aligned(16 * N + 2), _aligned(N)
    (True, False, False)
    """
    poly = sp.Poly(sp.expand(sp.sympify(s)), N)
    return all(int(coeff) % ALIGN_ELEMENTS == 0 for coeff in poly.coeffs())


@lru_cache(maxsize=1 << 12)
def _linear(s):
    """(a, b) when a slot size is a·N + b with integers a, b; else None."""
    expr = sp.expand(sp.sympify(s))
    a, b = expr.coeff(N, 1), expr.coeff(N, 0)
    if a.is_Integer and b.is_Integer and sp.expand(a * N + b - expr) == 0:
        return int(a), int(b)
    return None


def _affine(a, b):
    """``a·N + b`` for integers a, b, built in sympy's canonical form without its flattening
    and assumption queries (which cost ~0.15 ms per offset: a deep chain has thousands).

    >>> _affine(3, 5) == 3 * N + 5, _affine(1, 0) == N, _affine(0, 7) == 7, _affine(-2, 0) == -2 * N
    (True, True, True, True)
    """
    if a == 0:
        return sp.Integer(b)
    term = N if a == 1 else sp.Mul._from_args((sp.Integer(a), N))
    return term if b == 0 else sp.Add._from_args((sp.Integer(b), term))


def slot_offsets(program):
    """{(dtype, slot): offset in elements} of every slot, as expressions in N: the slots
    whose sizes keep alignment first (see ``ALIGN_ELEMENTS``), then the rest, each group in
    slot order.  Sums linear sizes as integer pairs: a deep network has thousands of slots.
    A read-only mapping that builds each sympy offset on first lookup: a backend that looks
    up a few (the llvm backend's call table reads ``slot_offset_pairs``) builds only those."""
    return _SlotOffsets(_slot_layout(program))


class _SlotOffsets(Mapping):
    __slots__ = ("_layout", "_built")

    def __init__(self, layout):
        self._layout, self._built = layout, {}

    def __getitem__(self, key):
        offset = self._built.get(key)
        if offset is None:
            pair, rest = self._layout[key]
            offset = self._built[key] = _affine(*pair) if rest == 0 else _affine(*pair) + rest
        return offset

    def __iter__(self):
        return iter(self._layout)

    def __len__(self):
        return len(self._layout)


def slot_offset_pairs(program):
    """{(dtype, slot): (a, b)}: each slot's offset a·N + b in elements, as integers (None for
    a slot after one whose size is not linear in N).  Same layout as ``slot_offsets``."""
    return {key: (pair if rest == 0 else None) for key, (pair, rest) in _slot_layout(program).items()}


def _slot_layout(program):
    """{(dtype, slot): ((a, b), rest)}: the offset a·N + b + rest, ``rest`` the sum of the
    non-linear sizes before the slot (0 when there are none)."""
    out = {}
    for dtype, sizes in program.slot_sizes.items():
        a, b, rest = 0, 0, sp.Integer(0)
        order = sorted(range(len(sizes)), key=lambda k: (not _aligned(sizes[k]), k))
        for slot in order:
            out[(dtype, slot)] = ((a, b), rest)
            linear = _linear(sizes[slot])
            if linear is None:
                rest = rest + sizes[slot]
            else:
                a, b = a + linear[0], b + linear[1]
    return out


def aligned_empty(count, dtype, alignment=64):
    """An uninitialised 1-D array of ``count`` elements whose data starts on an
    ``alignment``-byte boundary.

    >>> a = aligned_empty(10, "float64"); a.shape, a.ctypes.data % 64
    ((10,), 0)
    """
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(count * itemsize + alignment, dtype=np.uint8)
    start = (-raw.ctypes.data) % alignment
    return raw[start:start + count * itemsize].view(dtype)


def minibatch_buffers(program, X, Y, rows, xdtype, ydtype):
    """(xb, yb, arenas) for a fused training loop whose minibatches have ``rows`` rows: the
    gathered inputs and targets, and one 64-byte aligned arena per dtype of ``program``.

    >>> from codegen.program import Program
    >>> p = Program({}, (), (), {}, (), slots={}, slot_sizes={"float64": (4 * N,)})
    >>> xb, yb, arenas = minibatch_buffers(p, np.zeros((9, 2)), np.zeros(9), 3, "float64", "float64")
    >>> xb.size, yb.size, [a.size for a in arenas]
    (6, 3, [12])
    """
    x_row = int(np.prod(X.shape[1:], dtype=np.int64))
    y_row = int(np.prod(Y.shape[1:], dtype=np.int64))
    return (aligned_empty(max(rows * x_row, 1), xdtype), aligned_empty(max(rows * y_row, 1), ydtype),
            [aligned_empty(max(s, 1), d) for d, s in arena_sizes(program, rows).items()])


def arena_sizes(program, n):
    """Elements of each dtype's arena for batch size ``n`` (the sizes summed as polynomials
    first: one substitution per dtype, not one per slot of a deep network)."""
    return {dtype: int(sp.Add(*map(sp.sympify, sizes)).subs(N, n)) for dtype, sizes in program.slot_sizes.items()}


def root(program, name):
    """The buffer a (chain of) reshape view(s) ``name`` finally refers to."""
    while name in program.aliases:
        name = program.aliases[name]
    return name


def output_views(program, n):
    """(buffer, dtype, offset, concrete shape) of each output that lives in an arena;
    (buffer, None, None, shape) for an output that is an argument or a constant."""
    at = slot_offsets(program)
    offsets = {}
    views = []
    for name in program.outputs:
        r = root(program, name)
        shape = tuple(int(sp.sympify(d).subs(N, n)) for d in program.buffers[name].shape)
        if r in program.slots:
            dtype, slot = program.slots[r]
            if (dtype, slot) not in offsets:
                offsets[(dtype, slot)] = int(sp.sympify(at[(dtype, slot)]).subs(N, n))
            views.append((r, dtype, offsets[(dtype, slot)], shape))
        else:
            views.append((r, None, None, shape))
    return views


class PerThread:
    """Scratch memory of a compiled function, one set per thread: a kernel writes its
    temporaries into its arenas, so two threads calling one compiled function at once must
    never share them.  Each thread keeps the set for the last key (batch size) it used, so a
    repeated call allocates nothing.

    >>> scratch = PerThread()
    >>> a = scratch.get(3, lambda: np.zeros(3)); a is scratch.get(3, lambda: np.zeros(3))
    True
    """

    def __init__(self):
        self._local = threading.local()

    def get(self, key, make):
        """This thread's scratch for ``key``, made by ``make()`` when the key changes."""
        try:
            held, value = self._local.entry
            if held == key:
                return value
        except AttributeError:  # this thread's first call
            pass
        value = make()
        self._local.entry = (key, value)
        return value
