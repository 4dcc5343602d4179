"""LLVM IR for the window steps (``Conv``, ``Pool``): the loop nests numba's emitter writes as
source (``codegen.numba_backend.windows``), here as IR with every size but the batch a
constant, kernel offsets unrolled and the padded border cut off by each loop's bounds, so
the innermost spatial loop is a plain strided multiply-add that LLVM vectorises.
"""

import itertools

from llvmlite import ir

from codegen.layout import size, strides
from codegen.llvm_backend.irbuild import entry_alloca, i64, load, loop, store
from codegen.windows import offsets, roles, valid

#: a·b + c may become one fused multiply-add; sums may be reassociated (so they vectorise)
FAST = ("reassoc", "contract")
#: multiply-adds per position in one blocked loop body (output channels × kernel offsets)
BLOCK = 160
#: output channels whose weight-gradient sums share each load of the input
WBLOCK = 8


def _sum(b, terms):
    """Σ of i64 values and ints (ints folded into one constant)."""
    const = sum(t for t in terms if isinstance(t, int))
    values = [t for t in terms if not isinstance(t, int)]
    out = i64(const) if not values else values[0]
    for v in values[1:]:
        out = b.add(out, v, flags=["nsw"])
    if values and const:
        out = b.add(out, i64(const), flags=["nsw"])
    return out


def _scaled(b, v, k):
    return 0 if k == 0 else v if k == 1 else b.mul(v, i64(k), flags=["nsw"])


def _box(b, ranges, emit, name):
    """Nested loops over the boxes' [lo, hi) ranges; ``emit(ys)`` writes the body."""
    def level(d, ys):
        if d == len(ranges):
            emit(ys)
            return
        lo, hi = ranges[d]
        if hi <= lo:
            return
        with loop(b, i64(hi - lo), f"{name}{d}") as i:
            level(d + 1, ys + [b.add(i, i64(lo), flags=["nsw"]) if lo else i])
    level(0, [])


