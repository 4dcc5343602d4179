"""How results show in a notebook (Jupyter's ``_repr_html_`` / ``_repr_latex_``): a verdict as
✓/✗ with the correct formula, a training history as its numbers and loss curve.  The objects'
own ``_repr_*_`` methods call these, so each kind of result keeps one small method.

>>> from symbackprop.train import History
>>> "<table" in history_html(History(loss=[1.0, 0.5], seconds=0.1, steps=2), plot=False)
True
"""

import base64
import html
import io

import sympy as sp


def verdict_latex(v):
    """A verdict in LaTeX: ✓ and the (simplified) true value, or ✗ with the correct form, the
    reason and a counterexample."""
    if v.holds:
        return r"$\text{✓ holds: }\ %s$" % _latex(v.correct)
    rows = [r"\text{✗ does not hold}" + (r"\ (\text{%s})" % _text(v.reason) if v.reason else "")]
    rows.append(r"\text{correct: }\ %s" % _latex(v.correct))
    if v.counterexample is not None:
        at = ",\\ ".join(f"{sp.latex(sp.Symbol(str(k)))} = {sp.latex(sp.sympify(val))}"
                         for k, val in v.counterexample.items())
        rows.append(r"\text{counterexample: }\ %s" % (at or r"\text{(no variables)}"))
    return "$\\begin{array}{l}" + r" \\ ".join(rows) + "\\end{array}$"


def verdict_html(v):
    """A verdict as HTML: a green ✓ or a red ✗, the claim, and what ``explain()`` says."""
    mark, colour = ("✓", "#2f8a3a") if v.holds else ("✗", "#b5374a")
    lines = v.explain().split("\n")
    head = html.escape(lines[0][2:])  # explain() starts with the mark
    rest = "".join(f"<div style='margin-left:1.4em'>{html.escape(line.strip())}</div>" for line in lines[1:])
    return (f"<div class='symbackprop-verdict'><span style='color:{colour};font-weight:bold'>{mark}</span> "
            f"<code>{head}</code>{rest}</div>")


def history_html(h, plot=True):
    """A training history as HTML: epochs, steps, time, first and last loss, and the loss
    curve as an inline PNG when matplotlib is installed (``plot``)."""
    rows = [("epochs", h.epochs), ("steps", h.steps), ("seconds", f"{h.seconds:.3g}")]
    if h.steps:
        rows.append(("µs per step", f"{1e6 * h.seconds_per_step:.3g}"))
    if h.loss:
        rows += [("first loss", f"{h.loss[0]:.6g}"), ("last loss", f"{h.loss[-1]:.6g}")]
    table = "<table>" + "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows) + \
        "</table>"
    png = loss_curve_png(h.loss) if plot and h.loss else None
    img = "" if png is None else \
        f"<img alt='loss curve' src='data:image/png;base64,{base64.b64encode(png).decode()}'/>"
    return f"<div class='symbackprop-history'>{table}{img}</div>"


def loss_curve_png(loss):
    """The loss per epoch as PNG bytes, or None without matplotlib."""
    from symbackprop import plot
    if not plot.available():
        return None
    plt = plot._pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 2.6), dpi=96)
    try:
        ax.plot(range(1, len(loss) + 1), loss, color="#333333", linewidth=1.2)
        if all(v > 0 for v in loss):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _latex(value):
    try:
        return sp.latex(value)
    except Exception:  # a printer failure must not break a notebook's display
        return r"\text{%s}" % _text(str(value))


def _text(s):
    """Plain text made safe inside ``\\text{…}``."""
    for a, b in (("\\", " "), ("{", "("), ("}", ")"), ("$", " "), ("#", " "), ("%", " "), ("&", " and "),
                 ("_", r"\_"), ("^", " ")):
        s = s.replace(a, b)
    return s
