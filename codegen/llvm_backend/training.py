"""The fused training loop as one LLVM function: epochs × minibatches × (gather, forward,
backward, optimizer update), with no Python between steps.

The same semantics as the numba backend's ``training.py``: minibatches come from a
permutation array made by the caller (one row per epoch), a last partial batch is a
smaller ``n``; after each step every param is updated by the optimizer's rules (applied
in order, each seeing the targets updated before it) in place, in one loop per param that
also sums g·0 and the new values ·0 (NaN exactly when one of them is NaN or inf); a
non-finite loss or sum stops the loop with (epoch, step, what) in ``status`` (``what`` 0 for
the loss, 1 + i for param i) after that step was applied.  The caller restores the params it
kept and runs the loop again with ``limit`` (steps to run, −1 for all) set to the finite
steps (see the numba backend's ``training.py``).  The update arithmetic is in double.
"""

import ctypes

import numpy as np
import sympy as sp
from llvmlite import ir

from codegen.bodies import split_body
from codegen.layout import PerThread, minibatch_buffers, root, size
from codegen.llvm_backend import Compiled, address, flat, jit, structure
from codegen.llvm_backend.emit import (DOUBLE, I64, REASSOC, ModuleBuilder, ProgramEmitter, dim_value,
                                       entry_alloca, convert, i64, load, loop, ltype, store, to_double)
from codegen.llvm_backend.gemm import constant
from codegen.llvm_backend.mathfns import c
from codegen.llvm_backend.scalar import Translator

P = ctypes.c_void_p


def _row(shape):
    """Elements per sample of a buffer whose first axis is the batch."""
    return size(tuple(shape[1:]))


