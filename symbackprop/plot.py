"""Figures of a trained classifier: its decision boundary over the data, and its loss curve.

matplotlib is optional (``pip install -e ".[plot]"``) and imported only when a figure is
drawn, with the non-interactive Agg backend, so nothing here needs a display.

>>> available() in (True, False)
True
"""

import importlib.util

import numpy as np

#: how to get plots when matplotlib is missing
INSTALL_HINT = 'pip install -e ".[plot]"  (or: pip install matplotlib)'

#: size of the figure ``decision_figure`` writes, in pixels (width, height)
FIGURE_PIXELS = (1100, 450)
_DPI = 100


def available():
    """Whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    """pyplot, on the Agg backend unless the caller (a notebook, say) already chose one."""
    import sys
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def decision_figure(path, score, X, labels, loss, title="", threshold=0.0, resolution=200):
    """Write a PNG to ``path``: the decision regions of ``score`` with the points, and the loss.

    ``score(points) -> (m,)`` gives the network's output on an (m, 2) array; a point is
    class 1 where the score exceeds ``threshold``. ``labels`` are 0/1 for the scatter,
    ``loss`` one value per epoch. Returns ``path``.
    """
    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    pad = 0.5
    (x0, y0), (x1, y1) = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    s = np.asarray(score(grid), dtype=np.float64).reshape(gx.shape)

    width, height = FIGURE_PIXELS
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(width / _DPI, height / _DPI), dpi=_DPI,
                                 gridspec_kw={"width_ratios": [1.25, 1]})
    try:
        ax.contourf(gx, gy, s > threshold, levels=[-0.5, 0.5, 1.5], cmap=ListedColormap(["#cfe0f5", "#f7d3c9"]))
        ax.contour(gx, gy, s, levels=[threshold], colors="k", linewidths=1.2)
        for cls, colour, marker in ((0, "#1f5fa8", "o"), (1, "#c2410c", "s")):
            pts = X[labels == cls]
            ax.scatter(pts[:, 0], pts[:, 1], s=18, c=colour, marker=marker, edgecolors="white", linewidths=0.5,
                       label=f"class {cls}")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(title or "decision boundary")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_aspect("auto")

        loss = np.asarray(loss, dtype=np.float64)
        bx.plot(np.arange(1, len(loss) + 1), loss, color="#333333", linewidth=1.2)
        if len(loss) and np.all(loss > 0):
            bx.set_yscale("log")
        bx.set_xlabel("epoch")
        bx.set_ylabel("training loss")
        bx.set_title("loss curve")
        bx.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path
