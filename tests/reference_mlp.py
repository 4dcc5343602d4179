"""An independent hand-written numpy MLP (forward and backward by hand), used as an oracle.

It shares no code with symbackprop: activations, losses and their derivatives are written
out here from their textbook formulas.
"""

import numpy as np
from scipy.special import erf, expit

ACTS = {
    "tanh": (np.tanh, lambda z, a: 1 - a ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
    "sigmoid": (expit, lambda z, a: a * (1 - a)),
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z, a: np.where(z > 0, 1.0, 0.01)),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z, a: expit(z)),
    "gelu": (lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
             lambda z, a: 0.5 * (1 + erf(z / np.sqrt(2))) + z * np.exp(-z ** 2 / 2) / np.sqrt(2 * np.pi)),
}


def loss_and_dout(kind, out, y):
    """Loss value and ∂loss/∂out for the four built-in losses (mean reduction)."""
    n = out.shape[0]
    if kind == "mse":
        return np.mean((out - y) ** 2), 2 * (out - y) / out.size
    if kind == "bce":
        return np.mean(np.logaddexp(0, out) - y * out), (expit(out) - y) / out.size
    if kind == "cross_entropy":
        m = out.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(out - m).sum(axis=1))
        p = np.exp(out - lse[:, None])
        onehot = np.eye(out.shape[1])[y]
        return np.mean(lse - out[np.arange(n), y]), (p - onehot) / n
    if kind == "hinge":
        margin = 1 - y * out
        return np.mean(np.maximum(margin, 0)), np.where(margin > 0, -y, 0.0) / out.size
    raise ValueError(kind)


def mlp_loss_and_grads(params, sizes, act, kind, X, y):
    """params uses PyTorch names for Sequential(Linear, act, Linear, act, ..., Linear)."""
    f, df = ACTS[act]
    a, cache = X, []
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        W, b = params[f"{2 * i}.weight"], params[f"{2 * i}.bias"]
        z = a @ W.T + b
        if i < n_layers - 1:
            h = f(z)
            cache.append((a, z, h))
            a = h
        else:
            cache.append((a, z, None))
            out = z
    loss, delta = loss_and_dout(kind, out, y)
    grads = {}
    for i in reversed(range(n_layers)):
        a_in, z, h = cache[i]
        if h is not None:
            delta = delta * df(z, h)
        grads[f"{2 * i}.weight"] = delta.T @ a_in
        grads[f"{2 * i}.bias"] = delta.sum(axis=0)
        delta = delta @ params[f"{2 * i}.weight"]
    return loss, grads
