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
from sympy.printing.numpy import SciPyPrinter

from codegen.program import (Broadcast, Concat, Conv, Gather, Map, MatMul, OneHot, Pad, Reduce, Reshape, ScatterAdd,
                             Pool, Slice, SquaredNorms, Take, Transpose, Update, View)

N = sp.Symbol("N", integer=True, positive=True)


def concrete_shape(shape, n):
    """Static shape with the batch symbol replaced by ``n``.

    >>> concrete_shape((N, 3), 5)
    (5, 3)
    """
    return tuple(_concrete_dim(d, n) for d in shape)


@lru_cache(maxsize=1 << 12)
def _concrete_dim(d, n):
    # cached: a 5,000-step program asks the same few dimensions thousands of times
    return d if isinstance(d, int) else int(sp.sympify(d).subs(N, n))


@lru_cache(maxsize=4096)
def body_function(body):
    """numpy function of (operands..., N) for a map body; named functions (sigmoid,
    softplus) bring their own stable numpy implementation as ``.numpy``."""
    named = {type(f).__name__: type(f).numpy for f in body.expr.atoms(sp.Function) if hasattr(type(f), "numpy")}
    # sympy would print Heaviside as a Piecewise (1 at NaN); numpy's heaviside propagates NaN
    expr = body.expr.replace(sp.Heaviside, lambda x, h0=sp.S.Half: sp.Function("np_heaviside")(x, h0))
    named["np_heaviside"] = np.heaviside
    # terms in stored order and no docstring: sympy's term ordering and the docstring's text
    # cost more than the rest of lambdify on a long fused body
    printer = SciPyPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                            "user_functions": {}, "order": "none"})
    return sp.lambdify(list(body.variables) + [N], expr, modules=[named, "scipy", "numpy"], printer=printer,
                       docstring_limit=0)


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


@translates(Gather)
def _gather(step, env, out, n):
    return env[step.src][env[step.rows]]


@lru_cache(maxsize=256)
def _rule_functions(rules, names, hyper_names):
    symbols = sp.symbols("p g t", real=True) + tuple(sp.Symbol(s, real=True) for s in names) + \
        tuple(sp.Symbol(h, real=True) for h in hyper_names)
    return [(target, sp.lambdify(symbols, expr, modules="numpy")) for target, expr in rules]


def apply_rules(rules, names, hyper_names, p, g, state, t, hyper):
    """{target: new value} of an optimizer's rules applied in order to arrays ``p``, ``g`` and
    ``state`` (in the order of ``names``), with the step number ``t`` and the hyperparameters
    ``hyper`` as Python numbers (so float32 arrays compute in float32, as numpy does).

    >>> import sympy as sp
    >>> p_, g_, lr = sp.symbols("p g lr", real=True)
    >>> apply_rules((("p", p_ - lr * g_),), (), ("lr",), np.ones(2), np.ones(2), (), 1, (0.5,))["p"]
    array([0.5, 0.5])
    """
    values = {"p": p, **dict(zip(names, state))}
    for target, fn in _rule_functions(tuple(rules), tuple(names), tuple(hyper_names)):
        values[target] = fn(values["p"], g, t, *(values[s] for s in names), *hyper)
    return values


@translates(Update)
def _update(step, env, out, n):
    hyper = env[step.hyper]
    p, g = env[step.out], env[step.grad]
    state = [env[s] for s in step.state]
    new = apply_rules(step.rules, step.names, step.hyper_names, p, g, state, int(hyper[0]),
                      [float(v) for v in hyper[1:]])
    written = [("p", p)] + [(s, a) for s, a in zip(step.names, state)]
    written = [(target, a) for target, a in written if target in new]
    env[step.check][step.index] = float(np.sum(g * 0.0)) + sum(float(np.sum(np.asarray(new[t]) * 0.0))
                                                             for t, _ in written)
    for target, array in written:
        array[...] = new[target]
    return p


@translates(SquaredNorms)
def _squared_norms(step, env, out, n):
    h = env[step.out]
    for i, g in enumerate(step.grads):
        g = np.asarray(env[g], dtype=np.float64).reshape(-1)
        h[step.offset + i] = float(np.dot(g, g))
    h[step.offset + len(step.grads)] = float(np.sum(h[step.offset:step.offset + len(step.grads)]))
    return h


