"""The fused training loop as one LLVM function: epochs × minibatches × the training
program's step (gather, forward, backward, update: ``symbackprop.lower.training``), with no
Python between steps.  The step is emitted by the same ``ProgramEmitter`` as any kernel
program; this module only writes the driver around it.

The same semantics as the numba backend's ``training.py``: minibatches come from a
permutation array made by the caller (one row per epoch), a last partial batch is a
smaller ``n``; a non-finite loss or check stops the loop with (epoch, step, what) in
``status`` (``what`` 0 for the loss, 1 + i for param i) after that step was applied, and
``limit`` (steps to run, −1 for all) lets the caller replay the finite steps.
"""

import ctypes

import numpy as np
from llvmlite import ir

from codegen.layout import PerThread, aligned_empty, arena_sizes
from codegen.llvm_backend import Compiled, address, flat, jit, structure
from codegen.llvm_backend.emit import (DOUBLE, I64, ModuleBuilder, ProgramEmitter, _ident, entry_alloca, i64, load,
                                       loop, ltype, store, to_double)
from codegen.llvm_backend.mathfns import c

P = ctypes.c_void_p


def training_ir(tp, separate=False):
    """(IR, argument count) of ``train(<step args but the rows>, perm, epochs, ntot, step0, bs,
    limit, <consts>, <arenas>, losses, status, norms) -> steps done``: one module's text, or
    with ``separate`` a ``jit.Linked`` whose shared kernels are modules of their own."""
    step = tp.step
    mb = ModuleBuilder("symbackprop_train")
    pe = ProgramEmitter(mb, step, separate=separate)
    names = [a for a in step.args if a != tp.rows]
    argtys = [ltype(step.buffers[a].dtype).as_pointer() for a in names] + [I64.as_pointer()] + [I64] * 5 + \
             [ltype(step.buffers[k].dtype).as_pointer() for k in step.consts] + \
             [ltype(d).as_pointer() for d in step.slot_sizes] + [DOUBLE.as_pointer(), I64.as_pointer()] + \
             [DOUBLE.as_pointer()]
    fn = ir.Function(mb.module, ir.FunctionType(I64, argtys), "train")
    fn.attributes.add("nounwind")
    args = list(fn.args)
    given = dict(zip(names, args))
    k = len(names)
    perm, epochs, ntot, step0, bs, limit = args[k:k + 6]
    k += 6
    consts = dict(zip(step.consts, args[k:k + len(step.consts)]))
    k += len(step.consts)
    arenas = dict(zip(step.slot_sizes, args[k:k + len(step.slot_sizes)]))
    losses, status, norms = args[-3:]
    for arg, name in zip(args, [f"arg.{_ident(a)}" for a in names] +
                         ["perm", "epochs", "ntot", "step0", "bs", "limit"] + [f"const.{c_}" for c_ in step.consts] +
                         [f"arena.{d}" for d in step.slot_sizes] + ["losses", "status", "norms"]):
        arg.name = name
    for name, arg in given.items():
        if step.buffers[name].role in ("data", "param", "state"):
            arg.add_attribute("noalias")
    for arg in arenas.values():
        arg.add_attribute("noalias")

    b = ir.IRBuilder(fn.append_basic_block("entry"))
    steps = entry_alloca(b, I64, "steps")
    total = entry_alloca(b, DOUBLE, "total")
    b.store(i64(0), steps)
    fail = fn.append_basic_block("diverged")
    done = fn.append_basic_block("limit.reached")
    nbatches = b.sdiv(b.sub(b.add(ntot, bs), i64(1)), bs)
    epoch_at = entry_alloca(b, I64, "epoch.at")
    batch_at = entry_alloca(b, I64, "batch.at")
    what_at = entry_alloca(b, I64, "what.at")
    hyper, check = given[tp.hyper], given[tp.check]
    nparams = len(tp.params)
    e0 = load(b, hyper, i64(tp.epoch_slot if tp.epoch_slot is not None else 0))
    # the gradient-flow record: each epoch's sum of ‖g‖ per param, in loops over the params (one
    # line of IR each, not one per param: a deep network has hundreds of params)
    record = tp.norms_slot is not None and nparams > 0
    if record:
        accs = b.gep(entry_alloca(b, ir.ArrayType(DOUBLE, nparams), "norms.acc"), [i64(0), i64(0)], inbounds=True)
        with loop(b, i64(nparams), "norm.zero") as i:
            store(b, c(0.0), accs, i)
    with loop(b, epochs, "epoch") as epoch:
        b.store(c(0.0), total)
        if tp.epoch_slot is not None:  # the epoch number, for schedules
            store(b, b.fadd(e0, b.sitofp(epoch, DOUBLE)), hyper, i64(tp.epoch_slot))
        with loop(b, nbatches, "batch") as j:
            go = fn.append_basic_block("step")
            b.cbranch(b.icmp_signed("==", b.load(steps), limit), done, go)
            b.position_at_end(go)
            start = b.mul(j, bs, flags=["nsw"])
            rest = b.sub(ntot, start)
            n = b.select(b.icmp_signed("<", bs, rest), bs, rest, name="n")
            rows = b.gep(perm, [b.add(b.mul(epoch, ntot, flags=["nsw"]), start, flags=["nsw"])], inbounds=True)
            store(b, b.sitofp(b.add(b.add(step0, b.load(steps)), i64(1)), DOUBLE), hyper, i64(0))
            bufs = pe.emit(b, n, {**given, tp.rows: rows, **consts}, arenas)
            loss = to_double(b, load(b, bufs[tp.loss], i64(0)))
            fabs = mb.math.function("fabs")
            # the first non-finite of: the loss (0), then each param's check (1 + i), in a
            # loop over the params (one line of IR each would grow with depth)
            b.store(b.select(b.fcmp_ordered("!=", b.call(fabs, [loss]), c(float("inf"))), i64(-1), i64(0)),
                    what_at)
            with loop(b, i64(nparams), "check") as i:
                bad = b.fcmp_unordered("==", b.call(fabs, [load(b, check, i)]), c(float("inf")))
                first = b.load(what_at)
                take = b.and_(bad, b.icmp_signed("==", first, i64(-1)))
                b.store(b.select(take, b.add(i, i64(1), flags=["nsw"]), first), what_at)
            what = b.load(what_at)
            finite = b.icmp_signed("==", what, i64(-1))
            ok = fn.append_basic_block("finite")
            b.store(epoch, epoch_at)
            b.store(j, batch_at)
            b.cbranch(finite, ok, fail)
            b.position_at_end(ok)
            b.store(b.fadd(b.load(total), b.fmul(loss, b.sitofp(n, DOUBLE))), total)
            b.store(b.add(b.load(steps), i64(1)), steps)
            if record:  # each epoch's mean of ‖g‖
                sqrt = mb.math.function("sqrt")
                with loop(b, i64(nparams), "norm.add") as i:
                    g2 = load(b, hyper, b.add(i64(tp.norms_slot), i, flags=["nsw"]))
                    store(b, b.fadd(load(b, accs, i), b.call(sqrt, [g2])), accs, i)
        store(b, b.fdiv(b.load(total), b.sitofp(ntot, DOUBLE)), losses, epoch)
        if record:
            with loop(b, i64(nparams), "norm.out") as i:
                store(b, b.fdiv(load(b, accs, i), b.sitofp(nbatches, DOUBLE)), norms,
                      b.add(b.mul(epoch, i64(nparams), flags=["nsw"]), i, flags=["nsw"]))
                store(b, c(0.0), accs, i)
    b.ret(b.load(steps))
    b.position_at_end(done)
    b.ret(b.load(steps))
    b.position_at_end(fail)
    store(b, b.load(epoch_at), status, i64(0))
    store(b, b.load(batch_at), status, i64(1))
    store(b, b.load(what_at), status, i64(2))
    b.ret(b.load(steps))
    mb.comments["train"] = [f"arguments: {', '.join(names)}; then perm, epochs, ntot, step0, bs, limit"]
    return (mb.linked() if separate else mb.text()), len(argtys)


