"""numba source for the window steps (``Conv``, ``Pool``): loop nests over flat arrays.

A convolution is written as the textbook loops over batch, channels and kernel offsets,
with the spatial loops innermost (contiguous in the output for stride 1, so LLVM
vectorises them); the output positions whose window leaves the input (padding) are cut
off by each loop's bounds instead of tested per element.
"""


from codegen.layout import size as _size
from codegen.layout import strides as _strides
from codegen.numba_backend.printer import literal
from codegen.windows import offsets, roles, valid


def _code(dim):
    from codegen.numba_backend.emit import code
    return code(dim)


def _spatial(lines, indent, prefix, ranges, body):
    """Nested loops y0 … over [lo, hi) ranges, ``body(ys)`` innermost; returns the lines."""
    ys = [f"{prefix}y{d}" for d in range(len(ranges))]
    for d, (lo, hi) in enumerate(ranges):
        lines.append("    " * (indent + d) + f"for {ys[d]} in range({lo}, {hi}):")
    lines.append("    " * (indent + len(ranges)) + body(ys))


def _lin(terms):
    parts = [f"{i}" if st == 1 else f"{i}*{_code(st)}" for i, st in terms if st != 0]
    return " + ".join(parts) or "0"


def conv_lines(em, step, prefix):
    """Source lines of a Conv step (see ``codegen.program.Conv``)."""
    r = roles(step)
    xs, ws, gs = (tuple(em.shape(r[k])) for k in ("x", "w", "g"))
    X, W, G = (em.var(r[k]) for k in ("x", "w", "g"))
    O = em.var(step.out)
    dtype = "float32" if str(em.p.buffers[step.out].dtype) == "float32" else "float64"
    zero = literal(0.0, dtype)
    xst, wst, gst = _strides(xs), _strides(ws), _strides(gs)
    D = len(ws) - 2
    nb, nc, no = _code(xs[0]), ws[1], ws[0]
    n_, o_, c_ = f"{prefix}n", f"{prefix}o", f"{prefix}c"
    xb, wb, gb = f"{prefix}xb", f"{prefix}wb", f"{prefix}gb"
    lines = []

    def bases(indent):
        return ["    " * indent + f"{xb} = {_lin([(n_, xst[0]), (c_, xst[1])])}",
                "    " * indent + f"{wb} = {_lin([(o_, wst[0]), (c_, wst[1])])}",
                "    " * indent + f"{gb} = {_lin([(n_, gst[0]), (o_, gst[1])])}"]

    def terms(k, ys):
        """(x index, g index) at offset k for spatial loop variables ys."""
        const = sum((kd - p) * xst[2 + d] for d, (kd, p) in enumerate(zip(k, step.padding)))
        xi = [xb] + ([str(const)] if const else []) + \
            [f"{y}*{s * xst[2 + d]}" if s * xst[2 + d] != 1 else y for d, (y, s) in enumerate(zip(ys, step.stride))]
        gi = [gb] + [f"{y}*{gst[2 + d]}" if gst[2 + d] != 1 else y for d, y in enumerate(ys)]
        return " + ".join(xi), " + ".join(gi)

    def ranges(k):
        return [valid(kd, s, p, xs[2 + d], gs[2 + d]) for d, (kd, s, p) in enumerate(zip(k, step.stride, step.padding))]

    kflat = {k: sum(kd * wst[2 + d] for d, kd in enumerate(k)) for k in offsets(ws[2:])}
    if step.mode == "forward":
        lines += [f"for {prefix}z in range({_code(_size(gs))}):", f"    {O}[{prefix}z] = {zero}",
                  f"for {n_} in range({nb}):", f"    for {o_} in range({no}):", f"        for {c_} in range({nc}):"]
        lines += bases(3)
        for k, kf in kflat.items():
            lines.append(f"            {prefix}w = {W}[{wb} + {kf}]")
            _spatial(lines, 3, prefix, ranges(k),
                     lambda ys, k=k: "{0}[{2}] += {1}w*{3}[{4}]".format(O, prefix, terms(k, ys)[1], X, terms(k, ys)[0]))
    elif step.mode == "input":
        lines += [f"for {prefix}z in range({_code(_size(xs))}):", f"    {O}[{prefix}z] = {zero}",
                  f"for {n_} in range({nb}):", f"    for {c_} in range({nc}):", f"        for {o_} in range({no}):"]
        lines += bases(3)
        for k, kf in kflat.items():
            lines.append(f"            {prefix}w = {W}[{wb} + {kf}]")
            _spatial(lines, 3, prefix, ranges(k),
                     lambda ys, k=k: "{0}[{2}] += {1}w*{3}[{4}]".format(O, prefix, terms(k, ys)[0], G, terms(k, ys)[1]))
    else:
        lines += [f"for {o_} in range({no}):", f"    for {c_} in range({nc}):"]
        for k, kf in kflat.items():
            lines += [f"        {prefix}acc = {zero}", f"        for {n_} in range({nb}):"]
            lines += bases(3)
            _spatial(lines, 3, prefix, ranges(k),
                     lambda ys, k=k: "{0}acc += {1}[{2}]*{3}[{4}]".format(prefix, G, terms(k, ys)[1], X, terms(k, ys)[0]))
            lines.append(f"        {O}[{_lin([(o_, wst[0]), (c_, wst[1])])} + {kf}] = {prefix}acc")
    return lines


