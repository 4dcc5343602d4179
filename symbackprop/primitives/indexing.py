"""``slice`` (numpy's basic indexing: ``x[:, 1:3]``, ``x[:, -1]``, ``x[1:, ::2]``) and ``pad``
(constant padding, with interior padding between elements): each is the other's adjoint.

A slice keeps, on each axis, the elements ``begin, begin + step, …`` (``length`` of them; a
negative step walks backwards) and may drop axes indexed by an integer.  Its vector-Jacobian
product puts the cotangent back where the elements came from: a pad with ``begin`` zeros
before, ``step − 1`` between and the rest after.  A pad's adjoint slices that back out.
On the batch axis only the full slice is possible (the batch size is not known when the
graph is built).

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 5, 3))
>>> x[:, -1].shape, x[:, 1:4:2, 0].shape
((N, 3), (N, 2))
>>> print(x[:, -1])
x[:, -1]
>>> pad(sb.param("w", (2,)), 1).shape
(4,)
"""

import numbers
from typing import NamedTuple

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph import shape as shp
from symbackprop.graph.node import Expr
from symbackprop.graph.scalar import N
from symbackprop.primitives.base import PRIMITIVES, Primitive, register
from symbackprop.primitives.checks import as_node


class SliceAttrs(NamedTuple):
    begin: tuple   # first element taken, per axis of the operand
    step: tuple    # stride between taken elements (negative: backwards)
    length: tuple  # elements taken (N for the whole batch axis)
    keep: tuple    # False for an axis indexed by an integer (dropped from the result)


class PadAttrs(NamedTuple):
    low: tuple       # elements of ``value`` before the first one, per axis
    high: tuple      # after the last one
    interior: tuple  # between two neighbours
    value: float


def _index_text(attrs, shape):
    """numpy index text of a slice: ``:, -1`` or ``1:4:2, 0``."""
    parts = []
    for b, s, n, k, d in zip(attrs.begin, attrs.step, attrs.length, attrs.keep, shape):
        if not k:
            parts.append(str(b - d) if isinstance(d, int) and b == d - 1 and d > 1 else str(b))
            continue
        if not isinstance(d, int) or (s == 1 and b == 0 and n == d):
            parts.append(":")
            continue
        stop = b + n * s
        start_t = "" if (b == 0 and s > 0) or (s < 0 and b == d - 1) else str(b)
        stop_t = "" if (s > 0 and stop == d) or (s < 0 and stop < 0) else str(stop)
        parts.append(f"{start_t}:{stop_t}" + ("" if s == 1 else f":{s}"))
    while parts and parts[-1] == ":" and len(parts) > 1:
        parts.pop()
    return ", ".join(parts)


