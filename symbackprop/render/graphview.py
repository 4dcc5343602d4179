"""What a drawing shows: one box per graph node (or per layer), and the edges between boxes.

The graph drawn is the simplified one (``sb.simplify``), so a fused elementwise region is
one box whose formula is its body, and the forward values the backward pass reuses are the
same boxes in both.  Boxes are labelled with the names the formulas use (``W₁``, ``z₂``,
``ŷ``, ``δ₂``; :class:`symbackprop.render.namer.Namer`), the op, the shape, and with feeds
the value; an output that is a gradient of another output says which ``∂L/∂…`` it is.

Gradient outputs are recognised without any bookkeeping in ``sb.grad``: nodes are interned,
so running the same reverse sweep again builds the very same nodes, and an output that *is*
the cotangent of a leaf of a drawn loss is that leaf's gradient.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1))
>>> L = sb.mean(sb.tanh(x @ W))
>>> v = GraphView([L, sb.grad(L, W)])
>>> [b.title for b in v.boxes if b.kind == "gradient"]
['∂L/∂W']
"""

import textwrap
from dataclasses import dataclass, field

import numpy as np

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph.node import Expr
from symbackprop.graph.scalar import N
from symbackprop.graph.shape import fmt
from symbackprop.graph.traverse import topo_order
from symbackprop.primitives import definition
from symbackprop.render.names import Name
from symbackprop.render.printer import UNICODE
from symbackprop.render.values import value_text

#: a box's formula line is wrapped at this many characters
LINE_CHARS = 44

#: an unnamed operand whose formula is at most this long is written inline in its readers'
#: formulas (``x W₁``, ``ŷ − y``); longer ones get a name ``v₁, v₂, …`` of their own
INLINE_CHARS = 12


@dataclass
class Box:
    """One box of a drawing: a node, or a layer of nodes collapsed into one.

    ``kind`` is ``input``, ``param``, ``const``, ``op``, ``output`` (an output that is not a
    gradient), ``gradient`` or ``layer``; ``lines`` are the text under the bold ``title``."""
    id: str
    kind: str
    title: str
    lines: list
    nodes: list = field(default_factory=list)
    op: str = ""


def as_outputs(outputs, who="draw"):
    """``outputs`` (a node, or a list/tuple of nodes) as a non-empty list, or a clear error."""
    if isinstance(outputs, Expr):
        return [outputs]
    if isinstance(outputs, dict):
        raise ArgumentError(f"{who}: outputs must be a node or a list of nodes, got a dict; pass "
                            "[L, *g.values()] to draw a loss and the gradients sb.grad returned")
    if not isinstance(outputs, (list, tuple)):
        raise ArgumentError(f"{who}: outputs must be a graph node or a list of them, got {type(outputs).__name__}")
    if not outputs:
        raise ArgumentError(f"{who}: no outputs given")
    for i, o in enumerate(outputs):
        if not isinstance(o, Expr):
            raise ArgumentError(f"{who}: output {i} is a {type(o).__name__}, not a graph node")
    return list(outputs)


