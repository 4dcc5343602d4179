"""Small models shared by the simplify, render and explain tests: (loss, params, feeds maker)."""

import numpy as np

import symbackprop as sb

ACTS = {"tanh": sb.tanh, "sigmoid": sb.sigmoid, "relu": sb.relu, "softplus": sb.softplus, "gelu": sb.gelu,
        "leaky": lambda h: sb.leaky_relu(h, 0.1), "swish": sb.elementwise(lambda u: u * sb.scalar.sigmoid(u))}
LOSSES = ("mse", "bce", "ce", "hinge", "bce_explicit", "ce_explicit", "half_sq")


def mlp(widths, act="tanh", loss="mse", l2=0.0):
    """A raw-graph MLP (params W1, b1, ...); returns (L, params)."""
    x = sb.input("x", (None, widths[0]))
    h, params = x, []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        W, c = sb.param(f"W{i + 1}", (a, b)), sb.param(f"b{i + 1}", (b,))
        params += [W, c]
        h = h @ W + c
        if i < len(widths) - 2:
            h = ACTS[act](h)
    k = widths[-1]
    if loss in ("ce", "ce_explicit"):
        y = sb.input("y", (None,), "int64")
        if loss == "ce":
            L = sb.cross_entropy(h, y)
        else:
            L = -sb.mean(sb.sum(sb.onehot(y, k) * sb.log(sb.softmax(h)), axis=1))
    else:
        y = sb.input("y", (None, k))
        if loss == "mse":
            L = sb.mse(h, y)
        elif loss == "bce":
            L = sb.bce(h, y)
        elif loss == "hinge":
            L = sb.hinge(h, y)
        elif loss == "half_sq":
            L = sb.sum((h - y) ** 2) / 2
        else:
            p = sb.sigmoid(h)
            L = -sb.mean(y * sb.log(p) + (1 - y) * sb.log(1 - p))
    if l2:
        L = L + sb.l2(params, l2)
    return L, params


def feeds_for(L, n=5, seed=0):
    """Random feeds for every leaf of ``L`` (labels in range, ±1 targets for hinge)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for leaf in sb._graph.traverse.leaves([L]):
        if leaf.op == "const":
            continue
        shape = tuple(n if not isinstance(d, int) else d for d in leaf.shape)
        if leaf.dtype == "int64":
            k = max((c.attrs[0] for c in sb._graph.traverse.topo_order([L]) if c.op == "onehot"), default=2)
            feeds[leaf.name] = rng.integers(0, k, size=shape).astype("int64")
        elif leaf.name == "y":
            feeds[leaf.name] = rng.choice([-1.0, 1.0], size=shape) if _has_relu(L) else rng.uniform(0, 1, shape)
        else:
            feeds[leaf.name] = rng.normal(size=shape)
    return feeds


def _has_relu(L):
    return any(n.op == "map" and n.attrs[0].expr.has(__import__("sympy").Max) and "1 -" in str(n.attrs[0].expr)
               for n in sb._graph.traverse.topo_order([L]))
