"""How a drawing looks: one monospace font (so a box's width follows from its text without
measuring fonts), colours by kind of box, and box sizes.  The SVG writer and the matplotlib
writer both read this, so ``.svg`` and ``.png`` show the same picture.

>>> from symbackprop.render.graphview import Box
>>> box_size(Box("n0", "param", "W₁", ["param (2, 3)"]))
(102.4, 41)
"""

import unicodedata

#: font size of a box's text, in pixels; a monospace character is about 0.6 of it wide
FONT_SIZE = 12
CHAR_WIDTH = 0.6 * FONT_SIZE
LINE_HEIGHT = 15
PAD_X, PAD_Y = 8, 6
FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace"

#: (fill, stroke) of each kind of box
COLOURS = {
    "input": ("#e8f1fb", "#4a7ab5"),
    "param": ("#fdf3e1", "#c98a1b"),
    "const": ("#f2f2f2", "#999999"),
    "op": ("#ffffff", "#666666"),
    "output": ("#e6f5e6", "#2f8a3a"),
    "gradient": ("#fbe9ec", "#b5374a"),
    "layer": ("#eef0fa", "#5560a8"),
    "update": ("#f3e8fb", "#7a3fa8"),
}
EDGE_COLOUR = "#777777"
#: kinds of box drawn with a thicker border: what a reader looks for first
BOLD_KINDS = ("output", "gradient", "layer", "update")


def text_width(text):
    """Width of ``text`` in pixels (combining marks take no room)."""
    return CHAR_WIDTH * sum(1 for c in text if not unicodedata.combining(c))


def box_size(box):
    """(width, height) of a box in pixels."""
    lines = ([box.title] if box.title else []) + list(box.lines)
    width = max((text_width(t) for t in lines), default=0) + 2 * PAD_X
    return round(max(width, 40), 1), len(lines) * LINE_HEIGHT + 2 * PAD_Y - 1
