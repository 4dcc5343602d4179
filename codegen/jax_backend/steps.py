"""One jax.numpy translation per kernel-program step: ``Steps`` has one method per step kind,
named after it (``Map`` -> ``map``, ``ScatterAdd`` -> ``scatter_add``), mirroring the numpy
reference backend (``codegen.numpy_backend.steps``) but functional: a method returns the new
value of the buffer its step writes (``Update``: a dict of every buffer it writes), nothing
is written in place.  A new step kind is one more method here.

Shapes are concrete when a step is traced (``n`` is a Python int), so every index
computation below is static numpy and only the data flows through jax.

>>> import numpy as np, sympy as sp
>>> from codegen.program import Program, Buffer, Map
>>> x = sp.Symbol("x0", real=True)
>>> p = Program({"a": Buffer("a", (2,), "float64", "input"), "t": Buffer("t", (2,), "float64", "temp")},
...             (Map("t", ("a",), sp.Lambda(x, x + 1)),), ("a",), {}, ("t",))
>>> import jax.numpy as jnp
>>> env = Steps(p).run({"a": jnp.array([1.0, 2.0])}, 1)
>>> [float(v) for v in env["t"]]
[2.0, 3.0]
"""

import itertools
import re
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from jax import lax
from sympy.printing.numpy import JaxPrinter

N = sp.Symbol("N", integer=True, positive=True)

#: products and convolutions at full precision (no TF32/bf16 passes on accelerators): the
#: backend is held to the numpy reference at 1e-10 in float64 and 1e-5 in float32
PRECISION = lax.Precision.HIGHEST


@lru_cache(maxsize=1024)
def concrete_shape(shape, n):
    """Static shape with the batch symbol replaced by ``n``.

    >>> concrete_shape((N, 3), 5)
    (5, 3)
    """
    return tuple(int(sp.sympify(d).subs(N, n)) for d in shape)


def _heaviside(x, h0):
    """numpy's heaviside: NaN stays NaN (sympy prints Heaviside as a select that gives 1 there)."""
    return jnp.where(jnp.isnan(x), jnp.nan, jnp.where(x < 0, 0.0, jnp.where(x > 0, 1.0, h0)))


def _sigmoid(z):
    return jax.nn.sigmoid(z)


def _softplus(z):
    return jnp.logaddexp(0.0, z)


#: named scalar functions (symbackprop.graph.scalar) with their stable jax forms; a user's
#: named sympy function may bring its own as a ``jax`` staticmethod
NAMED = {"sigmoid": _sigmoid, "softplus": _softplus, "jnp_heaviside": _heaviside}


def _special():
    """Special functions the printer may name, from jax.scipy (sympy's own jax namespace
    leaves some, like erf, to Python's math module, which cannot take arrays)."""
    import jax.scipy.special as jsp
    names = ("erf", "erfc", "gamma", "gammaln", "loggamma", "digamma", "expit", "logit")
    table = {name: getattr(jsp, name) for name in names if hasattr(jsp, name)}
    table["loggamma"] = jsp.gammaln
    return table


def _printer():
    return JaxPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                       "user_functions": {}})


@lru_cache(maxsize=4096)
def body_function(body):
    """jax function of (operands..., N) for a map body (a ``sympy.Lambda``)."""
    named = dict(NAMED)
    for f in body.expr.atoms(sp.Function):
        fn = getattr(type(f), "jax", None)
        if fn is not None:
            named[type(f).__name__] = fn
    expr = body.expr.replace(sp.Heaviside, lambda x, h0=sp.S.Half: sp.Function("jnp_heaviside")(x, h0))
    return sp.lambdify(list(body.variables) + [N], expr, modules=[named, _special(), "jax"], printer=_printer())