def training_ir(tp):
    """IR text of ``train(X, Y, <params>, <state>, hyper, perm, epochs, ntot, step0, bs, limit, xb,
    yb, <consts>, <arenas>, losses, status) -> steps done``."""
    step = tp.step
    mb = ModuleBuilder("symbackprop_train")
    pe = ProgramEmitter(mb, step)
    xt, yt = ltype(step.buffers[tp.x].dtype), ltype(step.buffers[tp.y].dtype)
    ptypes = [ltype(step.buffers[p].dtype) for p in tp.params]
    nstate = len(tp.state)
    argtys = [xt.as_pointer(), yt.as_pointer()] + [t.as_pointer() for t in ptypes] + \
             [t.as_pointer() for t in ptypes for _ in range(nstate)] + \
             [DOUBLE.as_pointer(), I64.as_pointer(), I64, I64, I64, I64, I64, xt.as_pointer(), yt.as_pointer()] + \
             [ltype(step.buffers[k].dtype).as_pointer() for k in step.consts] + \
             [ltype(d).as_pointer() for d in step.slot_sizes] + [DOUBLE.as_pointer(), I64.as_pointer()]
    updates = [_update_function(mb, tp, i, ptypes[i]) for i in range(len(tp.params))]
    fn = ir.Function(mb.module, ir.FunctionType(I64, argtys), "train")
    fn.attributes.add("nounwind")
    args = list(fn.args)
    X, Y = args[0], args[1]
    params = args[2:2 + len(tp.params)]
    k = 2 + len(tp.params)
    states = [args[k + i * nstate:k + (i + 1) * nstate] for i in range(len(tp.params))]
    k += len(tp.params) * nstate
    hyper, perm, epochs, ntot, step0, bs, limit, xb, yb = args[k:k + 9]
    k += 9
    consts = args[k:k + len(step.consts)]
    k += len(step.consts)
    arenas = dict(zip(step.slot_sizes, args[k:k + len(step.slot_sizes)]))
    losses, status = args[-2:]
    names = ["X", "Y"] + [f"p.{p}" for p in tp.params] + \
            [f"s.{p}.{s}" for p in tp.params for s in tp.state] + \
            ["hyper", "perm", "epochs", "ntot", "step0", "bs", "limit", "xb", "yb"] + \
            [f"const.{c_}" for c_ in step.consts] + \
            [f"arena.{d}" for d in step.slot_sizes] + ["losses", "status"]
    for arg, name in zip(args, names):
        arg.name = name
    for arg in [X, Y, xb, yb, *arenas.values(), *params, *[s for g in states for s in g]]:
        arg.add_attribute("noalias")
    fx, fy = _row(step.buffers[tp.x].shape), _row(step.buffers[tp.y].shape)

    b = ir.IRBuilder(fn.append_basic_block("entry"))
    steps = entry_alloca(b, I64, "steps")
    total = entry_alloca(b, DOUBLE, "total")
    b.store(i64(0), steps)
    fail = fn.append_basic_block("diverged")
    nbatches = b.sdiv(b.sub(b.add(ntot, bs), i64(1)), bs)
    fx_v, fy_v = dim_value(b, fx, i64(1)), dim_value(b, fy, i64(1))
    epoch_at = entry_alloca(b, I64, "epoch.at")
    batch_at = entry_alloca(b, I64, "batch.at")
    what_at = entry_alloca(b, I64, "what.at")
    done = fn.append_basic_block("limit.reached")
    with loop(b, epochs, "epoch") as epoch:
        b.store(c(0.0), total)
        with loop(b, nbatches, "batch") as j:
            go = fn.append_basic_block("step")
            b.cbranch(b.icmp_signed("==", b.load(steps), limit), done, go)
            b.position_at_end(go)
            start = b.mul(j, bs, flags=["nsw"])
            rest = b.sub(ntot, start)
            n = b.select(b.icmp_signed("<", bs, rest), bs, rest, name="n")
            row0 = b.add(b.mul(epoch, ntot, flags=["nsw"]), start, flags=["nsw"])
            with loop(b, n, "r") as r:  # gather this minibatch's rows
                src = load(b, perm, b.add(row0, r, flags=["nsw"]))
                for data, buf, width, count in ((X, xb, fx_v, fx), (Y, yb, fy_v, fy)):
                    def copy(col, data=data, buf=buf, width=width):
                        v = load(b, data, b.add(b.mul(src, width, flags=["nsw"]), col, flags=["nsw"]))
                        store(b, v, buf, b.add(b.mul(r, width, flags=["nsw"]), col, flags=["nsw"]))
                    if constant(count) is not None and constant(count) <= 16:  # a few features: unrolled
                        for col in range(constant(count)):
                            copy(i64(col))
                    else:
                        with loop(b, width, "col") as col:
                            copy(col)
            ptrs = {}
            for name in step.args:
                if name == tp.x:
                    ptrs[name] = xb
                elif name == tp.y:
                    ptrs[name] = yb
                elif name in tp.params:
                    ptrs[name] = params[tp.params.index(name)]
                else:
                    raise ValueError(f"training step reads {name!r}, which is neither data nor a param")
            ptrs.update(zip(step.consts, consts))
            bufs = pe.emit(b, n, ptrs, arenas)
            loss = to_double(b, load(b, bufs[step.outputs[0]], i64(0)))
            tt = b.sitofp(b.add(b.add(step0, b.load(steps)), i64(1)), DOUBLE)
            checks = []
            for i, (update, _) in enumerate(updates):
                g = bufs[step.outputs[1 + i]]
                checks.append(b.call(update, [params[i], g, *states[i], hyper, tt]))
            fabs = mb.math.function("fabs")
            # the first non-finite of: the loss, then each param's sum (see the module doc)
            finite = ir.Constant(ir.IntType(1), 1)
            what = i64(-1)
            for code, value in reversed(list(enumerate([loss] + checks))):
                ok_v = b.fcmp_ordered("!=", b.call(fabs, [value]), c(float("inf")))
                what = b.select(ok_v, what, i64(code))
                finite = b.and_(finite, ok_v)
            ok = fn.append_basic_block("finite")
            b.store(epoch, epoch_at)
            b.store(j, batch_at)
            b.store(what, what_at)
            b.cbranch(finite, ok, fail)
            b.position_at_end(ok)
            b.store(b.fadd(b.load(total), b.fmul(loss, b.sitofp(n, DOUBLE))), total)
            b.store(b.add(b.load(steps), i64(1)), steps)
        store(b, b.fdiv(b.load(total), b.sitofp(ntot, DOUBLE)), losses, epoch)
    b.ret(b.load(steps))
    b.position_at_end(done)
    b.ret(b.load(steps))
    b.position_at_end(fail)
    store(b, b.load(epoch_at), status, i64(0))
    store(b, b.load(batch_at), status, i64(1))
    store(b, b.load(what_at), status, i64(2))
    b.ret(b.load(steps))
    doc = ", ".join(f"p{i}={p}" for i, p in enumerate(tp.params))
    mb.comments["train"] = [f"params: {doc}; optimizer state: {', '.join(tp.state) or 'none'}; "
                            f"hyperparameters: {', '.join(tp.hyper)}"]
    return mb.text(), len(argtys)


