"""The fused training loop as one numba function: epochs × minibatches × (gather, forward,
backward, optimizer update), with no Python between steps.

Minibatches come from a permutation array made by the caller (seeded, one row per
epoch), so every backend visits the same batches in the same order; a last partial
batch is a smaller ``n``.

A step commits only when it is finite: the update writes the new params and optimizer state
into a second set of buffers (``q``/``r``, given by the caller) and the two sets swap roles
once the loss, every gradient and every updated value are finite.  So a step that meets
NaN or inf changes nothing: the loop stops, reports (epoch, step, what) in ``status``, and
the caller's params hold the last finite values.  The finiteness tests are running sums of
``x·0`` (0 for a finite x, NaN otherwise; a plain sum of large finite values could overflow)
folded into the update loops, so they cost nothing measurable.  ``what`` is 0 for the loss,
``1 + 2i`` for the gradient of param i and ``2 + 2i`` for its updated value or state.
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

    Signature: ``train(X, Y, <params>, <param shadows>, <state>, <state shadows>, hyper, perm,
    step0, bs, xb, yb, <consts>, <arenas>, losses, status) -> steps done``.
    """
    step = tp.step
    em = Emitter(step)
    fx, fy = code(_row(step.buffers[tp.x].shape)), code(_row(step.buffers[tp.y].shape))
    count = len(tp.params)
    pvars = [f"p{i}" for i in range(count)]
    qvars = [f"q{i}" for i in range(count)]
    svars = [[f"s{i}_{j}" for j in range(len(tp.state))] for i in range(count)]
    rvars = [[f"r{i}_{j}" for j in range(len(tp.state))] for i in range(count)]
    consts = [em.var(c) for c in step.consts]
    arenas = [f"arena_{d}" for d in step.slot_sizes]
    flat_s = [s for group in svars for s in group]
    flat_r = [r for group in rvars for r in group]
    params = ["X", "Y", *pvars, *qvars, *flat_s, *flat_r, "hyper", "perm", "step0", "bs", "xb", "yb",
              *consts, *arenas, "losses", "status"]
    # committed (upper case P, S) and scratch (Q, R) buffers: a finite step swaps them
    cur = [v.upper() for v in pvars] + [v.upper() for v in flat_s]
    nxt = [v.upper() for v in qvars] + [v.upper() for v in flat_r]
    body = [f"{c} = {v}" for c, v in zip(cur + nxt, pvars + flat_s + qvars + flat_r)]
    body += ["flip = False",
             "ntot = perm.shape[1]",
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
            inner.append(f"a{i} = {pvars[tp.params.index(name)].upper()}")
        else:
            raise ValueError(f"training step reads {name!r}, which is neither data nor a param")
    inner += em.arena_lines() + em.step_lines()
    loss_var = em.var(step.outputs[0])
    inner += [f"loss = {loss_var}[0]", "tt = np.float64(step0 + steps + 1)"]
    for i in range(count):
        inner += _update_lines(tp, i, em.var(step.outputs[1 + i]), em.dtype)
    copy_back = ["if flip:"] + [f"    {v}[:] = {v.upper()}" for v in pvars + flat_s]
    # reported in this order: the loss, the gradients, the updated values
    checks = [("loss", 0)] + [(f"chk_g{i}", 1 + 2 * i) for i in range(count)] + \
             [(f"chk_u{i}", 2 + 2 * i) for i in range(count)]
    for var, what in checks:
        inner += [f"if not math.isfinite({var}):",
                  "    status[0] = epoch",
                  "    status[1] = start // bs",
                  f"    status[2] = {what}",
                  *["    " + line for line in copy_back],
                  "    return steps"]
    inner += [f"{', '.join(cur + nxt)} = {', '.join(nxt + cur)}",
              "flip = not flip",
              "total += loss * n",
              "steps += 1"]
    body += ["        " + line for line in inner]
    body += ["    losses[epoch] = total / ntot"] + copy_back + ["return steps"]
    lines = [f"@njit({JIT_OPTIONS})", f"def train({', '.join(params)}):"] + ["    " + line for line in body]
    doc = ", ".join(f"p{i}={p}" for i, p in enumerate(tp.params))
    return header(em) + f"# params: {comment(doc)}\n" + "\n".join(lines) + "\n"


def _update_lines(tp, i, grad_var, dtype):
    """The optimizer's update of param i: one flat loop, targets applied in order, reading the
    committed buffers (P, S) and writing the scratch ones (Q, R), with the finiteness sums of
    the gradient (``chk_g``) and of the new values (``chk_u``) folded in.

    ``hyper`` and the step count ``tt`` are float64: in a float32 kernel the hoisted scalars
    made of them are computed in float64 (as the numpy reference computes them from Python
    floats) and rounded to float32 once per step, so the loops compute in float32 only.
    """
    p, g, t = sp.symbols("p g t", real=True)
    idx = f"_u{i}"
    pv, qv = f"P{i}", f"Q{i}"
    sv = [f"S{i}_{j}" for j in range(len(tp.state))]
    rv = [f"R{i}_{j}" for j in range(len(tp.state))]
    names = {p: f"{pv}[{idx}]", g: f"{grad_var}[{idx}]", t: "tt"}
    names.update({sp.Symbol(s, real=True): f"{v}[{idx}]" for s, v in zip(tp.state, sv)})
    invariant = {t}
    for j, h in enumerate(tp.hyper):
        names[sp.Symbol(h, real=True)] = f"hyper[{j}]"
        invariant.add(sp.Symbol(h, real=True))
    wide = {sym: f"_h_{sym}" for sym in invariant}  # float32 copies, where a loop reads them
    zero = literal(0.0, dtype)
    lines, loop = [f"chk_g{i} = {zero}", f"chk_u{i} = {zero}"], []
    for k, (target, expr) in enumerate(tp.updates):
        # invariants depend on t and the hyperparameters only: the same for every param,
        # so they are computed once, before the first param's loop
        hoisted, inner, result = body_lines(expr, names, invariant, f"_h{k}_", dtype, wide)
        lines += [line for line in hoisted if line not in lines] if i == 0 else []
        loop += inner + [f"_n{i}_{target} = {result}"]
        names[sp.Symbol(target, real=True)] = f"_n{i}_{target}"
    updated = {target for target, _ in tp.updates}
    new_p = f"_n{i}_p" if "p" in updated else f"{pv}[{idx}]"
    new_s = [f"_n{i}_{s}" if s in updated else f"{v}[{idx}]" for s, v in zip(tp.state, sv)]
    # x·0 is 0 for every finite x and NaN for ±inf or NaN: the sums never overflow
    loop = [f"chk_g{i} += {grad_var}[{idx}]*{zero}"] + loop
    loop += [f"chk_u{i} += {' + '.join(f'{v}*{zero}' for v in [new_p] + new_s)}"]
    loop += [f"{qv}[{idx}] = {new_p}"] + [f"{r}[{idx}] = {v}" for r, v in zip(rv, new_s)]
    return lines + [f"for {idx} in range({pv}.size):"] + ["    " + line for line in loop]


def build_training(tp):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs) -> (steps, losses, status)``
    running the fused loop; ``params``/``state`` are lists of arrays updated in place (to
    their last finite values); ``status`` is None or (epoch, step, what), see the module doc."""
    source = training_source(tp)
    kernel = cache.CachedKernel(source, "train")
    step = tp.step
    consts = [flat(step.consts[c]) for c in step.consts]
    xdtype = np.dtype(step.buffers[tp.x].dtype)
    ydtype = np.dtype(step.buffers[tp.y].dtype)
    scratch = PerThread()

    def buffers(n_rows, X, Y, params, state):
        # the second set of params and state a step writes before it is known to be finite
        shadows = [np.empty(p.size, p.dtype) for p in params]
        shadows += [np.empty(s.size, s.dtype) for group in state for s in group]
        return minibatch_buffers(step, X, Y, n_rows, xdtype, ydtype), shadows

    def train(X, Y, params, state, hyper, perm, t0, bs):
        n_rows = min(bs, perm.shape[1])
        (xb, yb, arenas), shadows = scratch.get(n_rows, lambda: buffers(n_rows, X, Y, params, state))
        losses = np.zeros(perm.shape[0])
        status = np.full(3, -1, dtype=np.int64)
        count = len(params)
        steps = kernel(flat(X), flat(Y), *[p.reshape(-1) for p in params], *shadows[:count],
                       *[s.reshape(-1) for group in state for s in group], *shadows[count:],
                       np.asarray(hyper, np.float64), perm, t0, bs, xb, yb, *consts, *arenas, losses, status)
        return int(steps), losses, tuple(int(v) for v in status) if status[0] >= 0 else None

    train.source = source
    train.kernel = kernel
    return train


__all__ = ["build_training", "training_source"]
