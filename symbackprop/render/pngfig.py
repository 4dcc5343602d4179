"""A laid-out drawing as a PNG, drawn with matplotlib (optional: ``pip install matplotlib``),
box for box and edge for edge as the SVG writer draws them, at one pixel per SVG unit
times ``scale``.

matplotlib cannot read SVG, so the picture is drawn again from the same scene rather than
converted; the fonts differ a little, the layout not at all.
"""

from symbackprop.render.drawstyle import BOLD_KINDS, COLOURS, EDGE_COLOUR, FONT_SIZE, LINE_HEIGHT, PAD_X, PAD_Y

#: matplotlib's points per pixel at the figure's dpi (a pixel is 0.75 pt at 96 dpi)
_DPI = 96


def write_png(boxes, scene, path, scale=1.5):
    """Write the drawing of ``boxes`` placed as ``scene`` says to ``path`` (PNG)."""
    from symbackprop.plot import _pyplot
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path
    plt = _pyplot()
    dpi = _DPI * scale
    fig = plt.figure(figsize=(scene.width / _DPI, scene.height / _DPI), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)  # y downwards, as in SVG
    ax.axis("off")
    points_per_pixel = 72 / _DPI
    for _, _, pts in scene.paths:
        codes = [Path.MOVETO] + [Path.LINETO] * (len(pts) - 1)
        ax.add_patch(FancyArrowPatch(path=Path(pts, codes), arrowstyle="-|>", mutation_scale=10,
                                     color=EDGE_COLOUR, linewidth=1.2 * points_per_pixel, shrinkA=0, shrinkB=0))
    for box in boxes:
        cx, cy = scene.centres[box.id]
        w, h = scene.sizes[box.id]
        x0, y0 = cx - w / 2, cy - h / 2
        fill, stroke = COLOURS.get(box.kind, COLOURS["op"])
        ax.add_patch(FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0,rounding_size=5", facecolor=fill,
                                    edgecolor=stroke, linewidth=(2 if box.kind in BOLD_KINDS
                                                                 else 1) * points_per_pixel))
        y = y0 + PAD_Y + FONT_SIZE
        lines = ([(box.title, "bold")] if box.title else []) + [(t, "normal") for t in box.lines]
        for text, weight in lines:
            ax.text(x0 + PAD_X, y, text, fontsize=FONT_SIZE * points_per_pixel, family="monospace",
                    fontweight=weight, va="baseline", ha="left")
            y += LINE_HEIGHT
    fig.savefig(path, dpi=dpi, facecolor="white")
    plt.close(fig)