class GraphView:
    """The boxes and edges of the drawing of ``outputs`` (every node: one box each)."""

    def __init__(self, outputs, feeds=None, simplify=True):
        from symbackprop.render.formula import SIMPLIFY_SECONDS
        from symbackprop.render.namer import Namer
        from symbackprop.simplify import simplify as simp
        outputs = as_outputs(outputs)
        gradient_of, deltas = _gradients(outputs)
        first = Namer(outputs)
        delta_nodes = [d for d, _ in deltas]
        if simplify:
            simple = simp(outputs + delta_nodes, budget=SIMPLIFY_SECONDS, reuse=first.reusable())
        else:
            simple = outputs + delta_nodes
        self.outputs, simple_deltas = simple[:len(outputs)], simple[len(outputs):]
        self.namer = namer = Namer(self.outputs, extra=outputs + first.reusable())
        for n, name in first.names.items():
            namer.names.setdefault(n, name)
        self.loss_names = {}
        for i, o in enumerate(outputs):
            if o.shape == () and any(g[0] is o for g in gradient_of.values()):
                self.loss_names[o] = namer.name(self.outputs[i]) or Name("L")
        # δₖ = ∂L/∂zₖ, as sb.explain names it, when the drawn gradients read it
        for d, (_, z) in zip(simple_deltas, deltas):
            zname = first.name(z)
            if zname is not None and zname.base == "z" and d.op != "const":
                namer.names.setdefault(d, Name("δ", zname.sub, latex_base=r"\delta"))
        self.titles = {}  # drawn output node -> "∂L/∂W₁" (or the loss's name)
        for i, o in enumerate(outputs):
            if o in self.loss_names:
                self.titles.setdefault(self.outputs[i], str(self.loss_names[o]))
        for i, o in enumerate(outputs):
            if i in gradient_of:
                loss, wrt = gradient_of[i]
                wname = first.name(wrt) or namer.name(wrt) or Name(wrt.describe())
                self.titles.setdefault(self.outputs[i], f"∂{self.loss_names[loss]}/∂{wname}")
        self.order = topo_order(self.outputs)
        self.values = _values(self.order, feeds) if feeds is not None else None
        self._names()
        self.boxes, self.box_of = [], {}
        for i, n in enumerate(self.order):
            box = self._box(f"n{i}", n)
            self.boxes.append(box)
            self.box_of[n] = box
        self.edges = [(self.box_of[a].id, self.box_of[n].id) for n in self.order for a in _unique(n.args)]

    # ---- names and formulas ---------------------------------------------------------------
    def _names(self):
        """Every drawn node's name or inline text, so each box's formula reads its operands."""
        from symbackprop.render.formula import Renderer, taken_names
        self.renderer = Renderer(self.namer, UNICODE)
        taken = {str(n) for n in taken_names(self.namer)} | set(self.titles.values())
        self.label, self.inline, self.formula = {}, {}, {}
        fresh = 0
        for n in self.order:
            name = self.titles.get(n) or self.namer.name(n)
            if n.is_leaf:
                self.label[n] = str(name) if name is not None else _const_text(n)
                continue
            args = [self._operand(a) for a in n.args]
            piece = definition(n).render(n, args, self.renderer)
            self.formula[n] = piece
            if name is None and len(piece.text) <= INLINE_CHARS:
                self.inline[n] = piece
            elif name is None:
                fresh += 1
                while f"v{fresh}" in taken or str(Name("v", str(fresh))) in taken:
                    fresh += 1
                name = Name("v", str(fresh))
            if name is not None:
                self.label[n] = str(name)

    def _operand(self, node):
        from symbackprop.render.printer import ATOM, Piece
        if node in self.inline:
            return self.inline[node]
        name = self.label[node]
        return Piece(name, name, ATOM, node.ndim > 0)

    # ---- boxes -----------------------------------------------------------------------------
    def _box(self, box_id, n):
        value = [] if self.values is None else ["= " + value_text(self.values[n])]
        shape = fmt(n.shape) + ("" if n.dtype == "float64" else f" {n.dtype}")
        if n.is_leaf:
            kind = n.op
            title = self.label[n]
            lines = [f"{n.op} {shape}"] + value
            if n.op == "const" and n.shape == ():
                lines = ["const"]
        else:
            kind = "output" if n in self.outputs else "op"
            if kind == "output" and self.titles.get(n, "").startswith("∂"):
                kind = "gradient"
            title = self.label.get(n, "")
            lines = _wrap(f"{_op_word(n)}: {self.formula[n].text}") + [shape] + value
        return Box(box_id, kind, title, lines, [n], n.op)

    def text_of(self, node):
        """``name = formula`` of a drawn non-leaf node (its formula alone if it has no name)."""
        f = self.formula[node].text
        return f"{self.label[node]} = {f}" if node in self.label else f