@translates(View)
def _view(step, env, out, n):
    base = np.ascontiguousarray(env[step.x]).reshape(-1)
    offset = int(sp.sympify(step.offset).subs(N, n))
    strides = [int(sp.sympify(s).subs(N, n)) * base.itemsize for s in step.strides]
    return np.lib.stride_tricks.as_strided(base[offset:], concrete_shape(out.shape, n), strides, writeable=False)


def _windows(x, kernel, stride):
    """(..., *out, *kernel) view of the windows of x's trailing axes."""
    d = len(kernel)
    view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=tuple(range(x.ndim - d, x.ndim)))
    return view[(Ellipsis,) + tuple(slice(None, None, s) for s in stride) + (slice(None),) * d]


def _padded(x, padding):
    if not any(padding):
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - len(padding)) + [(p, p) for p in padding])


@translates(Conv)
def _conv(step, env, out, n):
    a, b = env[step.a], env[step.b]
    shape = concrete_shape(out.shape, n)
    dtype = np.dtype(out.dtype)
    if step.mode == "forward":  # im2col as a view, one tensordot
        d = b.ndim - 2
        cols = _windows(_padded(a, step.padding), b.shape[2:], step.stride)    # (N, C, *Y, *K)
        y = np.tensordot(cols, b, axes=([1] + list(range(2 + d, 2 + 2 * d)), list(range(1, 2 + d))))
        return np.ascontiguousarray(np.moveaxis(y, -1, 1), dtype=dtype)        # (N, *Y, O) -> (N, O, *Y)
    if step.mode == "weight":
        d = b.ndim - 2
        kernel = shape[2:]
        cols = _windows(_padded(a, step.padding), kernel, step.stride)         # (N, C, *Y, *K)
        spatial = list(range(2, 2 + d))
        return np.tensordot(b, cols, axes=([0] + spatial, [0] + spatial)).astype(dtype, copy=False)
    # input: each δ times the kernel, added back at the windows it came from (col2im)
    d = b.ndim - 2
    cols = np.tensordot(a, b, axes=([1], [0]))                                 # (N, *Y, C, *K)
    full = np.zeros((shape[0], shape[1]) + tuple(s + 2 * p for s, p in zip(shape[2:], step.padding)), dtype=dtype)
    for k in np.ndindex(*b.shape[2:]):
        target = full[(Ellipsis,) + tuple(slice(ki, ki + (c - 1) * s + 1, s)
                                          for ki, s, c in zip(k, step.stride, a.shape[2:]))]
        target += np.moveaxis(cols[(Ellipsis,) + k], -1, 1)
    crop = (Ellipsis,) + tuple(slice(p, p + s) for p, s in zip(step.padding, shape[2:]))
    return np.ascontiguousarray(full[crop])


def _first_argmax(windows, d):
    flat = windows.reshape(windows.shape[:windows.ndim - d] + (-1,))
    return flat, np.argmax(flat, axis=-1)


@translates(Pool)
def _pool(step, env, out, n):
    d = len(step.kernel)
    shape = concrete_shape(out.shape, n)
    dtype = np.dtype(out.dtype)
    if step.mode in ("max", "avg"):
        flat = _windows(env[step.ins[0]], step.kernel, step.stride)
        flat = flat.reshape(flat.shape[:flat.ndim - d] + (-1,))
        return (np.max(flat, axis=-1) if step.mode == "max" else np.mean(flat, axis=-1)).astype(dtype, copy=False)
    if step.mode == "pick":
        flat, first = _first_argmax(_windows(env[step.ins[0]], step.kernel, step.stride), d)
        cflat, _ = _first_argmax(_windows(env[step.ins[1]], step.kernel, step.stride), d)
        return np.take_along_axis(cflat, first[..., None], axis=-1)[..., 0]
    g = env[step.ins[-1]]
    result = np.zeros(shape, dtype=dtype)
    count = g.shape[-d:]
    if step.mode == "unpool_max":
        _, first = _first_argmax(_windows(env[step.ins[0]], step.kernel, step.stride), d)
    for j, k in enumerate(np.ndindex(*step.kernel)):
        target = result[(Ellipsis,) + tuple(slice(ki, ki + (c - 1) * s + 1, s)
                                            for ki, s, c in zip(k, step.stride, count))]
        target += g / np.prod(step.kernel) if step.mode == "unpool_avg" else np.where(first == j, g, 0)
    return result
