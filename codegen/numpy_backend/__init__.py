"""The reference backend: runs a kernel program step by step with numpy.

Readable and with no compile time; the other backends are tested against it.

>>> import sympy as sp, numpy as np
>>> from codegen.program import Program, Buffer, Map
>>> x = sp.Symbol("x0", real=True)
>>> p = Program({"a": Buffer("a", (2,), "float64", "input"), "t": Buffer("t", (2,), "float64", "temp")},
...             (Map("t", ("a",), sp.Lambda(x, x + 1)),), ("a",), {}, ("t",))
>>> build(p)({"a": np.array([1.0, 2.0])}, 1)
[array([2., 3.])]
"""

import numpy as np

from codegen.numpy_backend.steps import run_step


def build(program):
    """A function running ``program``: ``run(arrays, n) -> [output arrays]``."""

    def run(arrays, n):
        env = dict(program.consts)
        env.update(arrays)
        with np.errstate(all="ignore"):
            for step in program.steps:
                env[step.out] = run_step(step, env, program.buffers[step.out], n)
        # outputs are fresh, writeable arrays the caller owns
        return [np.array(env[name], dtype=program.buffers[name].dtype, copy=True) for name in program.outputs]

    return run


def build_training(tp):
    """The training program's driver: ``train(X, Y, params, state, hyper, perm, t0, bs, limit=-1,
    norms=None) -> (steps, losses, status)``, the same loop and status as the compiled backends'
    (see the numba backend's ``training.py``), running each step's translations with numpy;
    ``norms`` (epochs × params, optional) receives each epoch's mean gradient norms."""
    step = tp.step

    def train(X, Y, params, state, hyper, perm, t0, bs, limit=-1, norms=None):
        env = dict(step.consts)
        hyper_buf = np.zeros(step.buffers[tp.hyper].shape[0])
        hyper_buf[1:1 + len(hyper)] = hyper
        env.update({tp.x: X, tp.y: Y, tp.hyper: hyper_buf, tp.check: np.zeros(len(params))})
        e0 = hyper_buf[tp.epoch_slot] if tp.epoch_slot is not None else 0.0
        record = tp.norms_slot is not None and norms is not None
        acc = np.zeros(len(params))
        env.update(zip(tp.params, params))
        env.update({name: s for names, group in zip(tp.state, state) for name, s in zip(names, group)})
        ntot, steps = perm.shape[1], 0
        losses = np.zeros(perm.shape[0])
        with np.errstate(all="ignore"):
            for epoch in range(perm.shape[0]):
                total = 0.0
                if tp.epoch_slot is not None:
                    hyper_buf[tp.epoch_slot] = e0 + epoch
                for start in range(0, ntot, bs):
                    if steps == limit:
                        return steps, losses, None
                    env[tp.rows] = perm[epoch, start:start + bs]
                    n = len(env[tp.rows])
                    env[tp.hyper][0] = t0 + steps + 1
                    for s in step.steps:
                        env[s.out] = run_step(s, env, step.buffers[s.out], n)
                    loss = float(env[tp.loss])
                    bad = [0] if not np.isfinite(loss) else \
                        [1 + i for i, c in enumerate(env[tp.check]) if not np.isfinite(c)]
                    if bad:
                        return steps, losses, (epoch, start // bs, bad[0])
                    total += loss * n
                    steps += 1
                    if record:
                        acc += np.sqrt(hyper_buf[tp.norms_slot:tp.norms_slot + len(params)])
                losses[epoch] = total / ntot
                if record:
                    norms[epoch] = acc / -(-ntot // bs)
                    acc[:] = 0.0
        return steps, losses, None

    return train

from codegen.numpy_backend import random as _random  # noqa: E402,F401 (registers the dropout mask's translation)