def _op_word(n):
    """The op as a box names it: a map says whether it is one function or a fused region."""
    if n.op == "map":
        return "map"
    if n.op == "reduce":
        return n.attrs.kind
    return n.op


def _const_text(n):
    """A constant as formulas read it: its value when small (``2``, ``[1, 2, 3]``)."""
    from symbackprop.render.values import FULL_ELEMENTS
    a = n.attrs.value.array
    if a.size == 1:
        return value_text(a.reshape(()))
    return value_text(a) if a.size <= FULL_ELEMENTS else "const"


def _unique(args):
    seen = []
    for a in args:
        if a not in seen:
            seen.append(a)
    return seen


def _wrap(text):
    return textwrap.wrap(text, LINE_CHARS, break_long_words=True, subsequent_indent="  ") or [""]


def _gradients(outputs):
    """({output index: (loss, wrt)}, [(δ node, z)]): which outputs are gradients of which drawn
    scalar output, and the cotangents of that loss's layers (its δ's)."""
    from symbackprop.autodiff import backprop
    from symbackprop.graph import ops
    from symbackprop.render.namer import Namer, is_affine
    found, deltas = {}, []
    for loss in outputs:
        if loss.shape != () or loss.dtype not in ops.FLOAT_DTYPES or loss.is_leaf:
            continue
        order = topo_order([loss])
        leaves = [n for n in order if n.op in ("param", "input") and n.dtype in ops.FLOAT_DTYPES]
        forward = Namer([loss])
        layers = [n for n in order if is_affine(n) and forward.name(n) is not None]
        cot = backprop(loss, leaves + layers)
        by_node = {}
        for t in leaves + layers:  # leaves first: ∂L/∂W, not a layer's name for the same node
            if t in cot:
                by_node.setdefault(cot[t], t)
        hits = {i: (loss, by_node[o]) for i, o in enumerate(outputs) if o is not loss and o in by_node}
        for i, v in hits.items():
            found.setdefault(i, v)
        if hits:
            deltas += [(cot[z], z) for z in layers if z in cot]
    return found, deltas


def _values(order, feeds):
    """{node: value} for every drawn node, by the evaluator's per-primitive numpy meaning."""
    if not isinstance(feeds, dict):
        raise ArgumentError(f"draw: feeds must be a dict {{input or param name: array}}, got {type(feeds).__name__}")
    from symbackprop.graph.evaluate import batch_size
    leaves = [n for n in order if n.op in ("input", "param")]
    missing = sorted({n.name for n in leaves if n.name not in feeds})
    if missing:
        raise ArgumentError(f"draw: feeds has no value for {', '.join(missing)}; give every input and param "
                            f"of the drawn graph ({', '.join(sorted({n.name for n in leaves}))}), or no feeds")
    n_batch, n_from = None, None
    for leaf in leaves:
        a = np.asarray(feeds[leaf.name])
        if a.ndim != leaf.ndim or not all(d == N or d == s for d, s in zip(leaf.shape, a.shape)):
            raise ShapeError(f"draw: feeds[{leaf.name!r}] has shape {fmt(a.shape)}; {leaf.op} {leaf.name} "
                             f"has shape {fmt(leaf.shape)}")
        if N in leaf.shape:
            got = a.shape[leaf.shape.index(N)]
            if n_batch is not None and got != n_batch:
                raise ShapeError(f"draw: feeds[{leaf.name!r}] has batch size {got} (shape {fmt(a.shape)}) but "
                                 f"feeds[{n_from!r}] has batch size {n_batch}")
            n_batch, n_from = got, leaf.name
    n = batch_size(order, feeds)
    values = {}
    with np.errstate(all="ignore"):
        for node in order:
            if node.op in ("input", "param"):
                values[node] = np.asarray(feeds[node.name])
            else:
                values[node] = definition(node).evaluate(node, [values[a] for a in node.args], n)
    return values
