"""One graph that exercises every op, broadcasting pattern and reduction, with its
gradients: compiled once per backend, compared with the numpy backend and the evaluator."""

import numpy as np

import symbackprop as sb


def zoo(dtype="float64"):
    """(outputs, feeds maker) of a graph using every op of the IR."""
    x = sb.input("x", (None, 3), dtype)
    t = sb.input("t", (None, 4), dtype)
    labels = sb.input("labels", (None,), "int64")
    W = sb.param("W", (3, 4), dtype)
    b = sb.param("b", (4,), dtype)
    V = sb.param("V", (4, 4), dtype)
    u = sb.param("u", (4,), dtype)
    s = sb.param("s", (), dtype)
    c = sb.const(np.array([0.5, -1.0, 2.0, 0.25]), dtype)
    h = sb.tanh(x @ W + b)                        # (N, 4), bias broadcast
    g = h @ V.T                                   # transposed product
    k = (h.T @ t) * s                             # (4, 4): transposed left operand, scalar param
    acts = [sb.exp(g / 4), sb.log(sb.softplus(g) + 0.1), sb.sqrt(sb.abs(g) + 1), sb.sin(g), sb.cos(g),
            sb.sigmoid(g), sb.relu(g), sb.leaky_relu(g, 0.1), sb.gelu(g), sb.softplus(-g)]
    mixed = acts[0] * c + acts[1] / (1 + acts[2]) - acts[3] ** 2 + 2 ** acts[4] + acts[5] * t[:, :] if False else \
        acts[0] * c + acts[1] / (1 + acts[2]) - acts[3] ** 2 + acts[4] * acts[5] + acts[6] - acts[7] + acts[8] * acts[9]
    col = sb.sum(mixed, axis=1, keepdims=True)    # (N, 1) broadcast against (N, 4)
    row = sb.max(mixed, axis=0)                   # (4,)
    z = mixed - col / 4 + row + sb.broadcast_to(u, (None, 4))
    cube = sb.reshape(z, (None, 2, 2))
    middle = sb.sum(sb.transpose(cube, (0, 2, 1)) * 1.5, axis=1)       # general reduction
    lse0 = sb.logsumexp(z, axis=0)                # non-trailing logsumexp
    vec = h @ u                                   # matrix-vector: (N,)
    ce = sb.cross_entropy(z, labels)
    sm = sb.softmax(z)
    lsm = sb.log_softmax(z, axis=1)
    L = (ce + sb.mean(middle ** 2) + sb.sum(lse0) / 10 + sb.mean(vec * sb.max(sm, axis=1))
         + sb.mean(lsm * sb.onehot(labels, 4, dtype)) + sb.mean(k ** 2) / 100)
    params = [W, b, V, u, s]
    grads = sb.grad(L, params + [x])
    outputs = [L] + [grads[p] for p in params + [x]] + [z, middle, lse0, vec, sm, k]
    return outputs


def feeds(n=7, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    f = {"x": rng.normal(size=(n, 3)), "t": rng.normal(size=(n, 4)),
         "W": rng.normal(size=(3, 4)) * 0.7, "b": rng.normal(size=4), "V": rng.normal(size=(4, 4)) * 0.5,
         "u": rng.normal(size=4), "s": np.array(0.8)}
    f = {k: v.astype(dtype) for k, v in f.items()}
    f["labels"] = rng.integers(0, 4, size=n)
    return f
