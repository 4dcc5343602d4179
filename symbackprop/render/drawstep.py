"""The drawing of one training step (``Trainer.draw()``): the forward pass, the loss, every
param's gradient, and one box for the optimizer's update rule that reads them all.

>>> import sympy as sp, symbackprop as sb
>>> rule_lines(sb.optim.SGD(lr=0.05))
['p ← p − g·η']
"""

import sympy as sp

from symbackprop.render.draw import Drawing
from symbackprop.render.graphview import Box, GraphView
from symbackprop.render.layers import collapse

#: how the optimizers' symbols read in a box (η for the learning rate, as textbooks write it)
_SYMBOLS = {"lr": "η", "momentum": "μ", "beta1": "β₁", "beta2": "β₂", "eps": "ε", "weight_decay": "λ",
            "velocity": "v"}


def rule_lines(optimizer):
    """The optimizer's update rules as text, ``p`` the param and ``g`` its gradient; terms of
    hyperparameters that are 0 (no weight decay) are left out."""
    zero = {sp.Symbol(h, real=True): 0 for h, v in optimizer.hyper.items() if v == 0}
    lines = []
    for target, expr in optimizer.updates:
        expr = expr.xreplace(zero)
        rename = {s: sp.Symbol(_SYMBOLS.get(s.name, s.name)) for s in expr.free_symbols}
        own = sp.Symbol(_SYMBOLS.get(target, target))
        # the target's own term first, as textbooks write an update: p ← p − η·g
        terms = sorted(sp.Add.make_args(expr.xreplace(rename)), key=lambda t: (not t.has(own), sp.default_sort_key(t)))
        text = ""
        for t in terms:
            negative = t.could_extract_minus_sign()
            body = _text(-t if negative else t)
            text += (" − " if negative else " + ") + body if text else ("−" if negative else "") + body
        lines.append(f"{own} ← {text}")
    return lines


def _text(expr):
    return sp.sstr(expr).replace("**", "^").replace("*", "·").replace(" - ", " − ")


def draw_step(loss, gradients, optimizer, feeds=None, expand=False, engine="auto"):
    """Draw ``loss`` and ``gradients`` ({param node: gradient node}) and the update of
    ``optimizer`` (with its hyperparameters) applied to every param."""
    grads = list(gradients.values())
    view = GraphView([loss] + grads, feeds)
    boxes, edges = (view.boxes, view.edges) if expand else collapse(view)
    hyper = ", ".join(f"{_SYMBOLS.get(k, k)} = {v:g}" for k, v in optimizer.hyper.items() if v)
    update = Box("update", "update", f"update: {type(optimizer).__name__}({hyper})",
                 rule_lines(optimizer) + [f"for each θ: p = θ, g = ∂L/∂θ ({len(grads)} params)"], [], "update")
    edges = list(edges)
    for o in view.outputs[1:]:  # outputs keep their own boxes when layers collapse
        e = (view.box_of[o].id, "update")
        if e not in edges:
            edges.append(e)
    return Drawing(boxes + [update], edges, engine)