@register
class Slice(Primitive):
    op = "slice"
    Attrs = SliceAttrs

    def build(self, x, index):
        """``x[index]`` for numpy basic indexing: integers, slices, ``...`` and ``None``."""
        from symbackprop.primitives.layout import reshape
        x = as_node(x, where="indexing")
        items = index if isinstance(index, tuple) else (index,)
        for it in items:
            if not (it is None or it is Ellipsis or isinstance(it, slice) or
                    (isinstance(it, numbers.Integral) and not isinstance(it, (bool, np.bool_)))):
                raise ShapeError(f"indexing {x.describe()}: {it!r} is not an integer, a slice, ... or None; "
                                 "use sb.take for an array of indices")
        if sum(it is Ellipsis for it in items) > 1:
            raise ShapeError(f"indexing {x.describe()}: more than one '...' in {index!r}")
        taking = [it for it in items if it is not None and it is not Ellipsis]
        if len(taking) > x.ndim:
            raise ShapeError(f"indexing {x.describe()}: {len(taking)} indices for {x.ndim} axes")
        if Ellipsis in items:
            at = items.index(Ellipsis)
            items = items[:at] + (slice(None),) * (x.ndim - len(taking)) + items[at + 1:]
        else:
            items = items + (slice(None),) * (x.ndim - len(taking))
        begin, step, length, keep, new_axes = [], [], [], [], []
        axis, out_rank = 0, 0
        for it in items:
            if it is None:
                new_axes.append(out_rank)
                out_rank += 1
                continue
            d = x.shape[axis]
            b, s, n, k = self._axis(x, axis, d, it)
            begin.append(b); step.append(s); length.append(n); keep.append(k)
            out_rank += k
            axis += 1
        attrs = SliceAttrs(tuple(begin), tuple(step), tuple(length), tuple(keep))
        out = self.make((x,), attrs)
        if new_axes:  # None adds an axis of length 1
            shape = list(out.shape)
            for a in new_axes:
                shape.insert(a, 1)
            out = reshape(out, tuple(shape))
        return out

    def _axis(self, x, axis, d, it):
        """(begin, step, length, keep) of one index item on an axis of length ``d``."""
        if not isinstance(d, int):  # the batch axis (or a multiple of it)
            if isinstance(it, slice) and it in (slice(None), slice(None, None, 1), slice(0, None), slice(0, None, 1)):
                return 0, 1, d, True
            raise ShapeError(f"indexing {x.describe()}: on the batch axis (axis {axis}) only ':' is possible, "
                             f"got {_item_text(it)}; the batch size is not known when the graph is built")
        if isinstance(it, slice):
            if it.step == 0:
                raise ShapeError(f"indexing {x.describe()}: slice step cannot be zero (axis {axis})")
            for v in (it.start, it.stop, it.step):
                if v is not None and not isinstance(v, numbers.Integral):
                    raise ShapeError(f"indexing {x.describe()}: slice {_item_text(it)} on axis {axis} holds a "
                                     f"non-integer {v!r}")
            start, stop, st = it.indices(d)
            n = len(range(start, stop, st))
            if n == 0:
                raise ShapeError(f"indexing {x.describe()}: slice {_item_text(it)} on axis {axis} (length {d}) "
                                 "takes no element")
            return start, st, n, True
        i = int(it)
        if not -d <= i < d:
            raise ShapeError(f"indexing {x.describe()}: index {i} is out of range for axis {axis} of length {d}")
        return i % d, 1, 1, False

    def make(self, args, attrs, dtype=None):
        x = args[0]
        out_shape = tuple(n for n, k in zip(attrs.length, attrs.keep) if k)
        full = all(k and b == 0 and s == 1 and n == d for b, s, n, k, d in
                   zip(attrs.begin, attrs.step, attrs.length, attrs.keep, x.shape))
        if full:
            return x
        if x.op == "slice":  # a slice of a slice is one slice
            return self.make(x.args, _compose(x.attrs, attrs), dtype)
        if all(k or d == 1 for k, d in zip(attrs.keep, x.shape)) and all(
                b == 0 and s == 1 and n == d for b, s, n, d in zip(attrs.begin, attrs.step, attrs.length, x.shape)):
            from symbackprop.primitives.layout import reshape
            return reshape(x, out_shape)  # only drops axes of length 1
        if x.op == "concat":  # the elements all come from one operand: slice that one
            inner = _within_operand(x, attrs)
            if inner is not None:
                return self.make(*inner, dtype)
        return Expr("slice", (x,), attrs, out_shape, x.dtype)

    def evaluate(self, node, args, n):
        return args[0][_numpy_index(node.attrs)]

    def vjp(self, node, g):
        from symbackprop.primitives.layout import reshape
        a, x = node.attrs, node.args[0]
        g = reshape(g, tuple(a.length))  # the dropped axes back, with length 1
        if any(s < 0 for s in a.step):  # walked backwards: reversed, it is a forward slice
            g = self.make((g,), SliceAttrs(tuple(n - 1 if s < 0 else 0 for n, s in zip(a.length, a.step)),
                                           tuple(-1 if s < 0 else 1 for s in a.step), tuple(a.length),
                                           (True,) * len(a.length)))
        low, high, interior = [], [], []
        for b, s, n, d in zip(a.begin, a.step, a.length, x.shape):
            first, last = (b, b + (n - 1) * s) if s > 0 else (b + (n - 1) * s, b)
            low.append(_int(first)); interior.append(abs(s) - 1); high.append(_int(d - 1 - last))
        return [PRIMITIVES["pad"].make((g,), PadAttrs(tuple(low), tuple(high), tuple(interior), 0.0))]

    def formula(self, node, texts):
        from symbackprop.graph.text import atomic
        t = texts[0]
        return f"{t if atomic(t) else '(' + t + ')'}[{_index_text(node.attrs, node.args[0].shape)}]"

    def detail(self, node):
        return f"[{_index_text(node.attrs, node.args[0].shape)}]"

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, LATEX, UNICODE, Piece, wrap
        index = _index_text(node.attrs, node.args[0].shape)
        a = args[0]
        return Piece(f"{wrap(UNICODE, a, ATOM)}[{index}]", wrap(LATEX, a, ATOM) + r"\left[%s\right]" % index,
                     ATOM, node.ndim > 0)

    def expand(self, node, args, n):
        return np.asarray(args[0], dtype=object)[_numpy_index(node.attrs, n)]

    def lower(self, node, out, lo):
        from codegen.layout import strides
        from codegen.program import Slice as SliceStep, View
        a, x = node.attrs, node.args[0]
        readers = lo.readers.get(node, ())
        if readers and not lo.is_output(node) and all(r.op == "map" for r in readers):
            # read in place by the maps: no copy (each map indexes x through the view)
            st = strides(x.shape)
            offset = sp.expand(sum((b * s for b, s in zip(a.begin, st)), sp.Integer(0)))
            strides = tuple(sp.expand(s * d) for s, d, k in zip(a.step, st, a.keep) if k)
            return View(out, lo.name(x), offset, strides)
        return SliceStep(out, lo.name(x), a.begin, a.step, a.keep)


