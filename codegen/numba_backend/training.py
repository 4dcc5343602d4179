"""The fused training loop as one numba function: epochs × minibatches × (gather, forward,
backward, optimizer update), with no Python between steps.

Minibatches come from a permutation array made by the caller (seeded, one row per
epoch), so every backend visits the same batches in the same order; a last partial
batch is a smaller ``n``.

Updates are in place.  Each param's update loop also sums g·0, p_new·0 and state_new·0
(0 for finite values, NaN otherwise: such sums cannot overflow), so a step whose loss,
gradient or updated values are NaN/inf stops the loop with (epoch, step, what) in
``status``: ``what`` is 0 for the loss, 1 + i for param i.  That step has already been
applied; the caller, which keeps the params from before its call, restores them and runs
the loop again with ``limit`` (the number of steps to run, −1 for all) set to the steps
that were finite, so the params end at their last finite values.  The checks cost almost
nothing in the update loops (measured on W2: a second set of param buffers written instead,
so that nothing needs replaying, cost 10–15 % in float32, as numba's loops then vectorised
worse).
"""

import numpy as np
import sympy as sp

from codegen.numba_backend import JIT_OPTIONS, cache, flat, header
from codegen.layout import PerThread, minibatch_buffers
from codegen.numba_backend.emit import Emitter, code
from codegen.numba_backend.printer import body_lines, literal
from codegen.program import comment


def _row(shape):
    """Elements per sample of a buffer whose first axis is the batch."""
    size = sp.Integer(1)
    for d in shape[1:]:
        size *= d
    return size


def training_source(tp):
    """numba source of ``train(...)`` for the training program ``tp``.

    Signature: ``train(X, Y, <params>, <state>, hyper, perm, step0, bs, limit, xb, yb, <consts>,
    <arenas>, losses, status) -> steps done``.
    """
    step = tp.step
    em = Emitter(step)
    fx, fy = code(_row(step.buffers[tp.x].shape)), code(_row(step.buffers[tp.y].shape))
    pvars = [f"p{i}" for i in range(len(tp.params))]
    svars = [[f"s{i}_{j}" for j in range(len(tp.state))] for i in range(len(tp.params))]
    consts = [em.var(c) for c in step.consts]
    arenas = [f"arena_{d}" for d in step.slot_sizes]
    params = ["X", "Y", *pvars, *[s for group in svars for s in group], "hyper", "perm", "step0", "bs", "limit",
              "xb", "yb", *consts, *arenas, "losses", "status"]
    body = ["ntot = perm.shape[1]",
            "steps = 0",
            "for epoch in range(perm.shape[0]):",
            "    total = 0.0",
            "    for start in range(0, ntot, bs):",
            "        if steps == limit:",
            "            return steps",
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
    inner += [f"loss = {loss_var}[0]", "tt = np.float64(step0 + steps + 1)"]
    for i, name in enumerate(tp.params):
        inner += _update_lines(tp, i, em.var(step.outputs[1 + i]), pvars[i], svars[i], em.dtype)
    for var, what in [("loss", 0)] + [(f"chk{i}", 1 + i) for i in range(len(tp.params))]:
        inner += [f"if not math.isfinite({var}):",
                  "    status[0] = epoch",
                  "    status[1] = start // bs",
                  f"    status[2] = {what}",
                  "    return steps"]
    inner += ["total += loss * n",
              "steps += 1"]
    body += ["        " + line for line in inner]
    body += ["    losses[epoch] = total / ntot", "return steps"]
    lines = [f"@njit({JIT_OPTIONS})", f"def train({', '.join(params)}):"] + ["    " + line for line in body]
    doc = ", ".join(f"p{i}={p}" for i, p in enumerate(tp.params))
    return header(em) + f"# params: {comment(doc)}\n" + "\n".join(lines) + "\n"


def _update_lines(tp, i, grad_var, pvar, svar, dtype):
    """The optimizer's update of param i in place: one flat loop, targets applied in order,
    with the finiteness sum ``chk{i}`` of the gradient and the new values folded in.

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
    zero = literal(0.0, dtype)
    lines, loop = [f"chk{i} = {zero}"], []
    for k, (target, expr) in enumerate(tp.updates):
        # invariants depend on t and the hyperparameters only: the same for every param,
        # so they are computed once, before the first param's loop
        hoisted, inner, result = body_lines(expr, names, invariant, f"_h{k}_", dtype, wide)
        lines += [line for line in hoisted if line not in lines] if i == 0 else []
        loop += inner + [f"_n{i}_{target} = {result}"]
        names[sp.Symbol(target, real=True)] = f"_n{i}_{target}"
    written = [target for target, _ in tp.updates if target == "p" or target in tp.state]
    # x·0 is 0 for every finite x and NaN for ±inf or NaN: the sum never overflows
    checked = [f"{grad_var}[{idx}]"] + [f"_n{i}_{target}" for target in dict.fromkeys(written)]
    loop = loop + [f"chk{i} += {' + '.join(f'{v}*{zero}' for v in checked)}"]
    loop += [f"{pvar}[{idx}] = _n{i}_p"] + [f"{v}[{idx}] = _n{i}_{s}" for s, v in zip(tp.state, svar)
                                           if any(target == s for target, _ in tp.updates)]
    return lines + [f"for {idx} in range({pvar}.size):"] + ["    " + line for line in loop]


def build_training(tp):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs, limit=-1) -> (steps, losses,
    status)`` running the fused loop; ``params``/``state`` are lists of arrays updated in place;
    ``status`` is None or (epoch, step, what), see the module doc."""
    source = training_source(tp)
    kernel = cache.CachedKernel(source, "train")
    step = tp.step
    consts = [flat(step.consts[c]) for c in step.consts]
    xdtype = np.dtype(step.buffers[tp.x].dtype)
    ydtype = np.dtype(step.buffers[tp.y].dtype)
    scratch = PerThread()

    def train(X, Y, params, state, hyper, perm, t0, bs, limit=-1):
        n_rows = min(bs, perm.shape[1])
        xb, yb, arenas = scratch.get(n_rows, lambda: minibatch_buffers(step, X, Y, n_rows, xdtype, ydtype))
        losses = np.zeros(perm.shape[0])
        status = np.full(3, -1, dtype=np.int64)
        steps = kernel(flat(X), flat(Y), *[p.reshape(-1) for p in params],
                       *[s.reshape(-1) for group in state for s in group], np.asarray(hyper, np.float64),
                       perm, t0, bs, limit, xb, yb, *consts, *arenas, losses, status)
        return int(steps), losses, tuple(int(v) for v in status) if status[0] >= 0 else None

    train.source = source
    train.kernel = kernel
    return train


__all__ = ["build_training", "training_source"]