def build_training(tp):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs, limit=-1, norms=None) -> (steps,
    losses, status)`` running the fused loop; ``params``/``state`` are lists of arrays updated in
    place; ``status`` is None or (epoch, step, what), see the module doc; ``norms`` (epochs ×
    params, float64, optional) receives each epoch's mean gradient norms."""
    step = tp.step
    names = [a for a in step.args if a != tp.rows]
    sig = [P] * (len(names) + 1) + [ctypes.c_int64] * 5 + [P] * (len(step.consts) + len(step.slot_sizes) + 3)
    described = f"train rows={tp.rows} loss={tp.loss} check={tp.check} epoch={tp.epoch_slot} " \
        f"norms={tp.norms_slot}\n" + structure(step)
    kernel = jit.Kernel(lambda: training_ir(tp, separate=True)[0], {"train": (ctypes.c_int64, sig)},
                        structure=described)
    fn = kernel.functions["train"]
    consts = [flat(np.asarray(step.consts[k], dtype=step.buffers[k].dtype)) for k in step.consts]
    const_ptrs = [address(a) for a in consts]
    dtypes = {a: np.dtype(step.buffers[a].dtype) for a in names}
    scratch = PerThread()

    def buffers(n_rows):
        arenas = [aligned_empty(max(s, 1), d) for d, s in arena_sizes(step, n_rows).items()]
        hyper = np.zeros(step.buffers[tp.hyper].shape[0])
        check = np.zeros(len(tp.params))
        return (arenas, hyper, check), [address(a) for a in arenas], hyper, check

    def train(X, Y, params, state, hyper, perm, t0, bs, limit=-1, norms=None):
        n_rows = min(bs, perm.shape[1])
        _, arena_ptrs, hyper_buf, check = scratch.get(n_rows, lambda: buffers(n_rows))
        hyper_buf[1:1 + len(hyper)] = hyper
        if norms is None or norms.shape != (perm.shape[0], len(tp.params)) or norms.dtype != np.float64 or \
                not norms.flags.c_contiguous:
            norms = np.zeros((perm.shape[0], len(tp.params)))
        values = {tp.x: np.ascontiguousarray(X, dtype=dtypes[tp.x]), tp.y: np.ascontiguousarray(Y, dtype=dtypes[tp.y]),
                  tp.hyper: hyper_buf, tp.check: check}
        values.update(zip(tp.params, params))
        values.update({name: s for names_, group in zip(tp.state, state) for name, s in zip(names_, group)})
        for name in tp.params:  # updated in place: must be the caller's own memory
            p = values[name]
            if not (p.flags.c_contiguous and p.dtype == dtypes[name]):
                raise ValueError("llvm backend: params must be C-contiguous arrays of the program's dtype")
        perm = np.ascontiguousarray(perm, dtype=np.int64)
        losses = np.zeros(perm.shape[0])
        status = np.full(3, -1, dtype=np.int64)
        steps = fn(*[address(values[a]) for a in names], address(perm), perm.shape[0], perm.shape[1], int(t0),
                   int(bs), int(limit), *const_ptrs, *arena_ptrs, address(losses), address(status), address(norms))
        return int(steps), losses, tuple(int(v) for v in status) if status[0] >= 0 else None

    return Compiled(train, kernel)