def _within_operand(x, attrs):
    """(operand, attrs) of the same slice of one operand of concat ``x``, when every element
    taken along the concat axis lies in that operand; else None."""
    axis = x.attrs.axis
    b, s, n = attrs.begin[axis], attrs.step[axis], attrs.length[axis]
    lo, hi = (b, b + (n - 1) * s) if s > 0 else (b + (n - 1) * s, b)
    start = 0
    for operand in x.args:
        size = operand.shape[axis]
        if start <= lo and hi < start + size:
            begin = attrs.begin[:axis] + (b - start,) + attrs.begin[axis + 1:]
            return (operand,), attrs._replace(begin=begin)
        start += size
    return None


def _int(v):
    """A size that is a plain integer (a sympy Integer such as N − N) as an int."""
    v = sp.sympify(v)
    return int(v) if v.is_Integer else v


def _item_text(it):
    if isinstance(it, slice):
        return ":".join("" if v is None else str(v) for v in (it.start, it.stop)) + \
            ("" if it.step is None else f":{it.step}")
    return repr(it)


def _numpy_index(attrs, n=None):
    """The numpy index equal to a slice's attributes (``n``: the batch size, if needed)."""
    out = []
    for b, s, length, k in zip(attrs.begin, attrs.step, attrs.length, attrs.keep):
        if not k:
            out.append(b)
        elif not isinstance(length, int):
            out.append(slice(None))
        else:
            stop = b + length * s
            out.append(slice(b, stop if stop >= 0 else None, s))
    return tuple(out)


def _compose(first, second):
    """The slice attributes of ``x[first][second]`` (``second`` indexes the kept axes of the first)."""
    begin, step, length, keep = [], [], [], []
    kept = iter(zip(second.begin, second.step, second.length, second.keep))
    for b, s, n, k in zip(*first):
        if not k:
            begin.append(b); step.append(s); length.append(n); keep.append(False)
            continue
        b2, s2, n2, k2 = next(kept)
        if not isinstance(n, int):
            begin.append(0); step.append(1); length.append(N); keep.append(True)
            continue
        begin.append(b + b2 * s); step.append(s * s2); length.append(n2); keep.append(k2)
    return SliceAttrs(tuple(begin), tuple(step), tuple(length), tuple(keep))


