"""The fused training loop as one numba function: epochs × minibatches × the training
program's step (gather, forward, backward, update: ``symbackprop.lower.training``), with no
Python between steps.  The step is the same generated code as any kernel program's; this
module only writes the driver around it.

Minibatches come from a permutation array made by the caller (seeded, one row per
epoch), so every backend visits the same batches in the same order; a last partial
batch is a smaller ``n``.

Updates are in place, each writing its param's finiteness sum into ``check``, so a step
whose loss, gradient or updated values are NaN/inf stops the loop with (epoch, step, what)
in ``status``: ``what`` is 0 for the loss, 1 + i for param i.  That step has already been
applied; the caller, which keeps the params from before its call, restores them and runs
the loop again with ``limit`` (the number of steps to run, −1 for all) set to the steps
that were finite, so the params end at their last finite values.  (Measured on W2: a second
set of param buffers written instead, so that nothing needs replaying, cost 10–15 % in
float32, as numba's loops then vectorised worse.)
"""

import numpy as np
import sympy as sp

from codegen.numba_backend import CALLEE_OPTIONS, ENTRY_OPTIONS, cache, flat, header
from codegen.layout import PerThread, arena_sizes
from codegen.numba_backend.emit import Emitter
from codegen.numba_backend.sharing import SharedSteps
from codegen.program import comment


def training_source(tp):
    """numba source of ``train(<step args>, perm, step0, bs, limit, <consts>, <arenas>, losses,
    status, norms, acc) -> steps done`` for the training program ``tp`` (``acc``: zeros, one
    per param: the per-epoch sums of gradient norms)."""
    step = tp.step
    em = Emitter(step)
    plan = SharedSteps(em)
    args = [em.var(a) for a in step.args if a != tp.rows]  # the rows are a view of perm, made per step
    consts = [em.var(c) for c in step.consts]
    arenas = [f"arena_{d}" for d in step.slot_sizes]
    params = args + ["perm", "step0", "bs", "limit"] + consts + arenas + ["losses", "status", "norms", "acc"]
    rows, hyper, check, loss = em.var(tp.rows), em.var(tp.hyper), em.var(tp.check), em.var(tp.loss)
    P = len(tp.params)
    epoch_lines = [] if tp.epoch_slot is None else [f"    {hyper}[{tp.epoch_slot}] = e0 + epoch"]
    body = ["ntot = perm.shape[1]",
            "steps = 0",
            f"e0 = {hyper}[{tp.epoch_slot if tp.epoch_slot is not None else 0}]",
            "for epoch in range(perm.shape[0]):",
            "    total = 0.0"] + epoch_lines + [
            "    for start in range(0, ntot, bs):",
            "        if steps == limit:",
            "            return steps",
            "        n = min(bs, ntot - start)",
            "        " + em.nf_line(),
            f"        {rows} = perm[epoch, start:start + n]",
            f"        {hyper}[0] = step0 + steps + 1"]
    parts, steps = plan.split(CALLEE_OPTIONS, arenas)
    inner = [f"loss = {loss}[0]",
             "what = -1 if math.isfinite(loss) else 0",
             f"for i in range({len(tp.params)}):",
             f"    if what < 0 and not math.isfinite({check}[i]):",
             "        what = 1 + i",
             "if what >= 0:",
             "    status[0] = epoch",
             "    status[1] = start // bs",
             "    status[2] = what",
             "    return steps",
             "total += loss * n",
             "steps += 1"]
    if tp.norms_slot is not None:  # the gradient-flow record: each epoch's mean of ‖g‖ per param
        inner += [f"for i in range({P}):",
                  f"    acc[i] += math.sqrt({hyper}[{tp.norms_slot} + i])"]
    if parts:  # the driver's own lines name a few temporaries (the loss)
        steps = plan.driver_arenas("\n".join(inner)) + steps
    inner = steps + inner
    body += ["        " + line for line in inner]
    body += ["    losses[epoch] = total / ntot"]
    if tp.norms_slot is not None:
        body += ["    if norms.shape[0] > 0:",
                 f"        for i in range({P}):",
                 "            norms[epoch, i] = acc[i] / ((ntot + bs - 1) // bs)",
                 "            acc[i] = 0"]
    body += ["return steps"]
    lines = [f"@njit({ENTRY_OPTIONS})", f"def train({', '.join(params)}):"] + ["    " + line for line in body]
    doc = ", ".join(f"{em.var(a)}={a}" for a in step.args)
    return header(em) + plan.functions(CALLEE_OPTIONS) + parts + f"# arguments: {comment(doc)}\n" + "\n".join(lines) + "\n"


def build_training(tp):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs, limit=-1, norms=None) -> (steps,
    losses, status)`` running the fused loop; ``params``/``state`` are lists of arrays updated in
    place; ``status`` is None or (epoch, step, what), see the module doc; ``norms`` (epochs ×
    params, float64, optional) receives each epoch's mean gradient norms."""
    source = training_source(tp)
    kernel = cache.CachedKernel(source, "train")
    step = tp.step
    consts = [flat(step.consts[c]) for c in step.consts]
    scratch = PerThread()

    def buffers(n_rows):
        arenas = [np.empty(max(s, 1), dtype=d) for d, s in arena_sizes(step, n_rows).items()]
        hyper = np.zeros(step.buffers[tp.hyper].shape[0])
        return arenas, hyper, np.zeros(len(tp.params)), None

    def train(X, Y, params, state, hyper, perm, t0, bs, limit=-1, norms=None):
        n_rows = min(bs, perm.shape[1])
        arenas, hyper_buf, check, rows = scratch.get(n_rows, lambda: buffers(n_rows))
        hyper_buf[1:1 + len(hyper)] = hyper
        norms = np.zeros((0, len(tp.params))) if norms is None else norms
        values = {tp.x: flat(X), tp.y: flat(Y), tp.rows: rows, tp.hyper: hyper_buf, tp.check: check}
        values.update({name: p.reshape(-1) for name, p in zip(tp.params, params)})
        values.update({name: s.reshape(-1) for names, group in zip(tp.state, state) for name, s in zip(names, group)})
        losses = np.zeros(perm.shape[0])
        status = np.full(3, -1, dtype=np.int64)
        acc = np.zeros(len(tp.params))  # made here: np.zeros in the kernel cost 0.2 s of its cold compile
        steps = kernel(*[values[a] for a in step.args if a != tp.rows], perm, t0, bs, limit, *consts, *arenas,
                       losses, status, norms, acc)
        return int(steps), losses, tuple(int(v) for v in status) if status[0] >= 0 else None

    train.source = source
    train.kernel = kernel
    return train


__all__ = ["build_training", "training_source"]