def pool_lines(em, step, prefix):
    """Source lines of a Pool step (see ``codegen.program.Pool``)."""
    d = len(step.kernel)
    x_name = step.ins[0]
    big = tuple(em.shape(step.out)) if step.mode.startswith("unpool") else tuple(em.shape(x_name))
    small = tuple(em.shape(step.ins[-1])) if step.mode.startswith("unpool") else tuple(em.shape(step.out))
    planes = _code(_size(big[:-d]))
    bst, sst = _strides(big[-d:]), _strides(small[-d:])
    bplane, splane = _code(_size(big[-d:])), _code(_size(small[-d:]))
    dtype = "float32" if str(em.p.buffers[step.out].dtype) == "float32" else "float64"
    O = em.var(step.out)
    P, Y = f"{prefix}p", [f"{prefix}y{j}" for j in range(d)]
    keys = offsets(step.kernel)
    lines = []
    if step.mode.startswith("unpool"):
        lines += [f"for {prefix}z in range({_code(_size(big))}):", f"    {O}[{prefix}z] = {literal(0.0, dtype)}"]
    lines.append(f"for {P} in range({planes}):")
    for j in range(d):
        lines.append("    " * (j + 1) + f"for {Y[j]} in range({small[len(small) - d + j]}):")
    ind = "    " * (d + 1)
    base = f"{prefix}b"
    lines.append(ind + f"{base} = {P}*{bplane} + " + " + ".join(f"{Y[j]}*{step.stride[j] * bst[j]}" for j in range(d)))
    lines.append(ind + f"{prefix}s = {P}*{splane} + " + " + ".join(f"{Y[j]}*{sst[j]}" for j in range(d)))
    at = {k: sum(kd * bst[j] for j, kd in enumerate(k)) for k in keys}

    def first_max(src):
        """lines setting m (the max) and j (the offset of its first occurrence; NaN wins)."""
        out = [ind + f"{prefix}m = {src}[{base}]", ind + f"{prefix}j = 0"]
        for k in keys[1:]:
            out += [ind + f"{prefix}v = {src}[{base} + {at[k]}]",
                    ind + f"if {prefix}v > {prefix}m or ({prefix}v != {prefix}v and {prefix}m == {prefix}m):",
                    ind + f"    {prefix}m = {prefix}v",
                    ind + f"    {prefix}j = {at[k]}"]
        return out

    if step.mode == "max":
        lines += first_max(em.var(x_name)) + [ind + f"{O}[{prefix}s] = {prefix}m"]
    elif step.mode == "avg":
        X = em.var(x_name)
        total = " + ".join(f"{X}[{base} + {at[k]}]" for k in keys)
        lines.append(ind + f"{O}[{prefix}s] = ({total}) / {literal(float(len(keys)), dtype)}")
    elif step.mode == "pick":
        lines += first_max(em.var(x_name)) + [ind + f"{O}[{prefix}s] = {em.var(step.ins[1])}[{base} + {prefix}j]"]
    elif step.mode == "unpool_max":
        lines += first_max(em.var(x_name)) + [ind + f"{O}[{base} + {prefix}j] += {em.var(step.ins[1])}[{prefix}s]"]
    else:
        G = em.var(step.ins[0])
        lines.append(ind + f"{prefix}g = {G}[{prefix}s] / {literal(float(len(keys)), dtype)}")
        lines += [ind + f"{O}[{base} + {at[k]}] += {prefix}g" for k in keys]
    return lines


__all__ = ["conv_lines", "pool_lines"]