@register
class Pad(Primitive):
    op = "pad"
    Attrs = PadAttrs

    def build(self, x, pad_width, value=0.0):
        """numpy's constant ``np.pad``: ``pad_width`` an int, a (before, after) pair, or one pair
        per axis; the batch axis cannot be padded."""
        x = as_node(x, where="pad")
        widths = _pad_widths(pad_width, x)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ArgumentError(f"pad: value must be a finite number, got {value!r}")
        for axis, ((lo, hi), d) in enumerate(zip(widths, x.shape)):
            if not isinstance(d, int) and (lo or hi):
                raise ShapeError(f"pad {x.describe()}: the batch axis (axis {axis}) cannot be padded")
        return self.make((x,), PadAttrs(tuple(lo for lo, _ in widths), tuple(hi for _, hi in widths),
                                        (0,) * x.ndim, float(value)))

    def make(self, args, attrs, dtype=None):
        x = args[0]
        if not any(attrs.low) and not any(attrs.high) and not any(attrs.interior):
            return x
        shape = tuple(d if not isinstance(d, int) else lo + hi + d + (d - 1) * i
                      for d, lo, hi, i in zip(x.shape, attrs.low, attrs.high, attrs.interior))
        return Expr("pad", (x,), attrs, shape, x.dtype)

    def evaluate(self, node, args, n):
        a = node.attrs
        out = np.full(shp.concrete(node.shape, n), a.value, dtype=node.dtype)
        out[tuple(slice(lo, None if not isinstance(d, int) else lo + (d - 1) * (i + 1) + 1, i + 1)
                  for lo, i, d in zip(a.low, a.interior, node.args[0].shape))] = args[0]
        return out

    def vjp(self, node, g):
        a, x = node.attrs, node.args[0]
        attrs = SliceAttrs(tuple(a.low), tuple(i + 1 for i in a.interior), tuple(x.shape), (True,) * x.ndim)
        return [PRIMITIVES["slice"].make((g,), attrs)]

    def formula(self, node, texts):
        a = node.attrs
        widths = ", ".join(f"({lo}, {hi})" + (f"/{i}" if i else "") for lo, hi, i in zip(a.low, a.high, a.interior))
        value = "" if a.value == 0 else f", value={a.value:g}"
        return f"pad({texts[0]}, [{widths}]{value})"

    def detail(self, node):
        a = node.attrs
        return f"low={a.low} high={a.high}" + (f" interior={a.interior}" if any(a.interior) else "") + \
            (f" value={a.value:g}" if a.value else "")

    def render(self, node, args, renderer):
        from symbackprop.render.printer import ATOM, Piece
        a = node.attrs
        widths = ", ".join(f"({lo}, {hi})" for lo, hi in zip(a.low, a.high))
        extra = ("" if not any(a.interior) else f"; {a.interior} between") + ("" if a.value == 0 else f"; {a.value:g}")
        return Piece(f"pad({args[0].text}; {widths}{extra})",
                     r"\mathrm{pad}\left(%s;\ %s\right)" % (args[0].latex, widths + extra), ATOM, node.ndim > 0)

    def expand(self, node, args, n):
        a = node.attrs
        value = sp.nsimplify(a.value) if float(a.value).is_integer() else sp.Float(a.value)
        out = np.full(shp.concrete(node.shape, n), value, dtype=object)
        out[tuple(slice(lo, lo + (d - 1) * (i + 1) + 1, i + 1)
                  for lo, i, d in zip(a.low, a.interior, shp.concrete(node.args[0].shape, n)))] = args[0]
        return out

    def lower(self, node, out, lo):
        from codegen.program import Pad as PadStep
        a = node.attrs
        return PadStep(out, lo.name(node.args[0]), a.low, a.interior, a.value)


def _pad_widths(pad_width, x):
    """numpy's pad_width conventions -> one (before, after) pair of non-negative ints per axis."""
    def ints(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 0
    if ints(pad_width):
        return [(int(pad_width), int(pad_width))] * x.ndim
    try:
        items = [tuple(p) if isinstance(p, (tuple, list)) else p for p in pad_width]
    except TypeError:
        items = None
    if items is not None:
        if len(items) == 2 and all(ints(v) for v in items):
            return [(int(items[0]), int(items[1]))] * x.ndim
        if len(items) == 1 and isinstance(items[0], tuple) and len(items[0]) == 2 and all(ints(v) for v in items[0]):
            return [tuple(map(int, items[0]))] * x.ndim
        if len(items) == x.ndim and all(isinstance(p, tuple) and len(p) == 2 and all(ints(v) for v in p)
                                        for p in items):
            return [tuple(map(int, p)) for p in items]
    raise ShapeError(f"pad {x.describe()}: pad_width must be a non-negative int, a (before, after) pair or one "
                     f"pair per axis ({x.ndim}), got {pad_width!r}")


def index(x, key):
    """``x[key]``: numpy basic indexing on a node.

    >>> import symbackprop as sb
    >>> index(sb.input("x", (None, 4)), (slice(None), slice(1, 3))).shape
    (N, 2)
    """
    return PRIMITIVES["slice"].build(x, key)


def pad(x, pad_width, value=0.0):
    """Constant padding, numpy's ``np.pad(x, pad_width, constant_values=value)`` convention.

    >>> import symbackprop as sb
    >>> pad(sb.input("x", (None, 3)), [(0, 0), (1, 2)]).shape
    (N, 6)
    """
    return PRIMITIVES["pad"].build(x, pad_width, value)
