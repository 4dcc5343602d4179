"""Collapse a drawing's layers into one box each, as TensorBoard's graph view does, so a deep
network stays legible: the forward part of layer k (its product, bias, activation and
params) is one box, and so is its backward part (the nodes that compute ``δₖ``).

Layers are found by the names the formulas use (``symbackprop.render.namer``): layer k's
forward box holds the nodes that ``aₖ`` (or ``zₖ``, without activation) depends on and layer
k−1's output does not, except the inputs; its backward box the nodes ``δₖ`` depends on that
are neither forward nodes nor in a later layer's backward box.  Leaves read by one box only
join it; outputs (the loss, the gradients) and the loss's own arithmetic keep their boxes.

>>> import symbackprop as sb
>>> from symbackprop.render.graphview import GraphView
>>> x = sb.input("x", (None, 2)); W1 = sb.param("W1", (2, 3)); W2 = sb.param("W2", (3, 1))
>>> L = sb.mean(sb.tanh(sb.tanh(x @ W1) @ W2))
>>> boxes, edges = collapse(GraphView([L]))
>>> [b.title for b in boxes if b.kind == "layer"]
['layer 1', 'layer 2']
"""

from symbackprop.graph.shape import fmt
from symbackprop.graph.traverse import topo_order
from symbackprop.render.graphview import Box, _wrap
from symbackprop.render.namer import is_activation, is_affine
from symbackprop.render.values import value_text


def collapse(view):
    """(boxes, edges) of ``view`` (a :class:`GraphView`) with every layer one box."""
    groups = _groups(view)
    if not groups:
        return view.boxes, view.edges
    group_of = {n: key for key, members in groups.items() for n in members}
    boxes, box_id = [], {}
    for n in view.order:  # boxes in topological order (a layer's at its last node)
        key = group_of.get(n)
        if key is None:
            box = view.box_of[n]
            boxes.append(box)
            box_id[n] = box.id
            continue
        box_id[n] = f"{key[0]}{key[1]}"
        if n is groups[key][-1]:
            boxes.append(_layer_box(view, key, groups[key]))
    edges = []
    for n in view.order:
        for a in n.args:
            e = (box_id[a], box_id[n])
            if e[0] != e[1] and e not in edges:
                edges.append(e)
    return boxes, edges


def _groups(view):
    """{("layer"|"grad", k): [nodes]} for the layers of the drawn graph, in topological order."""
    namer, order = view.namer, view.order
    drawn = set(order)
    outputs = set(view.outputs)
    layers = {}  # k -> (z, a or None)
    for n in order:
        name = namer.name(n)
        if name is not None and (name.base == "z" or name.hat) and is_affine(n):  # ŷ: the last, linear layer
            layers.setdefault(namer.depth.get(n, len(layers) + 1), n)
    if not layers:
        return {}
    ks = sorted(layers)
    readers = _readers(order)
    ends = {}
    for k in ks:
        z = layers[k]
        act = [r for r in readers.get(z, ()) if is_activation(r) and namer.name(r) is not None]
        ends[k] = act[0] if act else z
    groups, taken = {}, set()
    below = set()
    for k in ks:  # forward: what layer k adds to the layers below it
        members = [n for n in topo_order([ends[k]]) if n not in below and n.op != "input" and n not in outputs]
        below.update(topo_order([ends[k]]))
        if members:
            groups[("layer", k)] = members
            taken.update(members)
    forward = set(n for o in outputs if o.shape == () for n in topo_order([o])) | below
    deltas = {}
    for n in order:
        name = namer.name(n)
        if name is not None and name.base == "δ" and n not in forward:
            deltas[int(name.sub) if name.sub.isdigit() else 1] = n
    for k in sorted(deltas, reverse=True):  # backward: δₖ and what only it needs
        members = [n for n in topo_order([deltas[k]]) if n not in forward and n not in taken and not n.is_leaf
                   and n not in outputs]
        if members:
            groups[("grad", k)] = members
            taken.update(members)
    # a leaf or an unnamed layout node read only by one group belongs to it (W₂ᵀ with layer 2's δ)
    for n in reversed(order):
        if n in taken or n in outputs or n.op == "input" or n not in drawn:
            continue
        if not (n.is_leaf or n.op in ("transpose", "broadcast_to", "reshape")):
            continue
        keys = {k for k, members in groups.items() for r in readers.get(n, ()) if r in members}
        owners = [r for r in readers.get(n, ()) if not any(r in m for m in groups.values())]
        if len(keys) == 1 and not owners:
            key = keys.pop()
            groups[key].insert(0, n)
            taken.add(n)
    return {k: m for k, m in groups.items() if len(m) > 1}


def _readers(order):
    readers = {}
    for n in order:
        for a in n.args:
            readers.setdefault(a, []).append(n)
    return readers


def _layer_box(view, key, members):
    kind, k = key
    named = [n for n in members if not n.is_leaf and view.namer.name(n) is not None]
    params = [n for n in members if n.op == "param"]
    last = named[-1] if named else members[-1]
    if kind == "layer":
        title = f"layer {k}"
        lines = []
        for n in named:
            lines += _wrap(view.text_of(n))
    else:
        title = f"backward, layer {k}"
        lines = []
        for n in named:
            name = view.namer.name(n)
            z = f"∂L/∂z{str(name)[1:]}" if str(name).startswith("δ") else ""
            lines += _wrap(f"{name} = {z} = {view.formula[n].text}" if z else view.text_of(n))
    if params:
        lines.append(", ".join(f"{view.label[p]} {fmt(p.shape)}" for p in params))
    lines.append(f"{len(members)} nodes, out {fmt(last.shape)}")
    if view.values is not None:
        lines.append("= " + value_text(view.values[last]))
    return Box(f"{kind}{k}", "layer", title, lines, list(members), "layer")
