"""Where each box of a drawing goes: a layered (Sugiyama) layout, inputs at the top and the
loss and gradients below, by Graphviz's ``dot`` when it is on PATH, else by ``grandalf``
(pure Python, installed with symbackprop), so a fresh machine with nothing but pip packages
draws the same kind of picture.  No layout algorithm lives here: only the translation to and
from the two engines.

>>> boxes = {"a": (60, 30), "b": (60, 30), "c": (80, 30)}
>>> scene = lay_out(boxes, [("a", "c"), ("b", "c")], engine="grandalf")
>>> scene.centres["c"][1] > scene.centres["a"][1] == scene.centres["b"][1]
True
"""

import shutil
import subprocess
from dataclasses import dataclass

from symbackprop.errors import ArgumentError

#: gaps between boxes, in pixels: beside each other in one layer, and between layers
X_GAP, Y_GAP = 24, 36
#: blank border around the picture, in pixels
MARGIN = 12
ENGINES = ("auto", "grandalf", "dot")


@dataclass
class Scene:
    """A laid-out drawing: box centres and sizes, each edge as a polyline, the picture size."""
    centres: dict  # id -> (x, y)
    sizes: dict  # id -> (width, height)
    paths: list  # [(source id, target id, [(x, y), ...])]
    width: float
    height: float
    engine: str


def lay_out(sizes, edges, engine="auto"):
    """A :class:`Scene` for boxes ``sizes`` ({id: (width, height)}) and ``edges`` [(from, to)]."""
    if engine not in ENGINES:
        raise ArgumentError(f"draw: layout engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "dot" and shutil.which("dot") is None:
        raise ArgumentError("draw: engine='dot' needs Graphviz's dot on PATH; engine='grandalf' needs nothing")
    if engine in ("auto", "dot") and shutil.which("dot") is not None:
        try:
            return _normalised(*_dot(sizes, edges), sizes, "dot")
        except (OSError, subprocess.SubprocessError, ValueError):
            if engine == "dot":
                raise
    return _normalised(*_grandalf(sizes, edges), sizes, "grandalf")


class _View:
    """What grandalf reads and writes on a vertex or an edge."""

    def __init__(self, w=0, h=0):
        self.w, self.h, self.xy, self.path = w, h, (0, 0), None

    def setpath(self, points):
        self.path = list(points)


def _grandalf(sizes, edges):
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout
    vertices = {}
    for box, (w, h) in sizes.items():
        v = Vertex(box)
        v.view = _View(w, h)
        vertices[box] = v
    es = []
    for a, b in edges:
        e = Edge(vertices[a], vertices[b])
        e.view = _View()
        es.append(e)
    graph = Graph(list(vertices.values()), es)
    centres, paths = {}, []
    offset = 0.0
    for component in graph.C:  # side by side, in the order of their first box
        sug = SugiyamaLayout(component)
        sug.xspace, sug.yspace = X_GAP, Y_GAP
        roots = [v for v in component.sV if not v.e_in()]
        sug.init_all(roots=roots, inverted_edges=[])  # a graph is acyclic: nothing to invert
        sug.draw()
        left = min(v.view.xy[0] - v.view.w / 2 for v in component.sV)
        right = max(v.view.xy[0] + v.view.w / 2 for v in component.sV)
        shift = offset - left
        for v in component.sV:
            centres[v.data] = (v.view.xy[0] + shift, v.view.xy[1])
        for e in component.sE:
            points = e.view.path or [e.v[0].view.xy, e.v[1].view.xy]
            paths.append((e.v[0].data, e.v[1].data, [(x + shift, y) for x, y in points]))
        offset += right - left + 2 * X_GAP
    return centres, paths


def _dot(sizes, edges):
    """Positions from ``dot -Tplain`` (inches, y upwards), converted to pixels, y downwards."""
    ids = {box: f"b{i}" for i, box in enumerate(sizes)}
    back = {v: k for k, v in ids.items()}
    lines = ["digraph G {", f"nodesep={X_GAP / 72:.3f}; ranksep={Y_GAP / 72:.3f};",
             "node [shape=box, fixedsize=true, label=\"\"];"]
    for box, (w, h) in sizes.items():
        lines.append(f"{ids[box]} [width={w / 72:.3f}, height={h / 72:.3f}];")
    for a, b in edges:
        lines.append(f"{ids[a]} -> {ids[b]};")
    lines.append("}")
    out = subprocess.run(["dot", "-Tplain"], input="\n".join(lines), capture_output=True, text=True,
                         timeout=60, check=True).stdout
    height = None
    centres, paths = {}, []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "graph":
            height = float(f[3]) * 72
        elif f and f[0] == "node":
            centres[back[f[1]]] = (float(f[2]) * 72, height - float(f[3]) * 72)
        elif f and f[0] == "edge":
            n = int(f[3])
            pts = [(float(f[4 + 2 * i]) * 72, height - float(f[5 + 2 * i]) * 72) for i in range(n)]
            paths.append((back[f[1]], back[f[2]], pts[::3] + ([pts[-1]] if (n - 1) % 3 else [])))
    if set(centres) != set(sizes):
        raise ValueError("dot left boxes out")
    return centres, paths


def _normalised(centres, paths, sizes, engine):
    """The scene moved so its top-left box corner is at the margin; edges start and end on the
    boxes' bottom and top sides (engines give centres)."""
    bend_x = [x for _, _, pts in paths for x, _ in pts[1:-1]]  # routed bends may stick out
    left = min([centres[b][0] - sizes[b][0] / 2 for b in sizes] + bend_x)
    top = min(centres[b][1] - sizes[b][1] / 2 for b in sizes)
    dx, dy = MARGIN - left, MARGIN - top
    centres = {b: (x + dx, y + dy) for b, (x, y) in centres.items()}
    out = []
    for a, b, pts in paths:
        pts = [(x + dx, y + dy) for x, y in pts]
        (ax, ay), (bx, by) = centres[a], centres[b]
        middle = pts[1:-1]
        start = (ax, ay + sizes[a][1] / 2)
        end = (bx, by - sizes[b][1] / 2)
        out.append((a, b, [start] + middle + [end]))
    width = max([centres[b][0] + sizes[b][0] / 2 for b in sizes] + [x for _, _, p in out for x, _ in p]) + MARGIN
    height = max(centres[b][1] + sizes[b][1] / 2 for b in sizes) + MARGIN
    return Scene(centres, dict(sizes), out, width, height, engine)
