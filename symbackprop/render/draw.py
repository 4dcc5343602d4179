"""``sb.draw(outputs, feeds=None)``: a picture of the graph, forward and backward, as SVG.

Each box is a node of the simplified graph: its name as the formulas print it (``W₁``,
``z₂``, ``ŷ``, ``δ₂``), its op and formula (a fused elementwise region shows its body), its
shape, and with ``feeds`` its value.  A drawn output that is the gradient of another drawn
output is labelled ``∂L/∂…``.  Layers collapse into one box each unless ``expand=True``.

In a notebook the drawing displays itself (``_repr_svg_``); ``d.save("net.svg")`` writes the
SVG and ``d.save("net.png")`` a PNG (with matplotlib).

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1)); b = sb.param("b", (1,))
>>> L = sb.mean(sb.sigmoid(x @ W + b))
>>> g = sb.grad(L, [W, b])
>>> d = sb.draw([L, g[W], g[b]])
>>> d
<drawing of 8 boxes, 8 edges: L, ∂L/∂W, ∂L/∂b>
>>> d.svg().startswith("<svg")
True
"""

import os

from symbackprop.errors import ArgumentError
from symbackprop.render.drawstyle import box_size
from symbackprop.render.graphview import GraphView, as_outputs
from symbackprop.render.layers import collapse
from symbackprop.render.layout import lay_out
from symbackprop.render.svg import svg


class Drawing:
    """A laid-out drawing: ``boxes`` (each with ``kind``, ``title``, ``lines``), ``edges``
    [(from id, to id)], and the ``scene`` (positions).  ``svg()`` is the picture."""

    def __init__(self, boxes, edges, engine="auto"):
        self.boxes, self.edges = list(boxes), list(edges)
        self.scene = lay_out({b.id: box_size(b) for b in self.boxes}, self.edges, engine)
        self._svg = None

    def svg(self):
        """The drawing as an SVG document (a string)."""
        if self._svg is None:
            self._svg = svg(self.boxes, self.scene)
        return self._svg

    def _repr_svg_(self):
        return self.svg()

    def box(self, title):
        """The box titled ``title`` (``"W₁"``, ``"∂L/∂W₁"``, ``"layer 2"``), or a KeyError."""
        for b in self.boxes:
            if b.title == title:
                return b
        raise KeyError(f"no box titled {title!r}; titles: {', '.join(b.title for b in self.boxes if b.title)}")

    def save(self, path):
        """Write the drawing to ``path``: ``.svg`` (always) or ``.png`` (with matplotlib).
        Returns ``path``."""
        suffix = os.path.splitext(str(path))[1].lower()
        if suffix == ".svg":
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.svg())
        elif suffix == ".png":
            from symbackprop import plot
            if not plot.available():
                raise ArgumentError(f"save: writing {path} needs matplotlib ({plot.INSTALL_HINT}); "
                                    ".svg needs nothing")
            from symbackprop.render.pngfig import write_png
            write_png(self.boxes, self.scene, path)
        else:
            raise ArgumentError(f"save: {path}: the drawing is written as .svg or .png, got {suffix or 'no suffix'!r}")
        return path

    def __repr__(self):
        outs = [b.title for b in self.boxes if b.kind in ("output", "gradient") and b.title]
        shown = ", ".join(outs[:6]) + (f", … ({len(outs)} outputs)" if len(outs) > 6 else "")
        return f"<drawing of {len(self.boxes)} boxes, {len(self.edges)} edges" + (f": {shown}>" if outs else ">")


def draw(outputs, feeds=None, expand=False, simplify=True, engine="auto"):
    """Draw the graph of ``outputs`` (a node or a list of nodes).

    ``feeds`` ({input or param name: array}) adds each node's value; ``expand=True`` shows every
    node instead of one box per layer; ``simplify=False`` draws the graph as built (no fusion);
    ``engine`` is ``"auto"`` (Graphviz's ``dot`` when on PATH, else ``grandalf``),
    ``"grandalf"`` or ``"dot"``.
    """
    outputs = as_outputs(outputs)
    view = GraphView(outputs, feeds, simplify=simplify)
    boxes, edges = (view.boxes, view.edges) if expand else collapse(view)
    return Drawing(boxes, edges, engine)
