"""The fused training loop as one LLVM function: epochs × minibatches × (gather, forward,
backward, optimizer update), with no Python between steps.

The same semantics as the numba backend's ``training.py``: minibatches come from a
permutation array made by the caller (one row per epoch), a last partial batch is a
smaller ``n``; after each step every param is updated by the optimizer's rules (applied
in order, each seeing the targets updated before it) in one loop per param.  The update
writes a second set of param and state buffers, and the sets swap roles only when the
loss, every gradient and every new value are finite (running sums of x·0 folded into the
update loops); otherwise the loop stops with (epoch, step, what) in ``status`` and the
caller's params hold the last finite values.  The update arithmetic is in double.
"""

import ctypes

import numpy as np
import sympy as sp
from llvmlite import ir

from codegen.bodies import split_body
from codegen.layout import PerThread, aligned_empty, minibatch_buffers, root, size
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
    """IR text of ``train(X, Y, <params>, <param shadows>, <state>, <state shadows>, hyper, perm,
    epochs, ntot, step0, bs, xb, yb, <consts>, <arenas>, losses, status) -> steps done``."""
    step = tp.step
    mb = ModuleBuilder("symbackprop_train")
    pe = ProgramEmitter(mb, step)
    xt, yt = ltype(step.buffers[tp.x].dtype), ltype(step.buffers[tp.y].dtype)
    count, nstate = len(tp.params), len(tp.state)
    ptypes = [ltype(step.buffers[p].dtype) for p in tp.params]
    stypes = [t for t in ptypes for _ in range(nstate)]
    argtys = [xt.as_pointer(), yt.as_pointer()] + [t.as_pointer() for t in ptypes + ptypes + stypes + stypes] + \
             [DOUBLE.as_pointer(), I64.as_pointer(), I64, I64, I64, I64, xt.as_pointer(), yt.as_pointer()] + \
             [ltype(step.buffers[k].dtype).as_pointer() for k in step.consts] + \
             [ltype(d).as_pointer() for d in step.slot_sizes] + [DOUBLE.as_pointer(), I64.as_pointer()]
    updates = [_update_function(mb, tp, i, ptypes[i]) for i in range(count)]
    fn = ir.Function(mb.module, ir.FunctionType(I64, argtys), "train")
    fn.attributes.add("nounwind")
    args = list(fn.args)
    X, Y = args[0], args[1]
    params, shadows = args[2:2 + count], args[2 + count:2 + 2 * count]
    k = 2 + 2 * count
    states = [args[k + i * nstate:k + (i + 1) * nstate] for i in range(count)]
    k += count * nstate
    state_shadows = [args[k + i * nstate:k + (i + 1) * nstate] for i in range(count)]
    k += count * nstate
    hyper, perm, epochs, ntot, step0, bs, xb, yb = args[k:k + 8]
    k += 8
    consts = args[k:k + len(step.consts)]
    k += len(step.consts)
    arenas = dict(zip(step.slot_sizes, args[k:k + len(step.slot_sizes)]))
    losses, status = args[-2:]
    names = ["X", "Y"] + [f"p.{p}" for p in tp.params] + [f"q.{p}" for p in tp.params] + \
            [f"s.{p}.{s}" for p in tp.params for s in tp.state] + [f"r.{p}.{s}" for p in tp.params for s in tp.state] + \
            ["hyper", "perm", "epochs", "ntot", "step0", "bs", "xb", "yb"] + [f"const.{c_}" for c_ in step.consts] + \
            [f"arena.{d}" for d in step.slot_sizes] + ["losses", "status"]
    for arg, name in zip(args, names):
        arg.name = name
    owned = [*params, *shadows, *[s for g in states + state_shadows for s in g]]
    for arg in [X, Y, xb, yb, *arenas.values(), *owned]:
        arg.add_attribute("noalias")
    fx, fy = _row(step.buffers[tp.x].shape), _row(step.buffers[tp.y].shape)

    b = ir.IRBuilder(fn.append_basic_block("entry"))
    steps = entry_alloca(b, I64, "steps")
    total = entry_alloca(b, DOUBLE, "total")
    b.store(i64(0), steps)
    # committed (cur) and scratch (nxt) buffers of every param and state: a finite step swaps them
    pairs = [(params[i], shadows[i]) for i in range(count)] + \
            [(states[i][j], state_shadows[i][j]) for i in range(count) for j in range(nstate)]
    cur, nxt = [], []
    for own, shadow in pairs:
        cur.append(entry_alloca(b, own.type, "cur"))
        nxt.append(entry_alloca(b, own.type, "nxt"))
        b.store(own, cur[-1])
        b.store(shadow, nxt[-1])
    flip = entry_alloca(b, ir.IntType(1), "flip")
    b.store(ir.Constant(ir.IntType(1), 0), flip)
    sizes = [size(step.buffers[p].shape) for p in tp.params]
    sizes = sizes + [sizes[i] for i in range(count) for _ in range(nstate)]

    def copy_back():
        """When the committed values sit in the shadows, copy them to the caller's buffers."""
        with b.if_then(b.load(flip)):
            for (own, _), slot, n_el in zip(pairs, cur, sizes):
                src = b.load(slot)
                with loop(b, dim_value(b, n_el, i64(1)), "back") as u:
                    store(b, load(b, src, u), own, u)

    fail = fn.append_basic_block("diverged")
    nbatches = b.sdiv(b.sub(b.add(ntot, bs), i64(1)), bs)
    fx_v, fy_v = dim_value(b, fx, i64(1)), dim_value(b, fy, i64(1))
    epoch_at = entry_alloca(b, I64, "epoch.at")
    batch_at = entry_alloca(b, I64, "batch.at")
    what_at = entry_alloca(b, I64, "what.at")
    with loop(b, epochs, "epoch") as epoch:
        b.store(c(0.0), total)
        with loop(b, nbatches, "batch") as j:
            start = b.mul(j, bs, flags=["nsw"])
            rest = b.sub(ntot, start)
            n = b.select(b.icmp_signed("<", bs, rest), bs, rest, name="n")
            row0 = b.add(b.mul(epoch, ntot, flags=["nsw"]), start, flags=["nsw"])
            with loop(b, n, "r") as r:  # gather this minibatch's rows
                src = load(b, perm, b.add(row0, r, flags=["nsw"]))
                for data, buf, width, cnt in ((X, xb, fx_v, fx), (Y, yb, fy_v, fy)):
                    def copy(col, data=data, buf=buf, width=width):
                        v = load(b, data, b.add(b.mul(src, width, flags=["nsw"]), col, flags=["nsw"]))
                        store(b, v, buf, b.add(b.mul(r, width, flags=["nsw"]), col, flags=["nsw"]))
                    if constant(cnt) is not None and constant(cnt) <= 16:  # a few features: unrolled
                        for col in range(constant(cnt)):
                            copy(i64(col))
                    else:
                        with loop(b, width, "col") as col:
                            copy(col)
            cur_p = [b.load(cur[i]) for i in range(count)]
            ptrs = {}
            for name in step.args:
                if name == tp.x:
                    ptrs[name] = xb
                elif name == tp.y:
                    ptrs[name] = yb
                elif name in tp.params:
                    ptrs[name] = cur_p[tp.params.index(name)]
                else:
                    raise ValueError(f"training step reads {name!r}, which is neither data nor a param")
            ptrs.update(zip(step.consts, consts))
            bufs = pe.emit(b, n, ptrs, arenas)
            loss = to_double(b, load(b, bufs[step.outputs[0]], i64(0)))
            tt = b.sitofp(b.add(b.add(step0, b.load(steps)), i64(1)), DOUBLE)
            checks_g, checks_u = [], []
            for i, (update, _) in enumerate(updates):
                g = bufs[step.outputs[1 + i]]
                s_cur = [b.load(cur[count + i * nstate + j]) for j in range(nstate)]
                s_nxt = [b.load(nxt[count + i * nstate + j]) for j in range(nstate)]
                both = b.call(update, [cur_p[i], b.load(nxt[i]), g, *s_cur, *s_nxt, hyper, tt])
                checks_g.append(b.extract_value(both, 0))
                checks_u.append(b.extract_value(both, 1))
            fabs = mb.math.function("fabs")
            # the first non-finite of: the loss, the gradients, the new values (see the module doc)
            order = [(loss, 0)] + [(v, 1 + 2 * i) for i, v in enumerate(checks_g)] + \
                    [(v, 2 + 2 * i) for i, v in enumerate(checks_u)]
            finite = ir.Constant(ir.IntType(1), 1)
            what = i64(-1)
            for value, code in reversed(order):
                ok_v = b.fcmp_ordered("!=", b.call(fabs, [value]), c(float("inf")))
                what = b.select(ok_v, what, i64(code))
                finite = b.and_(finite, ok_v)
            ok = fn.append_basic_block("finite")
            b.store(epoch, epoch_at)
            b.store(j, batch_at)
            b.store(what, what_at)
            b.cbranch(finite, ok, fail)
            b.position_at_end(ok)
            for a, z in zip(cur, nxt):  # commit: the new values become the current ones
                va, vz = b.load(a), b.load(z)
                b.store(vz, a)
                b.store(va, z)
            b.store(b.not_(b.load(flip)), flip)
            b.store(b.fadd(b.load(total), b.fmul(loss, b.sitofp(n, DOUBLE))), total)
            b.store(b.add(b.load(steps), i64(1)), steps)
        store(b, b.fdiv(b.load(total), b.sitofp(ntot, DOUBLE)), losses, epoch)
    copy_back()
    b.ret(b.load(steps))
    b.position_at_end(fail)
    store(b, b.load(epoch_at), status, i64(0))
    store(b, b.load(batch_at), status, i64(1))
    store(b, b.load(what_at), status, i64(2))
    copy_back()
    b.ret(b.load(steps))
    doc = ", ".join(f"p{i}={p}" for i, p in enumerate(tp.params))
    mb.comments["train"] = [f"params: {doc}; optimizer state: {', '.join(tp.state) or 'none'}; "
                            f"hyperparameters: {', '.join(tp.hyper)}"]
    return mb.text(), len(argtys)


