"""The JAX backend: the kernel program traced into one XLA computation with jax.numpy.

``build(program)`` returns ``run(arrays, n)`` like every backend, jitted once per set of
shapes (jax's own cache); ``run.pure`` is the same computation as a pure function of jax
arrays, to be used inside a user's own jitted JAX code.  ``build_training(tp, devices)``
is the fused training loop as ``lax.scan`` over epochs and minibatches, sharded over
devices (``training.py``).  Each step kind is one method of ``steps.Steps``.

float64 programs run with JAX's x64 mode switched on for that computation only
(``jax.enable_x64``, a thread-local context): the user's process keeps its own setting.
Without x64, int64 arguments (labels, row numbers) are passed as int32.

JAX is optional: this package imports jax, so ``codegen.backend("jax")`` raises
ImportError without it; ``why_unavailable()`` says so first, without importing it.

>>> import sympy as sp, numpy as np
>>> from codegen.program import Program, Buffer, Map
>>> x = sp.Symbol("x0", real=True)
>>> p = Program({"a": Buffer("a", (2,), "float64", "input"), "t0": Buffer("t0", (2,), "float64", "temp")},
...             (Map("t0", ("a",), sp.Lambda(x, x + 1)),), ("a",), {}, ("t0",))
>>> build(p)({"a": np.array([1.0, 2.0])}, 1)
[array([2., 3.])]
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from codegen.jax_backend.steps import N, Steps

#: what to install, for the error a user sees when jax is missing
INSTALL = ("pip install 'symbackprop[jax]' (CPU), or JAX for your accelerator as its documentation says, "
           "e.g. pip install 'jax[cuda12]' for NVIDIA GPUs")


def needs_x64(program):
    """True when ``program`` computes in float64 (then it runs with JAX's x64 mode on); the
    training driver's own float64 buffers (step number, hyperparameters, checks) do not count."""
    return any(b.dtype == "float64" and b.role != "control" for b in program.buffers.values())


def x64(on):
    """A context running jax with 64-bit types when ``on`` (this thread only), else nothing."""
    if not on:
        return contextlib.nullcontext()
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # jax before 0.6
    return enable_x64()


def host_dtype(dtype, wide):
    """The dtype an array of ``dtype`` is handed to jax as: without x64 (``wide`` false),
    64-bit types become 32-bit ones (jax would do it with a warning).

    >>> host_dtype("int64", False), host_dtype("float64", False), host_dtype("int64", True)
    (dtype('int32'), dtype('float32'), dtype('int64'))
    """
    dtype = np.dtype(dtype)
    if not wide and dtype in (np.int64, np.float64):
        return np.dtype(np.int32 if dtype == np.int64 else np.float32)
    return dtype


def device_consts(program, wide):
    """The program's constants as numpy arrays in the dtypes jax takes (``host_dtype``); a
    dropout seed becomes the uint32 pair [hi, lo] the mask step reads (``random.seed_pair``)."""
    from codegen.jax_backend.random import seed_pair
    from codegen.program import DropoutMask
    seeds = {s.seed for s in program.steps if isinstance(s, DropoutMask)}
    return {c: seed_pair(v) if c in seeds else np.asarray(v, dtype=host_dtype(np.asarray(v).dtype, wide))
            for c, v in program.consts.items()}


def batch_axis(buffers):
    """(position, axis) of the first argument whose shape has the bare batch symbol ``N``
    at ``axis`` (it gives the batch size inside a trace), or None."""
    for i, b in enumerate(buffers):
        for axis, d in enumerate(b.shape):
            if d == N:
                return i, axis
    return None


def pure_function(program):
    """``f(args: dict, consts: dict) -> [outputs]``: the program as a function of jax arrays
    (the batch size read from the shapes)."""
    steps = Steps(program)
    where = batch_axis([program.buffers[a] for a in program.args])

    def f(args, consts):
        n = 1 if where is None else args[program.args[where[0]]].shape[where[1]]
        env = steps.run({**consts, **args}, n)
        return [env[name] for name in program.outputs]

    return f


def build(program):
    """A function running ``program``: ``run(arrays, n) -> [output arrays]`` (numpy in and out)."""
    wide = needs_x64(program)
    pure = pure_function(program)
    jitted = jax.jit(pure)
    kinds = {a: host_dtype(program.buffers[a].dtype, wide) for a in program.args}
    out_dtypes = [np.dtype(program.buffers[o].dtype) for o in program.outputs]
    held = {}

    def consts():
        if "consts" not in held:  # on the device once, in the dtypes x64 allows
            held["consts"] = {c: jnp.asarray(v) for c, v in device_consts(program, wide).items()}
        return held["consts"]

    def run(arrays, n):
        with x64(wide):
            args = {a: np.asarray(arrays[a], dtype=kinds[a]) for a in program.args}
            out = jitted(args, consts())
            return [np.array(o, dtype=d, copy=True) for o, d in zip(out, out_dtypes)]

    def with_consts(args):  # inside a user's trace the constants become constants of it
        return pure(args, {c: jnp.asarray(v) for c, v in device_consts(program, jax.config.jax_enable_x64).items()})

    run.pure = with_consts
    run.x64 = wide
    run.jitted = jitted
    return run


def build_training(tp, devices=None):
    """The fused training loop of a ``TrainingProgram`` over ``devices`` (see ``training.py``)."""
    from codegen.jax_backend.training import build_training as build_loop
    return build_loop(tp, devices)


__all__ = ["build", "build_training", "needs_x64", "x64", "INSTALL"]