def _range(off, stride, size, count):
    """[lo, hi): positions y < count with y·stride + off inside [0, size)."""
    lo = max(0, -(off // stride))
    hi = min(count, (size - 1 - off) // stride + 1)
    return lo, max(lo, hi)


class _Correlation:
    """dst[y] (+)= Σ_k w_k · src[y·stride + off_k] over the spatial positions y of one plane
    (every axis at once), for the kernel offsets k: the loop body shared by the forward
    convolution and the stride-1 input gradient (a full convolution).

    Along each axis the positions split into segments on which the set of kernel offsets
    reading inside src does not change (one segment when nothing is padded); each box of
    segments is one loop nest with those offsets unrolled, so every position loads dst once
    and runs its multiply-adds in registers, and no position tests bounds."""

    def __init__(self, stride, offs, src_sizes, dst_counts, src_st, dst_st):
        self.stride, self.offs, self.src_st, self.dst_st = stride, offs, src_st, dst_st
        self.ranges = [[_range(o, s, size, count) for o, s, size, count in zip(off, stride, src_sizes, dst_counts)]
                       for off in offs]
        cuts = []
        for d, count in enumerate(dst_counts):
            points = sorted({0, count} | {r[d][0] for r in self.ranges} | {r[d][1] for r in self.ranges})
            cuts.append([(lo, hi) for lo, hi in zip(points, points[1:]) if hi > lo])
        self.boxes = []
        for box in itertools.product(*cuts):
            ks = [k for k, r in enumerate(self.ranges) if all(rl <= lo and hi <= rh for (lo, hi), (rl, rh) in zip(box, r))]
            if ks:
                self.boxes.append((list(box), ks))

    def src_index(self, b, base, k, ys):
        const = sum(o * st for o, st in zip(self.offs[k], self.src_st))
        return _sum(b, [base, const] + [_scaled(b, y, s * st) for y, s, st in zip(ys, self.stride, self.src_st)])

    def dst_index(self, b, base, ys):
        return _sum(b, [base] + [_scaled(b, y, st) for y, st in zip(ys, self.dst_st)])

    def accumulate(self, b, dst, dst_bases, src, src_base, weights):
        """dst planes j += the correlation of src with ``weights[j]`` (one value per k): each
        src value is loaded once for every plane of the block."""
        for box, ks in self.boxes:
            def fused(ys, ks=ks):
                xs = {k: load(b, src, self.src_index(b, src_base, k, ys)) for k in ks}
                for base, ws in zip(dst_bases, weights):
                    di = self.dst_index(b, base, ys)
                    acc = load(b, dst, di)
                    for k in ks:
                        acc = b.fadd(acc, b.fmul(ws[k], xs[k], flags=FAST), flags=FAST)
                    store(b, acc, dst, di)
            _box(b, box, fused, "y")

    def products(self, b, rows, a, a_bases, src, src_base):
        """rows[j][k][x] += Σ over the other axes of a_j[y] · src[y·stride + off_k] (x the last
        axis of y; a_j the plane at ``a_bases[j]``): the weight gradient's sums, kept as rows of
        partial sums so the loop over x vectorises without a horizontal sum per row (the
        caller adds each row up at the end); each src value is loaded once for the block."""
        for box, ks in self.boxes:
            def add(ys, ks=ks):
                xs = {k: load(b, src, self.src_index(b, src_base, k, ys)) for k in ks}
                for j, base in enumerate(a_bases):
                    av = load(b, a, self.dst_index(b, base, ys))
                    for k in ks:
                        row = b.gep(rows, [i64(0), i64(j), i64(k), ys[-1]], inbounds=True)
                        b.store(b.fadd(b.load(row), b.fmul(av, xs[k], flags=FAST), flags=FAST), row)
            _box(b, box, add, "y")


def emit_conv(em, b, step, ptrs, n, dim_value, ltype):
    """The IR of a Conv step (see ``codegen.program.Conv``) into builder ``b``."""
    r = roles(step)
    xs, ws, gs = (tuple(em.shape(r[k])) for k in ("x", "w", "g"))
    X, W, G, O = ptrs[r["x"]], ptrs[r["w"]], ptrs[r["g"]], ptrs[step.out]
    ty = ltype(em.dtype(step.out))
    zero = ir.Constant(ty, 0.0)
    xst, wst, gst = ([int(v) for v in strides(s)] for s in (xs, ws, gs))
    nb = dim_value(b, xs[0], n)
    keys = offsets(ws[2:])
    kflat = [sum(kd * wst[2 + d] for d, kd in enumerate(k)) for k in keys]
    D = len(ws) - 2
    unit = all(s == 1 for s in step.stride)
    if step.mode == "forward":
        plan = _Correlation(step.stride, [tuple(kd - p for kd, p in zip(k, step.padding)) for k in keys],
                            xs[2:], gs[2:], xst[2:], gst[2:])
    elif step.mode == "input" and unit:  # dx[X] = Σ_k δ[X + p − k] w_k: a correlation too
        plan = _Correlation((1,) * D, [tuple(p - kd for kd, p in zip(k, step.padding)) for k in keys],
                            gs[2:], xs[2:], gst[2:], xst[2:])
    else:
        plan = _Correlation(step.stride, [tuple(kd - p for kd, p in zip(k, step.padding)) for k in keys],
                            xs[2:], gs[2:], xst[2:], gst[2:])

    def plane(arr_st, i, j):
        return _sum(b, [_scaled(b, i, arr_st[0]), _scaled(b, j, arr_st[1])])

    if step.mode in ("forward", "input"):
        with loop(b, dim_value(b, size(em.shape(step.out)), n), "z") as z:
            store(b, zero, O, z)
        if step.mode == "forward" or unit:
            # dst channels (o for forward, c for the input gradient) in blocks that share each
            # load of the src channel: register blocking over output channels
            dst_ch, src_ch = ("o", "c") if step.mode == "forward" else ("c", "o")
            count = {"o": ws[0], "c": ws[1]}
            src_arr, src_st, dst_st = (X, xst, gst) if step.mode == "forward" else (G, gst, xst)
            block = max(1, min(count[dst_ch], BLOCK // max(1, len(keys))))
            with loop(b, nb, "n") as nn, loop(b, i64(count[src_ch]), src_ch) as sc:
                src_base = plane(src_st, nn, sc)

                def run(first, width):
                    chans = [b.add(first, i64(j), flags=["nsw"]) if j else first for j in range(width)]
                    weights = []
                    for ch in chans:
                        wb = plane(wst, ch, sc) if dst_ch == "o" else plane(wst, sc, ch)
                        weights.append([load(b, W, _sum(b, [wb, kf])) for kf in kflat])
                    plan.accumulate(b, O, [plane(dst_st, nn, ch) for ch in chans], src_arr, src_base, weights)

                full, tail = divmod(count[dst_ch], block)
                if full:
                    with loop(b, i64(full), "blk") as blk:
                        run(b.mul(blk, i64(block), flags=["nsw"]), block)
                if tail:
                    run(i64(full * block), tail)
            return
        # strided input gradient: scatter δ·w_k to the input positions it came from
        with loop(b, nb, "n") as nn, loop(b, i64(ws[1]), "c") as c, loop(b, i64(ws[0]), "o") as o:
            wb = plane(wst, o, c)
            xb, gb = plane(xst, nn, c), plane(gst, nn, o)
            for k, kf in enumerate(kflat):
                wv = load(b, W, _sum(b, [wb, kf]))

                def body(ys, k=k, wv=wv):
                    xi = plan.src_index(b, xb, k, ys)
                    prod = b.fmul(wv, load(b, G, plan.dst_index(b, gb, ys)), flags=FAST)
                    store(b, b.fadd(load(b, O, xi), prod, flags=FAST), O, xi)
                _box(b, plan.ranges[k], body, "y")
        return
    width = gs[-1]
    # the partial-sum rows live on the stack: at most 64 KiB of them
    item = 4 if em.dtype(step.out) == "float32" else 8
    block = max(1, min(ws[0], WBLOCK, (1 << 16) // (len(keys) * width * item)))
    rows = entry_alloca(b, ir.ArrayType(ir.ArrayType(ir.ArrayType(ty, width), len(keys)), block), "rows")

    def run(first, count, c):
        chans = [b.add(first, i64(j), flags=["nsw"]) if j else first for j in range(count)]
        with loop(b, i64(block * len(keys) * width), "z") as z:
            b.store(zero, b.gep(b.bitcast(rows, ty.as_pointer()), [z], inbounds=True))
        with loop(b, nb, "n") as nn:
            plan.products(b, rows, G, [plane(gst, nn, o) for o in chans], X, plane(xst, nn, c))
        for j, o in enumerate(chans):
            wb = plane(wst, o, c)
            for k, kf in enumerate(kflat):
                total = zero
                for x in range(width):
                    total = b.fadd(total, b.load(b.gep(rows, [i64(0), i64(j), i64(k), i64(x)], inbounds=True)),
                                   flags=FAST)
                store(b, total, O, _sum(b, [wb, kf]))

    full, tail = divmod(ws[0], block)
    with loop(b, i64(ws[1]), "c") as c:
        if full:
            with loop(b, i64(full), "blk") as blk:
                run(b.mul(blk, i64(block), flags=["nsw"]), block, c)
        if tail:
            run(i64(full * block), tail, c)


def emit_pool(em, b, step, ptrs, n, dim_value, ltype):
    """The IR of a Pool step (see ``codegen.program.Pool``) into builder ``b``."""
    d = len(step.kernel)
    unpool = step.mode.startswith("unpool")
    big = tuple(em.shape(step.out)) if unpool else tuple(em.shape(step.ins[0]))
    small = tuple(em.shape(step.ins[-1])) if unpool else tuple(em.shape(step.out))
    bst, sst = [int(v) for v in strides(big[-d:])], [int(v) for v in strides(small[-d:])]
    bplane, splane = int(size(big[-d:])), int(size(small[-d:]))
    ty = ltype(em.dtype(step.out))
    O = ptrs[step.out]
    keys = offsets(step.kernel)
    at = [sum(kd * bst[j] for j, kd in enumerate(k)) for k in keys]
    disjoint = all(s >= k for s, k in zip(step.stride, step.kernel))
    scale = ir.Constant(ty, 1.0 / len(keys))
    if unpool:
        with loop(b, dim_value(b, size(big), n), "z") as z:
            store(b, ir.Constant(ty, 0.0), O, z)
    best = entry_alloca(b, ty, "m")
    where = entry_alloca(b, ir.IntType(64), "j")

    def first_max(src, base):
        """The window's first maximum (a NaN wins, as np.max) and its flat offset."""
        b.store(load(b, src, base), best)
        b.store(i64(0), where)
        for off in at[1:]:
            v = load(b, src, b.add(base, i64(off), flags=["nsw"]))
            m = b.load(best)
            take = b.or_(b.fcmp_ordered(">", v, m), b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", m, m)))
            b.store(b.select(take, v, m), best)
            b.store(b.select(take, i64(off), b.load(where)), where)
        return b.load(best), b.load(where)

    def body(p, ys):
        base = _sum(b, [_scaled(b, p, bplane)] + [_scaled(b, y, s * st) for y, s, st in zip(ys, step.stride, bst)])
        si = _sum(b, [_scaled(b, p, splane)] + [_scaled(b, y, st) for y, st in zip(ys, sst)])
        if step.mode == "avg":
            X = ptrs[step.ins[0]]
            total = load(b, X, base)
            for off in at[1:]:
                total = b.fadd(total, load(b, X, b.add(base, i64(off), flags=["nsw"])))
            store(b, b.fmul(total, scale) if len(keys) & (len(keys) - 1) == 0 else
                  b.fdiv(total, ir.Constant(ty, float(len(keys)))), O, si)
        elif step.mode == "unpool_avg":
            gv = b.fdiv(load(b, ptrs[step.ins[0]], si), ir.Constant(ty, float(len(keys))))
            for off in at:
                dst = b.add(base, i64(off), flags=["nsw"])
                store(b, b.fadd(load(b, O, dst), gv), O, dst)
        else:
            m, j = first_max(ptrs[step.ins[0]], base)
            if step.mode == "max":
                store(b, m, O, si)
            elif step.mode == "pick":
                store(b, load(b, ptrs[step.ins[1]], b.add(base, j, flags=["nsw"])), O, si)
            elif disjoint:  # each position in one window at most: a select per position, no scatter
                gv = load(b, ptrs[step.ins[1]], si)
                zero = ir.Constant(ty, 0.0)
                for off in at:
                    hit = b.icmp_signed("==", j, i64(off))
                    store(b, b.select(hit, gv, zero), O, b.add(base, i64(off), flags=["nsw"]))
            else:
                dst = b.add(base, j, flags=["nsw"])
                store(b, b.fadd(load(b, O, dst), load(b, ptrs[step.ins[1]], si)), O, dst)

    planes = dim_value(b, size(big[:-d]), n)
    with loop(b, planes, "p") as p:
        _box(b, [(0, c) for c in small[-d:]], lambda ys: body(p, ys), "y")