def _update_function(mb, tp, i, ty):
    """``double update_i(p, g, <state>, hyper, t)``: the optimizer's update of param i in place as
    one flat loop (targets applied in order); returns Σ g·0 + (new values)·0, which is 0 when
    all are finite and NaN otherwise (it cannot overflow)."""
    step = tp.step
    name = tp.params[i]
    count = size(step.buffers[name].shape)
    gname = step.outputs[1 + i]
    gtype = ltype(step.buffers[gname].dtype)
    argtys = [ty.as_pointer(), gtype.as_pointer()] + [ty.as_pointer()] * len(tp.state) + [DOUBLE.as_pointer(), DOUBLE]
    fn = ir.Function(mb.module, ir.FunctionType(DOUBLE, argtys), f"update{i}")
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    p_ptr, g_ptr, *s_ptrs, hyper, tt = fn.args
    p_ptr.name, g_ptr.name, hyper.name, tt.name = "p", "g", "hyper", "t"
    for s, arg in zip(tp.state, s_ptrs):
        arg.name = s
    # the gradient may be the param itself (a loss like ½‖W‖²): then the two may not be noalias
    g_is_param = root(step, gname) in tp.params
    for arg in [p_ptr, *s_ptrs] + ([] if g_is_param else [g_ptr]):
        arg.add_attribute("noalias")
    mb.comments[fn.name] = [f"update of {name}: " + "; ".join(f"{t} <- {e}" for t, e in tp.updates)]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    p, g, t = sp.symbols("p g t", real=True)
    env = {t: tt}
    invariant = {t}
    for j, h in enumerate(tp.hyper):
        sym = sp.Symbol(h, real=True)
        env[sym] = load(b, hyper, i64(j))
        invariant.add(sym)
    tr = Translator(b, mb.math, env)
    chk = entry_alloca(b, DOUBLE, "chk")
    b.store(c(0.0), chk)
    splits = [split_body(expr, invariant, f"_h{k}_") for k, (_, expr) in enumerate(tp.updates)]
    for hoisted, _, _ in splits:
        for sym, sub in hoisted:
            tr.bind(sym, tr.value(sub))
    state_syms = {s: sp.Symbol(s, real=True) for s in tp.state}
    zero = c(0.0)
    with loop(b, dim_value(b, count, i64(1)), "u") as u:
        gv = to_double(b, load(b, g_ptr, u))
        acc = b.fadd(b.load(chk), b.fmul(gv, zero), flags=REASSOC)
        tr.bind(g, gv)
        tr.bind(p, to_double(b, load(b, p_ptr, u)))
        for s, arg in zip(tp.state, s_ptrs):
            tr.bind(state_syms[s], to_double(b, load(b, arg, u)))
        new = {}
        for (target, _), (_, inner, result) in zip(tp.updates, splits):
            for sym, sub in inner:
                tr.bind(sym, tr.value(sub))
            value = tr.value(result)
            new[target] = value
            tr.memo.clear()  # later rules see the updated target
            tr.bind(sp.Symbol(target, real=True), value)
        for target, arg in [("p", p_ptr)] + list(zip(tp.state, s_ptrs)):
            if target in new:
                stored = convert(b, new[target], ty)
                store(b, stored, arg, u)
                # the value as stored: a float32 param can overflow where its double did not
                acc = b.fadd(acc, b.fmul(to_double(b, stored), zero), flags=REASSOC)
        b.store(acc, chk)
    b.ret(b.load(chk))
    return fn, count


def build_training(tp):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs, limit=-1) -> (steps, losses,
    status)`` running the fused loop; ``params``/``state`` are lists of arrays updated in place;
    ``status`` is None or (epoch, step, what), see the module doc."""
    step = tp.step
    nlead = 2 + len(tp.params) * (1 + len(tp.state)) + 2
    sig = [P] * nlead + [ctypes.c_int64] * 5 + [P] * (2 + len(step.consts) + len(step.slot_sizes) + 2)
    described = (f"train x={tp.x} y={tp.y} params={tp.params!r} state={tp.state!r} hyper={tp.hyper!r}\n"
                 f"updates {[(t, sp.srepr(e)) for t, e in tp.updates]!r}\n" + structure(step))
    kernel = jit.Kernel(lambda: training_ir(tp)[0], {"train": (ctypes.c_int64, sig)}, structure=described)
    fn = kernel.functions["train"]
    consts = [flat(np.asarray(step.consts[k], dtype=step.buffers[k].dtype)) for k in step.consts]
    const_ptrs = [address(a) for a in consts]
    xdtype = np.dtype(step.buffers[tp.x].dtype)
    ydtype = np.dtype(step.buffers[tp.y].dtype)
    pdtypes = [np.dtype(step.buffers[p].dtype) for p in tp.params]
    scratch = PerThread()

    def buffers(n_rows, X, Y):
        xb, yb, arenas = minibatch_buffers(step, X, Y, n_rows, xdtype, ydtype)
        return (xb, yb, arenas), address(xb), address(yb), [address(a) for a in arenas]

    def train(X, Y, params, state, hyper, perm, t0, bs, limit=-1):
        n_rows = min(bs, perm.shape[1])
        _, xb, yb, arena_ptrs = scratch.get(n_rows, lambda: buffers(n_rows, X, Y))
        X = np.ascontiguousarray(X, dtype=xdtype)
        Y = np.ascontiguousarray(Y, dtype=ydtype)
        perm = np.ascontiguousarray(perm, dtype=np.int64)
        for p, d in zip(params, pdtypes):  # updated in place: must be the caller's own memory
            if not (p.flags.c_contiguous and p.dtype == d):
                raise ValueError("llvm backend: params must be C-contiguous arrays of the program's dtype")
        hyper = np.asarray(hyper, np.float64)
        losses = np.zeros(perm.shape[0])
        status = np.full(3, -1, dtype=np.int64)
        steps = fn(address(X), address(Y), *[address(p) for p in params],
                   *[address(s) for group in state for s in group], address(hyper), address(perm),
                   perm.shape[0], perm.shape[1], int(t0), int(bs), int(limit), xb, yb, *const_ptrs, *arena_ptrs,
                   address(losses), address(status))
        return int(steps), losses, tuple(int(v) for v in status) if status[0] >= 0 else None

    return Compiled(train, kernel)