def _update_function(mb, tp, i, ty):
    """``{double, double} update_i(p, p_new, g, <state>, <state_new>, hyper, t)``: the optimizer's
    update of param i as one flat loop (targets applied in order) reading the committed
    buffers and writing the new ones; returns the sums of g·0 and of (new values)·0, which
    are 0 when everything is finite and NaN otherwise (they cannot overflow)."""
    step = tp.step
    name = tp.params[i]
    count = size(step.buffers[name].shape)
    gname = step.outputs[1 + i]
    gtype = ltype(step.buffers[gname].dtype)
    nstate = len(tp.state)
    pair = ir.LiteralStructType([DOUBLE, DOUBLE])
    argtys = [ty.as_pointer(), ty.as_pointer(), gtype.as_pointer()] + [ty.as_pointer()] * (2 * nstate) + \
             [DOUBLE.as_pointer(), DOUBLE]
    fn = ir.Function(mb.module, ir.FunctionType(pair, argtys), f"update{i}")
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    p_ptr, q_ptr, g_ptr, *rest = fn.args
    s_ptrs, r_ptrs, (hyper, tt) = rest[:nstate], rest[nstate:2 * nstate], rest[2 * nstate:]
    p_ptr.name, q_ptr.name, g_ptr.name, hyper.name, tt.name = "p", "p.new", "g", "hyper", "t"
    for s, arg, new_arg in zip(tp.state, s_ptrs, r_ptrs):
        arg.name, new_arg.name = s, f"{s}.new"
    # the gradient may be the param itself (a loss like ½‖W‖²): both are only read here, but
    # the gradient is left without noalias so no such fact is ever claimed of a shared buffer
    g_is_param = root(step, gname) in tp.params
    for arg in [p_ptr, q_ptr, *s_ptrs, *r_ptrs] + ([] if g_is_param else [g_ptr]):
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
    chk_g = entry_alloca(b, DOUBLE, "chk.g")
    chk_u = entry_alloca(b, DOUBLE, "chk.u")
    b.store(c(0.0), chk_g)
    b.store(c(0.0), chk_u)
    splits = [split_body(expr, invariant, f"_h{k}_") for k, (_, expr) in enumerate(tp.updates)]
    for hoisted, _, _ in splits:
        for sym, sub in hoisted:
            tr.bind(sym, tr.value(sub))
    state_syms = {s: sp.Symbol(s, real=True) for s in tp.state}
    zero = c(0.0)
    with loop(b, dim_value(b, count, i64(1)), "u") as u:
        gv = to_double(b, load(b, g_ptr, u))
        b.store(b.fadd(b.load(chk_g), b.fmul(gv, zero), flags=REASSOC), chk_g)
        tr.bind(g, gv)
        pv = to_double(b, load(b, p_ptr, u))
        tr.bind(p, pv)
        olds = {}
        for s, arg in zip(tp.state, s_ptrs):
            olds[s] = to_double(b, load(b, arg, u))
            tr.bind(state_syms[s], olds[s])
        new = {}
        for (target, _), (_, inner, result) in zip(tp.updates, splits):
            for sym, sub in inner:
                tr.bind(sym, tr.value(sub))
            value = tr.value(result)
            new[target] = value
            tr.memo.clear()  # later rules see the updated target
            tr.bind(sp.Symbol(target, real=True), value)
        written = [convert(b, new.get("p", pv), ty)]
        store(b, written[0], q_ptr, u)
        for s, arg in zip(tp.state, r_ptrs):
            written.append(convert(b, new.get(s, olds[s]), ty))
            store(b, written[-1], arg, u)
        acc = b.load(chk_u)
        for v in written:  # the values as stored (a float32 param can overflow where its double did not)
            acc = b.fadd(acc, b.fmul(to_double(b, v), zero), flags=REASSOC)
        b.store(acc, chk_u)
    out = b.insert_value(ir.Constant(pair, ir.Undefined), b.load(chk_g), 0)
    b.ret(b.insert_value(out, b.load(chk_u), 1))
    return fn, count