@lru_cache(maxsize=256)
def rule_functions(rules, names, hyper_names):
    """[(target, jax function of (p, g, t, *state, *hyper))] of an optimizer's update rules."""
    symbols = sp.symbols("p g t", real=True) + tuple(sp.Symbol(s, real=True) for s in names) + \
        tuple(sp.Symbol(h, real=True) for h in hyper_names)
    return [(target, sp.lambdify(symbols, expr, modules=[NAMED, _special(), "jax"], printer=_printer()))
            for target, expr in rules]


def method_name(kind):
    """The ``Steps`` method translating a step kind: its class name in snake case.

    >>> method_name("ScatterAdd"), method_name("MatMul"), method_name("Map")
    ('scatter_add', 'matmul', 'map')
    """
    return {"MatMul": "matmul", "OneHot": "onehot"}.get(kind, re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower())


class Steps:
    """The jax translations of the steps of one program (one method per step kind)."""

    def __init__(self, program):
        self.program = program
        self.buffers = program.buffers

    # ---- driving ----------------------------------------------------------------------
    def run(self, env, n, steps=None):
        """Run ``steps`` (default: all of the program's) on ``env`` ({name: array}) for batch
        size ``n``; returns the environment with every written buffer."""
        env = dict(env)
        for step in self.program.steps if steps is None else steps:
            value = self.apply(step, env, n)
            env.update(value if isinstance(value, dict) else {step.out: value})
        return env

    def apply(self, step, env, n):
        """The value(s) ``step`` writes, from the arrays in ``env``."""
        method = getattr(self, method_name(type(step).__name__), None)
        if method is None:
            raise NotImplementedError(f"jax backend: no translation for {type(step).__name__} "
                                      f"(add a method {method_name(type(step).__name__)} to Steps)")
        return method(step, env, n)

    def dtype(self, name):
        from codegen.jax_backend import host_dtype
        return jnp.dtype(host_dtype(self.buffers[name].dtype, jax.config.jax_enable_x64))

    def shape(self, name, n):
        return concrete_shape(tuple(self.buffers[name].shape), n)

    # ---- one method per step kind -------------------------------------------------------
    def map(self, step, env, n):
        value = body_function(step.body)(*(env[i] for i in step.ins), n)
        return jnp.broadcast_to(jnp.asarray(value).astype(self.dtype(step.out)), self.shape(step.out, n))

    def matmul(self, step, env, n):
        a, b = env[step.a], env[step.b]
        a = a.T if step.trans_a else a
        b = b.T if step.trans_b else b
        return jnp.matmul(a, b, precision=PRECISION).astype(self.dtype(step.out))

    def reduce(self, step, env, n):
        x = env[step.x]
        if step.kind == "sum":
            value = jnp.sum(x, axis=step.axes)
        elif step.kind == "max":
            value = jnp.max(x, axis=step.axes)
        else:  # as numpy's: shift by the max when it is finite
            m = jnp.max(x, axis=step.axes, keepdims=True)
            m = jnp.where(jnp.isfinite(m), m, 0)
            value = jnp.log(jnp.sum(jnp.exp(x - m), axis=step.axes)) + jnp.squeeze(m, axis=step.axes)
        return value.astype(self.dtype(step.out))

    def transpose(self, step, env, n):
        return jnp.transpose(env[step.x], step.perm)

    def broadcast(self, step, env, n):
        return jnp.broadcast_to(env[step.x], self.shape(step.out, n))

    def reshape(self, step, env, n):
        return jnp.reshape(env[step.x], self.shape(step.out, n))

    def onehot(self, step, env, n):
        return (env[step.labels][..., None] == jnp.arange(step.k)).astype(self.dtype(step.out))

    def slice(self, step, env, n):
        x = env[step.x]
        shape = self.shape(step.out, n)
        index = []
        for axis, (b, s, k) in enumerate(zip(step.begin, step.step, step.keep)):
            if not k:
                index.append(b)
                continue
            count = shape[sum(step.keep[:axis])]
            stop = b + count * s
            index.append(slice(b, stop if stop >= 0 else None, s))
        return x[tuple(index)]

    def view(self, step, env, n):
        base = jnp.ravel(env[step.x])
        offset = int(sp.sympify(step.offset).subs(N, n))
        shape = self.shape(step.out, n)
        index = np.full(shape, offset, dtype=np.int64)
        for axis, stride in enumerate(step.strides):
            stride = int(sp.sympify(stride).subs(N, n))
            index += (np.arange(shape[axis]) * stride).reshape((-1,) + (1,) * (len(shape) - axis - 1))
        return jnp.take(base, jnp.asarray(index.astype(np.int32 if base.size < 2 ** 31 else np.int64)))

    def pad(self, step, env, n):
        x = env[step.x]
        shape = self.shape(step.out, n)
        config = [(lo, size - (lo + (d - 1) * (i + 1) + 1) if d else size - lo, i)
                  for lo, i, d, size in zip(step.low, step.interior, x.shape, shape)]
        dtype = self.dtype(step.out)
        return lax.pad(x.astype(dtype), jnp.asarray(step.value, dtype=dtype), config)

    def concat(self, step, env, n):
        return jnp.concatenate([env[i] for i in step.ins], axis=step.axis).astype(self.dtype(step.out))

    def take(self, step, env, n):
        return jnp.take(env[step.x], env[step.indices], axis=step.axis)

    def scatter_add(self, step, env, n):
        g, idx = env[step.g], env[step.indices]
        shape = self.shape(step.out, n)
        moved = jnp.moveaxis(jnp.zeros(shape, dtype=self.dtype(step.out)), step.axis, 0)
        rows = jnp.moveaxis(g.reshape(g.shape[:step.axis] + (-1,) + g.shape[step.axis + idx.ndim:]), step.axis, 0)
        return jnp.moveaxis(moved.at[jnp.ravel(idx)].add(rows), 0, step.axis)

    def gather(self, step, env, n):
        return jnp.take(env[step.src], env[step.rows], axis=0)

    def update(self, step, env, n):
        hyper = env[step.hyper]
        dtype = self.dtype(step.out)
        p, g = env[step.out], env[step.grad]
        values = {"p": p, **{s: env[b] for s, b in zip(step.names, step.state)}}
        t = hyper[0].astype(dtype)
        hyper_values = [hyper[1 + j].astype(dtype) for j in range(len(step.hyper_names))]
        for target, fn in rule_functions(tuple(step.rules), tuple(step.names), tuple(step.hyper_names)):
            values[target] = jnp.asarray(fn(values["p"], g, t, *(values[s] for s in step.names),
                                            *hyper_values)).astype(dtype)
        written = {step.out: values["p"]}
        written.update({b: values[s] for s, b in zip(step.names, step.state)})
        check = jnp.sum(g * 0.0) + sum(jnp.sum(v * 0.0) for v in written.values())  # 0, or NaN
        written[step.check] = env[step.check].at[step.index].set(check.astype(env[step.check].dtype))
        return written

    def squared_norms(self, step, env, n):
        h = env[step.out]
        squares = [jnp.sum(jnp.square(jnp.ravel(env[g]).astype(h.dtype))) for g in step.grads]
        h = h.at[step.offset:step.offset + len(squares)].set(jnp.stack(squares))
        return h.at[step.offset + len(squares)].set(sum(squares[1:], squares[0]) if squares else 0)

    def dropout_mask(self, step, env, n):
        """The mask of ``random.py``; t is the driver's integer step number when it put one in
        ``env`` under (hyper, "t"), else hyper[0]; the seed is a uint32 pair (``seed_pair``)."""
        from codegen.jax_backend import random
        t = env.get((step.hyper, "t"))
        t = random.step_pair(env[step.hyper][0] if t is None else t)
        key = random.step_key(random.pair(env[step.seed]), t, step.stream)
        shape = self.shape(step.out, n)
        flat = random.mask_values(key, int(np.prod(shape, dtype=np.int64)), step.threshold, step.scale,
                                  self.dtype(step.out))
        return flat.reshape(shape)

    def conv(self, step, env, n):
        a, b = env[step.a], env[step.b]
        d = len(step.stride)
        dtype = self.dtype(step.out)
        padding = [(p, p) for p in step.padding]

        def forward(x, w):
            spatial = "DHW"[-d:] if d <= 3 else None
            numbers = ("NC" + spatial, "OI" + spatial, "NC" + spatial)
            return lax.conv_general_dilated(x, w, window_strides=step.stride, padding=padding,
                                            dimension_numbers=numbers, precision=PRECISION)

        if step.mode == "forward":
            return forward(a, b).astype(dtype)
        shape = self.shape(step.out, n)
        if step.mode == "input":  # the transpose of the forward map in x, applied to δ = a
            _, pull = jax.vjp(lambda x: forward(x, b), jnp.zeros(shape, dtype))
        else:                     # in w, applied to δ = b
            _, pull = jax.vjp(lambda w: forward(a, w), jnp.zeros(shape, dtype))
            a = b
        return pull(a.astype(dtype))[0].astype(dtype)

    def pool(self, step, env, n):
        d = len(step.kernel)
        dtype = self.dtype(step.out)
        x = env[step.ins[0]]
        if step.mode in ("max", "avg"):
            dims = (1,) * (x.ndim - d) + tuple(step.kernel)
            strides = (1,) * (x.ndim - d) + tuple(step.stride)
            if step.mode == "max":
                return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, "VALID").astype(dtype)
            total = lax.reduce_window(x, jnp.zeros((), x.dtype), lax.add, dims, strides, "VALID")
            return (total / np.prod(step.kernel)).astype(dtype)
        if step.mode == "unpool_avg":
            g = env[step.ins[-1]] / np.prod(step.kernel)
            return self._scatter_windows([g] * int(np.prod(step.kernel)), step, n).astype(dtype)
        count = env[step.ins[-1]].shape[-d:] if step.mode == "unpool_max" else self.shape(step.out, n)[-d:]
        first = jnp.argmax(jnp.stack(self._windows(x, step, count), axis=-1), axis=-1)  # the FIRST argmax
        if step.mode == "pick":
            picked = jnp.stack(self._windows(env[step.ins[1]], step, count), axis=-1)
            return jnp.take_along_axis(picked, first[..., None], axis=-1)[..., 0].astype(dtype)
        g = env[step.ins[1]]
        parts = [jnp.where(first == j, g, 0) for j in range(int(np.prod(step.kernel)))]
        return self._scatter_windows(parts, step, n).astype(dtype)

    # ---- window helpers -------------------------------------------------------------------
    @staticmethod
    def _windows(x, step, count):
        """For each kernel offset (row-major), the strided slice of x's trailing axes it reads
        at every output position: a list of arrays of x's leading shape + ``count``."""
        d = len(step.kernel)
        lead = x.ndim - d
        out = []
        for k in itertools.product(*(range(s) for s in step.kernel)):
            start = (0,) * lead + tuple(k)
            limit = x.shape[:lead] + tuple(ki + (c - 1) * s + 1 for ki, c, s in zip(k, count, step.stride))
            out.append(lax.slice(x, start, limit, (1,) * lead + tuple(step.stride)))
        return out

    def _scatter_windows(self, parts, step, n):
        """The sum over kernel offsets j of ``parts[j]`` placed at the input positions offset j
        reads (the adjoint of ``_windows``), as pads: no scatter."""
        shape = self.shape(step.out, n)
        d = len(step.kernel)
        total = None
        for part, k in zip(parts, itertools.product(*(range(s) for s in step.kernel))):
            lead = part.ndim - d
            config = [(0, 0, 0)] * lead
            for ki, c, s, size in zip(k, part.shape[lead:], step.stride, shape[lead:]):
                config.append((ki, size - (ki + (c - 1) * s + 1), s - 1))
            placed = lax.pad(part, jnp.zeros((), part.dtype), config)
            total = placed if total is None else total + placed
        return total

