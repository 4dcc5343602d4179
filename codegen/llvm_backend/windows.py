"""LLVM IR for the window steps (``Conv``, ``Pool``): the loop nests numba's emitter writes as
source (``codegen.numba_backend.windows``), here as IR with every size but the batch a
constant, kernel offsets unrolled and the padded border cut off by each loop's bounds, so
the innermost spatial loop is a plain strided multiply-add that LLVM vectorises.
"""

from llvmlite import ir

from codegen.layout import size, strides
from codegen.llvm_backend.irbuild import entry_alloca, i64, load, loop, store
from codegen.windows import offsets, roles, valid

#: a·b + c may become one fused multiply-add; sums may be reassociated (so they vectorise)
FAST = ("reassoc", "contract")


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
    kflat = {k: sum(kd * wst[2 + d] for d, kd in enumerate(k)) for k in keys}

    def ranges(k):
        return [valid(kd, s, p, xs[2 + d], gs[2 + d]) for d, (kd, s, p) in enumerate(zip(k, step.stride, step.padding))]

    def at(base, k, ys):
        """(x index, g index) at kernel offset k and spatial position ys."""
        const = sum((kd - p) * xst[2 + d] for d, (kd, p) in enumerate(zip(k, step.padding)))
        xi = _sum(b, [base[0], const] + [_scaled(b, y, s * xst[2 + d]) for d, (y, s) in enumerate(zip(ys, step.stride))])
        gi = _sum(b, [base[2]] + [_scaled(b, y, gst[2 + d]) for d, y in enumerate(ys)])
        return xi, gi

    def bases(nn, o, c):
        return (_sum(b, [_scaled(b, nn, xst[0]), _scaled(b, c, xst[1])]),
                _sum(b, [_scaled(b, o, wst[0]), _scaled(b, c, wst[1])]),
                _sum(b, [_scaled(b, nn, gst[0]), _scaled(b, o, gst[1])]))

    if step.mode in ("forward", "input"):
        with loop(b, dim_value(b, size(em.shape(step.out)), n), "z") as z:
            store(b, zero, O, z)
        src = X if step.mode == "forward" else G
        outer = ("o", "c") if step.mode == "forward" else ("c", "o")
        counts = {"o": i64(ws[0]), "c": i64(ws[1])}
        with loop(b, nb, "n") as nn, loop(b, counts[outer[0]], outer[0]) as u, loop(b, counts[outer[1]], outer[1]) as v:
            idx = dict(zip(outer, (u, v)))
            base = bases(nn, idx["o"], idx["c"])
            for k in keys:
                wv = load(b, W, _sum(b, [base[1], kflat[k]]))

                def body(ys, k=k, wv=wv):
                    xi, gi = at(base, k, ys)
                    dst, si = (gi, xi) if step.mode == "forward" else (xi, gi)
                    prod = b.fmul(wv, load(b, src, si), flags=FAST)
                    store(b, b.fadd(load(b, O, dst), prod, flags=FAST), O, dst)

                _box(b, ranges(k), body, f"k{len(kflat)}y")
        return
    acc = entry_alloca(b, ty, "acc")
    with loop(b, i64(ws[0]), "o") as o, loop(b, i64(ws[1]), "c") as c:
        wb = _sum(b, [_scaled(b, o, wst[0]), _scaled(b, c, wst[1])])
        for k in keys:
            b.store(zero, acc)
            with loop(b, nb, "n") as nn:
                base = bases(nn, o, c)

                def body(ys, k=k, base=base):
                    xi, gi = at(base, k, ys)
                    prod = b.fmul(load(b, G, gi), load(b, X, xi), flags=FAST)
                    b.store(b.fadd(b.load(acc), prod, flags=FAST), acc)

                _box(b, ranges(k), body, "y")
            store(b, b.load(acc), O, _sum(b, [wb, kflat[k]]))


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
            else:
                dst = b.add(base, j, flags=["nsw"])
                store(b, b.fadd(load(b, O, dst), load(b, ptrs[step.ins[1]], si)), O, dst)

    planes = dim_value(b, size(big[:-d]), n)
    with loop(b, planes, "p") as p:
        _box(b, [(0, c) for c in small[-d:]], lambda ys: body(p, ys), "y")
