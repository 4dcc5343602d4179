"""One numpy translation per kernel-program step.

>>> import numpy as np
>>> from codegen.program import MatMul, Buffer
>>> env = {"a": np.ones((2, 3)), "b": np.ones((2, 4))}
>>> run_step(MatMul("c", "a", "b", trans_a=True), env, Buffer("c", (3, 4), "float64", "temp"), 1).shape
(3, 4)
"""

from functools import lru_cache

import numpy as np
import sympy as sp

from codegen.program import (Broadcast, Concat, Map, MatMul, OneHot, Pad, Reduce, Reshape, ScatterAdd, Slice,
                             Take, Transpose)

N = sp.Symbol("N", integer=True, positive=True)


def concrete_shape(shape, n):
    """Static shape with the batch symbol replaced by ``n``.

    >>> concrete_shape((N, 3), 5)
    (5, 3)
    """
    return tuple(int(sp.sympify(d).subs(N, n)) for d in shape)


@lru_cache(maxsize=4096)
def body_function(body):
    """numpy function of (operands..., N) for a map body; named functions (sigmoid,
    softplus) bring their own stable numpy implementation as ``.numpy``."""
    named = {type(f).__name__: type(f).numpy for f in body.expr.atoms(sp.Function) if hasattr(type(f), "numpy")}
    # sympy would print Heaviside as a Piecewise (1 at NaN); numpy's heaviside propagates NaN
    expr = body.expr.replace(sp.Heaviside, lambda x, h0=sp.S.Half: sp.Function("np_heaviside")(x, h0))
    named["np_heaviside"] = np.heaviside
    return sp.lambdify(list(body.variables) + [N], expr, modules=[named, "scipy", "numpy"])


def _logsumexp(x, axes):
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return np.log(np.sum(np.exp(x - m), axis=axes)) + np.squeeze(m, axis=axes)


#: step kind -> its numpy translation ``f(step, env, out, n) -> array``
TRANSLATIONS = {}


def translates(kind):
    """Register the numpy translation of a step kind."""
    def register(fn):
        TRANSLATIONS[kind] = fn
        return fn
    return register


def run_step(step, env, out, n):
    """Execute ``step`` on the arrays in ``env``; ``out`` is the output buffer's description."""
    try:
        fn = TRANSLATIONS[type(step)]
    except KeyError:
        raise NotImplementedError(f"numpy backend: no translation for {type(step).__name__}") from None
    return fn(step, env, out, n)


@translates(Map)
def _map(step, env, out, n):
    value = body_function(step.body)(*(env[i] for i in step.ins), n)
    return np.broadcast_to(np.asarray(value, dtype=np.dtype(out.dtype)), concrete_shape(out.shape, n))


@translates(MatMul)
def _matmul(step, env, out, n):
    a, b = env[step.a], env[step.b]
    return (a.T if step.trans_a else a) @ (b.T if step.trans_b else b)


@translates(Reduce)
def _reduce(step, env, out, n):
    x = env[step.x]
    if step.kind == "sum":
        value = np.sum(x, axis=step.axes)
    elif step.kind == "max":
        value = np.max(x, axis=step.axes)
    else:
        value = _logsumexp(x, step.axes)
    return np.asarray(value, dtype=np.dtype(out.dtype))


@translates(Transpose)
def _transpose(step, env, out, n):
    return np.transpose(env[step.x], step.perm)


@translates(Broadcast)
def _broadcast(step, env, out, n):
    return np.broadcast_to(env[step.x], concrete_shape(out.shape, n))


@translates(Reshape)
def _reshape(step, env, out, n):
    return np.reshape(env[step.x], concrete_shape(out.shape, n))


@translates(OneHot)
def _onehot(step, env, out, n):
    return (env[step.labels][..., None] == np.arange(step.k)).astype(np.dtype(out.dtype))


@translates(Slice)
def _slice(step, env, out, n):
    x = env[step.x]
    index = []
    for axis, (b, s, k) in enumerate(zip(step.begin, step.step, step.keep)):
        if not k:
            index.append(b)
            continue
        count = concrete_shape(out.shape, n)[sum(step.keep[:axis])]
        stop = b + count * s
        index.append(slice(b, stop if stop >= 0 else None, s))
    return x[tuple(index)]


@translates(Pad)
def _pad(step, env, out, n):
    x = env[step.x]
    result = np.full(concrete_shape(out.shape, n), step.value, dtype=np.dtype(out.dtype))
    result[tuple(slice(lo, lo + (d - 1) * (i + 1) + 1, i + 1)
                 for lo, i, d in zip(step.low, step.interior, x.shape))] = x
    return result


@translates(Concat)
def _concat(step, env, out, n):
    return np.concatenate([env[i] for i in step.ins], axis=step.axis).astype(np.dtype(out.dtype), copy=False)


@translates(Take)
def _take(step, env, out, n):
    return np.take(env[step.x], env[step.indices], axis=step.axis)


@translates(ScatterAdd)
def _scatter_add(step, env, out, n):
    result = np.zeros(concrete_shape(out.shape, n), dtype=np.dtype(out.dtype))
    g, idx = env[step.g], env[step.indices]
    moved = np.moveaxis(result, step.axis, 0)
    np.add.at(moved, idx.ravel(), np.moveaxis(g.reshape(g.shape[:step.axis] + (-1,) + g.shape[step.axis + idx.ndim:]),
                                              step.axis, 0))
    return result
