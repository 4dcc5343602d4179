"""Figures of training: the decision boundary of a classifier with its loss curve, and the
gradient flow (per-layer gradient norms over the epochs, ``gradient_flow``).

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


def gradient_flow(hist, path=None, params=None, title="gradient flow"):
    """The gradient-flow figure of a training run: ``hist.grad_norms`` (a ``History``, or a
    dict {param name: one gradient L2 norm per epoch}) per layer.

    Left: each param's gradient norm over the epochs; right: each param's norm, first layer
    on the left, at the first and at the last epoch (log scales: vanishing gradients show as
    a slope over the layers of several orders of magnitude).  ``params`` picks the params
    (default: those named ``*weight``, or all when none is).  Writes a PNG to ``path`` and
    returns it, or returns the matplotlib Figure when ``path`` is None (close it yourself).
    """
    from symbackprop.errors import ArgumentError
    norms = getattr(hist, "grad_norms", hist)
    if not isinstance(norms, dict) or not norms:
        raise ArgumentError("gradient_flow: give a History from fit (or a dict {param name: norms per epoch}) "
                            "with at least one epoch of gradient norms")
    if params is None:
        params = [n for n in norms if n.endswith("weight")] or list(norms)
    unknown = [p for p in params if p not in norms]
    if unknown:
        raise ArgumentError(f"gradient_flow: no gradient norms for {unknown}; recorded: {', '.join(norms)}")
    if not available():
        raise ImportError(f"gradient_flow needs matplotlib: {INSTALL_HINT}")
    plt = _pyplot()
    width, height = FIGURE_PIXELS
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    cmap = plt.get_cmap("viridis")
    positive = True
    for k, name in enumerate(params):
        values = np.asarray(norms[name], dtype=np.float64)
        positive = positive and bool(np.all(values > 0))
        ax.plot(np.arange(1, len(values) + 1), values, color=cmap(k / max(len(params) - 1, 1)), linewidth=1.2,
                label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("‖∂L/∂p‖ (mean over the epoch's steps)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    layers = np.arange(len(params))
    first = np.array([norms[p][0] for p in params], dtype=np.float64)
    last = np.array([norms[p][-1] for p in params], dtype=np.float64)
    bx.plot(layers, first, "o--", color="#999999", label="first epoch")
    bx.plot(layers, last, "o-", color="#c2410c", label="last epoch")
    bx.set_xticks(layers)
    bx.set_xticklabels(params, rotation=45, ha="right", fontsize=7)
    bx.set_ylabel("gradient norm")
    bx.set_title("per layer (input side on the left)")
    bx.legend(fontsize=7)
    bx.grid(True, alpha=0.3)
    if positive and np.all(first > 0) and np.all(last > 0):
        ax.set_yscale("log")
        bx.set_yscale("log")
    fig.tight_layout()
    if path is None:
        return fig
    try:
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path
