"""A laid-out drawing as SVG text: one ``<g class="node">`` per box (a rounded rectangle, a
bold title, its lines) and one ``<path class="edge">`` per edge with an arrowhead.  Each
element carries ``data-`` attributes (box id, kind, op; an edge's ends), so a test or a
script can read the picture's structure back.

>>> from symbackprop.render.graphview import Box
>>> from symbackprop.render.layout import lay_out
>>> from symbackprop.render.drawstyle import box_size
>>> boxes = [Box("a", "input", "x", ["input (N, 2)"]), Box("b", "op", "a₁", ["map: tanh(x)"])]
>>> scene = lay_out({b.id: box_size(b) for b in boxes}, [("a", "b")], engine="grandalf")
>>> text = svg(boxes, scene)
>>> text.count('class="node"'), text.count('class="edge"'), "tanh(x)" in text
(2, 1, True)
"""

from xml.sax.saxutils import escape, quoteattr

from symbackprop.render.drawstyle import (BOLD_KINDS, COLOURS, EDGE_COLOUR, FONT_FAMILY, FONT_SIZE, LINE_HEIGHT, PAD_X, PAD_Y)


def svg(boxes, scene):
    """The SVG document (a string) of ``boxes`` placed as ``scene`` says."""
    w, h = scene.width, scene.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
           f'viewBox="0 0 {w:.1f} {h:.1f}" font-family={quoteattr(FONT_FAMILY)} font-size="{FONT_SIZE}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{EDGE_COLOUR}"/></marker></defs>',
           f'<rect width="100%" height="100%" fill="white"/>']
    for a, b, points in scene.paths:
        d = " ".join(("M" if i == 0 else "L") + f" {x:.1f} {y:.1f}" for i, (x, y) in enumerate(points))
        out.append(f'<path class="edge" data-from={quoteattr(a)} data-to={quoteattr(b)} d="{d}" fill="none" '
                   f'stroke="{EDGE_COLOUR}" stroke-width="1.2" marker-end="url(#arrow)"/>')
    for box in boxes:
        out.append(_box(box, scene))
    out.append("</svg>")
    return "\n".join(out)


def _box(box, scene):
    cx, cy = scene.centres[box.id]
    w, h = scene.sizes[box.id]
    x0, y0 = cx - w / 2, cy - h / 2
    fill, stroke = COLOURS.get(box.kind, COLOURS["op"])
    parts = [f'<g class="node" data-id={quoteattr(box.id)} data-kind={quoteattr(box.kind)} '
             f'data-op={quoteattr(box.op)}>',
             f"<title>{escape(' | '.join(([box.title] if box.title else []) + list(box.lines)))}</title>",
             f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" rx="5" fill="{fill}" '
             f'stroke="{stroke}" stroke-width="{2 if box.kind in BOLD_KINDS else 1}"/>']
    y = y0 + PAD_Y + FONT_SIZE
    if box.title:
        parts.append(f'<text class="title" x="{x0 + PAD_X:.1f}" y="{y:.1f}" font-weight="bold">'
                     f"{escape(box.title)}</text>")
        y += LINE_HEIGHT
    for line in box.lines:
        parts.append(f'<text class="line" x="{x0 + PAD_X:.1f}" y="{y:.1f}" xml:space="preserve">{escape(line)}</text>')
        y += LINE_HEIGHT
    parts.append("</g>")
    return "\n".join(parts)
