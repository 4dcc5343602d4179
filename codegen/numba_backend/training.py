"""The fused training loop as one numba function: epochs × minibatches × (gather, forward,
backward, optimizer update), with no Python between steps.

Minibatches come from a permutation array made by the caller (seeded, one row per
epoch), so every backend visits the same batches in the same order; a last partial
batch is a smaller ``n``.  A non-finite loss or gradient stops the loop and reports the
epoch and step in ``status``; the finiteness test of the gradients is a running sum
folded into the update loops, so it costs nothing measurable.
"""

import numpy as np
import sympy as sp

from codegen.numba_backend import JIT_OPTIONS, cache, flat, header
from codegen.layout import PerThread, minibatch_buffers
from codegen.numba_backend.emit import Emitter, code
from codegen.numba_backend.printer import body_lines


def _row(shape):
    """Elements per sample of a buffer whose first axis is the batch."""
    size = sp.Integer(1)
    for d in shape[1:]:
        size *= d
    return size


def training_source(tp):
    """numba source of ``train(...)`` for the training program ``tp``.

    Signature: ``train(X, Y, <params>, <state>, hyper, perm, step0, bs, xb, yb, <consts>,
    <arenas>, losses, status) -> steps done``.
    """
    step = tp.step
    em = Emitter(step)
    fx, fy = code(_row(step.buffers[tp.x].shape)), code(_row(step.buffers[tp.y].shape))
    pvars = [f"p{i}" for i in range(len(tp.params))]
    svars = [[f"s{i}_{j}" for j in range(len(tp.state))] for i in range(len(tp.params))]
    consts = [em.var(c) for c in step.consts]
    arenas = [f"arena_{d}" for d in step.slot_sizes]
    params = ["X", "Y", *pvars, *[s for group in svars for s in group], "hyper", "perm", "step0", "bs", "xb", "yb",
              *consts, *arenas, "losses", "status"]
    body = ["ntot = perm.shape[1]",
            "steps = 0",
            "for epoch in range(perm.shape[0]):",
            "    total = 0.0",
            "    for start in range(0, ntot, bs):",
            "        n = min(bs, ntot - start)",
            "        " + em.nf_line(),
            "        for r in range(n):",
            "            src = perm[epoch, start + r]",
            f"            for c in range({fx}):",
            f"                xb[r*{fx} + c] = X[src*{fx} + c]",
            f"            for c in range({fy}):",
            f"                yb[r*{fy} + c] = Y[src*{fy} + c]"]
    inner = []
    for i, name in enumerate(step.args):
        if name == tp.x:
            inner.append(f"a{i} = xb[:n*{fx}]")
        elif name == tp.y:
            inner.append(f"a{i} = yb[:n*{fy}]")
        elif name in tp.params:
            inner.append(f"a{i} = {pvars[tp.params.index(name)]}")
        else:
            raise ValueError(f"training step reads {name!r}, which is neither data nor a param")
    inner += em.arena_lines() + em.step_lines()
    loss_var = em.var(step.outputs[0])
    inner += [f"loss = {loss_var}[0]", "tt = np.float64(step0 + steps + 1)", "chk = 0.0"]
    for i, name in enumerate(tp.params):
        inner += _update_lines(tp, i, em.var(step.outputs[1 + i]), pvars[i], svars[i], em.dtype)
    inner += ["if not (math.isfinite(loss) and math.isfinite(chk)):",
              "    status[0] = epoch",
              "    status[1] = start // bs",
              "    return steps",
              "total += loss * n",
              "steps += 1"]
    body += ["        " + line for line in inner]
    body += ["    losses[epoch] = total / ntot", "return steps"]
    lines = [f"@njit({JIT_OPTIONS})", f"def train({', '.join(params)}):"] + ["    " + line for line in body]
    doc = ", ".join(f"p{i}={p}" for i, p in enumerate(tp.params))
    return header(em) + f"# params: {doc}\n" + "\n".join(lines) + "\n"


def _update_lines(tp, i, grad_var, pvar, svar, dtype):
    """The optimizer's update of param i: one flat loop, targets applied in order.

    ``hyper`` and the step count ``tt`` are float64: in a float32 kernel the hoisted scalars
    made of them are computed in float64 (as the numpy reference computes them from Python
    floats) and rounded to float32 once per step, so the loops compute in float32 only.
    """
    p, g, t = sp.symbols("p g t", real=True)
    idx = f"_u{i}"
    names = {p: f"{pvar}[{idx}]", g: f"{grad_var}[{idx}]", t: "tt"}
    names.update({sp.Symbol(s, real=True): f"{v}[{idx}]" for s, v in zip(tp.state, svar)})
    invariant = {t}
    for j, h in enumerate(tp.hyper):
        names[sp.Symbol(h, real=True)] = f"hyper[{j}]"
        invariant.add(sp.Symbol(h, real=True))
    wide = {sym: f"_h_{sym}" for sym in invariant}  # float32 copies, where a loop reads them
    lines, loop = [], []
    for k, (target, expr) in enumerate(tp.updates):
        # invariants depend on t and the hyperparameters only: the same for every param,
        # so they are computed once, before the first param's loop
        hoisted, inner, result = body_lines(expr, names, invariant, f"_h{k}_", dtype, wide)
        lines += [line for line in hoisted if line not in lines] if i == 0 else []
        loop += inner + [f"_n{i}_{target} = {result}"]
        names[sp.Symbol(target, real=True)] = f"_n{i}_{target}"
    # the first read of g also feeds the finiteness check
    loop = [f"chk += {grad_var}[{idx}]"] + loop
    loop += [f"{pvar}[{idx}] = _n{i}_p"] + [f"{v}[{idx}] = _n{i}_{s}" for s, v in zip(tp.state, svar)
                                           if any(target == s for target, _ in tp.updates)]
    return lines + [f"for {idx} in range({pvar}.size):"] + ["    " + line for line in loop]


def build_training(tp):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs, losses) -> (steps, status)``
    running the fused loop; ``params``/``state`` are lists of arrays updated in place."""
    source = training_source(tp)
    kernel = cache.CachedKernel(source, "train")
    step = tp.step
    consts = [flat(step.consts[c]) for c in step.consts]
    xdtype = np.dtype(step.buffers[tp.x].dtype)
    ydtype = np.dtype(step.buffers[tp.y].dtype)
    scratch = PerThread()

    def train(X, Y, params, state, hyper, perm, t0, bs):
        n_rows = min(bs, perm.shape[1])
        xb, yb, arenas = scratch.get(n_rows, lambda: minibatch_buffers(step, X, Y, n_rows, xdtype, ydtype))
        losses = np.zeros(perm.shape[0])
        status = np.full(2, -1, dtype=np.int64)
        steps = kernel(flat(X), flat(Y), *[p.reshape(-1) for p in params],
                       *[s.reshape(-1) for group in state for s in group], np.asarray(hyper, np.float64),
                       perm, t0, bs, xb, yb, *consts, *arenas, losses, status)
        return int(steps), losses, (int(status[0]), int(status[1])) if status[0] >= 0 else None

    train.source = source
    train.kernel = kernel
    return train


__all__ = ["build_training", "training_source"]