def build_training(tp):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs) -> (steps, losses, status)``
    running the fused loop; ``params``/``state`` are lists of arrays updated in place."""
    step = tp.step
    nlead = 2 + 2 * len(tp.params) * (1 + len(tp.state)) + 2
    sig = [P] * nlead + [ctypes.c_int64] * 4 + [P] * (2 + len(step.consts) + len(step.slot_sizes) + 2)
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
        # the second set of params and state a step writes before it is known to be finite
        count = [int(size(step.buffers[p].shape)) for p in tp.params]
        shadows = [aligned_empty(max(k, 1), d) for k, d in zip(count, pdtypes)]
        state_shadows = [aligned_empty(max(k, 1), d) for k, d in zip(count, pdtypes) for _ in tp.state]
        return ((xb, yb, arenas, shadows, state_shadows), address(xb), address(yb), [address(a) for a in arenas],
                [address(a) for a in shadows], [address(a) for a in state_shadows])

    def train(X, Y, params, state, hyper, perm, t0, bs):
        n_rows = min(bs, perm.shape[1])
        _, xb, yb, arena_ptrs, shadow_ptrs, state_shadow_ptrs = scratch.get(n_rows, lambda: buffers(n_rows, X, Y))
        X = np.ascontiguousarray(X, dtype=xdtype)
        Y = np.ascontiguousarray(Y, dtype=ydtype)
        perm = np.ascontiguousarray(perm, dtype=np.int64)
        for p, d in zip(params, pdtypes):  # updated in place: must be the caller's own memory
            if not (p.flags.c_contiguous and p.dtype == d):
                raise ValueError("llvm backend: params must be C-contiguous arrays of the program's dtype")
        hyper = np.asarray(hyper, np.float64)
        losses = np.zeros(perm.shape[0])
        status = np.full(3, -1, dtype=np.int64)
        steps = fn(address(X), address(Y), *[address(p) for p in params], *shadow_ptrs,
                   *[address(s) for group in state for s in group], *state_shadow_ptrs, address(hyper),
                   address(perm), perm.shape[0], perm.shape[1], int(t0), int(bs), xb, yb, *const_ptrs, *arena_ptrs,
                   address(losses), address(status))
        return int(steps), losses, tuple(int(v) for v in status) if status[0] >= 0 else None

    return Compiled(train, kernel)
