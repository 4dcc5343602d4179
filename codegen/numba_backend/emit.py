"""Kernel program -> numba source: loops over flat arrays, one block per step.

Every buffer is a flat, C-ordered 1-D array inside a kernel (a scalar is one element);
temporaries are slices of one arena per dtype, laid out by the program's slot plan for
the batch size ``n`` of the call.  Elementwise maps whose operands are full-size or
single elements become one flat loop (what LLVM vectorises best); broadcasting maps,
transposes and reductions become loop nests with computed strides; products call BLAS
(``blas.gemm``).  Each step computes in its output's dtype: a float32 step has float32
literals, math functions and accumulators (see ``printer``), as numpy computes it.

>>> import sympy as sp
>>> from codegen.program import Program, Buffer, Map
>>> x = sp.Symbol("x0", real=True)
>>> p = Program({"a": Buffer("a", (3,), "float64", "input"), "t0": Buffer("t0", (3,), "float64", "temp")},
...             (Map("t0", ("a",), sp.Lambda(x, 2 * x)),), ("a",), {}, ("t0",),
...             slots={"t0": ("float64", 0)}, slot_sizes={"float64": (3,)})
>>> print("\\n".join(Emitter(p).step_lines()))
# t0 = map(a): 2*x0
for _s0_i in range(3):
    t0[_s0_i] = 2.0*a0[_s0_i]
"""

import re

import sympy as sp

from codegen.numba_backend.printer import FLOAT32, body_lines, literal
from codegen.layout import size as _size
from codegen.layout import slot_offsets
from codegen.layout import strides as _strides
from codegen.program import Broadcast, Map, MatMul, OneHot, Reduce, Reshape, Transpose, View, comment  # noqa: F401

N = sp.Symbol("N", integer=True, positive=True)
_n = sp.Symbol("n", integer=True, positive=True)

def code(dim):
    """Source for a dimension or size: ints as literals, the batch size as ``n``.

    >>> code(3 * N + 1)
    '3*n + 1'
    """
    dim = sp.sympify(dim)
    return str(int(dim)) if dim.is_Integer else sp.sstr(dim.subs(N, _n))


def float_dtype(dtype):
    """The dtype a step's arithmetic runs in: float32 for float32 buffers, float64 otherwise."""
    return "float32" if str(dtype) == "float32" else "float64"


class Emitter:
    """Source lines of a program's steps.  ``var(name)`` is a buffer's identifier.

    ``dtype`` is the kernel's float dtype: float32 when every float buffer is float32, so
    the batch size ``nf`` (and whatever else the kernel shares between steps) is float32 too.
    """

    def __init__(self, program):
        self.p = program
        floats = {str(b.dtype) for b in program.buffers.values()
                  if str(b.dtype).startswith("float") and b.role != "control"}
        self.dtype = "float32" if floats == {"float32"} else "float64"
        self.float32 = "float32" in floats  # some step computes in float32
        self.vars = {}
        for i, name in enumerate(program.args):
            self.vars[name] = f"a{i}"
        for i, name in enumerate(program.consts):
            self.vars[name] = f"k{i}"
        for step in program.steps:
            # a temporary: lowering's t<k> names are identifiers; any other name (a gathered
            # minibatch named after its input) gets one, so no name of a model becomes code
            ident = step.out if re.fullmatch(r"t\d+", step.out) else f"v{len(self.vars)}"
            self.vars.setdefault(step.out, ident)  # (an update writes its param in place: already mapped)
        for view, src in program.aliases.items():
            self.vars[view] = self.vars[src]
        self.views = {s.out: s for s in program.steps if isinstance(s, View)}

    def var(self, name):
        return self.vars[name]

    def nf_line(self):
        """The batch size as a float of the kernel's dtype, for bodies that use ``N``."""
        return f"nf = np.{self.dtype}(n)"

    def shape(self, name):
        return self.p.buffers[name].shape

    # ---- arena ----------------------------------------------------------------------------
    def arena_lines(self):
        """Slices of the arenas for every temporary (sizes depend on ``n``), made by
        ``views.arena_view`` (numba's own slicing cost 0.45 s of W1's cold compile)."""
        lines = []
        offsets = slot_offsets(self.p)
        for step in self.p.steps:
            if step.out in self.p.aliases or step.out not in self.p.slots:
                continue
            dtype, slot = self.p.slots[step.out]
            start = offsets[(dtype, slot)]
            size = _size(self.shape(step.out))
            arena = f"arena_{dtype}"
            lines.append(f"{self.var(step.out)} = arena_view({arena}, {code(start)}, {code(start + size)})")
        return lines

    # ---- steps ----------------------------------------------------------------------------
    def step_lines(self):
        lines = []
        for i, step in enumerate(self.p.steps):
            if isinstance(step, (Reshape, View)):  # names for memory other steps write
                continue
            origin = self.p.origins.get(step.out)
            text = step.describe() + (f"    <- {origin}" if origin and isinstance(step, Map) else "")
            lines.append(f"# {comment(text)}")
            method = getattr(self, "_" + type(step).__name__.lower())
            lines.extend(method(step, f"_s{i}_"))
        return lines

    def _map(self, step, prefix, body=None):
        body = body if body is not None else step.body
        out_shape = self.shape(step.out)
        rank = len(out_shape)
        size = _size(out_shape)
        dtype = float_dtype(self.p.buffers[step.out].dtype)
        names, invariant = {N: "nf"}, {N}
        flat = True
        plans = []
        for var, name in zip(body.variables, step.ins):
            shape = (1,) * (rank - len(self.shape(name))) + tuple(self.shape(name))
            osize = _size(shape)
            if name in self.views:  # a slice read in place: its own offset and strides
                flat = flat and rank <= 1
                plans.append((var, name, "view" if osize != 1 else None))
            elif osize == 1:
                plans.append((var, name, None))
            elif tuple(shape) == tuple(out_shape):
                plans.append((var, name, "full"))
            else:
                flat = False
                plans.append((var, name, shape))
        loops, index = self._loop_nest(out_shape, flat, prefix)
        for var, name, kind in plans:
            v = self.var(name)
            if kind is None:
                names[var] = f"{v}[{code(self.views[name].offset) if name in self.views else 0}]"
                invariant.add(var)
            elif kind == "full":
                names[var] = f"{v}[{index}]"
            elif kind == "view":
                names[var] = f"{v}[{self._view_index(self.views[name], out_shape, prefix, flat or rank <= 1)}]"
            else:
                names[var] = f"{v}[{self._broadcast_index(kind, out_shape, prefix)}]"
        wide = {N: f"{prefix}nf"} if dtype != self.dtype else None  # a float64 nf in a float32 step
        hoisted, inner, result = body_lines(body.expr, names, invariant, prefix, dtype, wide)
        lines = list(hoisted)
        if size == 0:
            return lines
        depth = len(loops)
        lines.extend(loops)
        pad = "    " * depth
        lines.extend(pad + line for line in inner)
        lines.append(f"{pad}{self.var(step.out)}[{index}] = {result}")
        return lines

    def _loop_nest(self, shape, flat, prefix):
        """Loops over ``shape`` (one flat loop when possible) and the flat index expression."""
        if flat or len(shape) <= 1:
            return [f"for {prefix}i in range({code(_size(shape))}):"], f"{prefix}i"
        loops, terms = [], []
        strides = _strides(shape)
        for d, (dim, stride) in enumerate(zip(shape, strides)):
            loops.append("    " * d + f"for {prefix}i{d} in range({code(dim)}):")
            terms.append(f"{prefix}i{d}" if stride == 1 else f"{prefix}i{d}*{code(stride)}")
        return loops, " + ".join(terms)

    def _view_index(self, view, out_shape, prefix, flat):
        """offset + Σ i_d·stride_d of a view read by a map over ``out_shape`` (the view's axes
        aligned to the last ones of the output; its axes of length 1 broadcast)."""
        shape = tuple(self.shape(view.out))
        lead = len(out_shape) - len(shape)
        terms = [code(view.offset)] if code(view.offset) != "0" else []
        for d, (dim, stride) in enumerate(zip(shape, view.strides)):
            if dim == 1:
                continue
            i = f"{prefix}i" if flat else f"{prefix}i{lead + d}"
            terms.append(i if stride == 1 else f"{i}*{code(stride)}")
        return " + ".join(terms) or "0"

    def _broadcast_index(self, shape, out_shape, prefix):
        strides = _strides(shape)
        terms = []
        for d, (dim, odim, stride) in enumerate(zip(shape, out_shape, strides)):
            if dim == 1 and odim != 1:
                continue
            terms.append(f"{prefix}i{d}" if stride == 1 else f"{prefix}i{d}*{code(stride)}")
        return " + ".join(terms) or "0"

    def _broadcast(self, step, prefix):
        x = sp.Symbol("x0", real=True)
        fake = Map(step.out, (step.x,), sp.Lambda(x, x))
        return self._map(fake, prefix)

    def _matmul(self, step, prefix):
        # BLAS even for 16×16 layers: numba's loop nests of short fixed trip counts are
        # unrolled rather than vectorised and measured 4× slower than BLAS here; ``gemm``
        # (blas.py) calls it directly on the flat buffers, with no np.dot to type per product
        A, B, C = self.var(step.a), self.var(step.b), self.var(step.out)
        sa, sb = self.shape(step.a), self.shape(step.b)
        M, K = (sa[1], sa[0]) if step.trans_a else (sa[0], sa[1])
        Nn = sb[0] if step.trans_b else sb[1]
        return [f"gemm({A}, {B}, {C}, {code(M)}, {code(Nn)}, {code(K)}, {step.trans_a}, {step.trans_b})"]

    def _reduce(self, step, prefix):
        X, O = self.var(step.x), self.var(step.out)
        shape = tuple(self.shape(step.x))
        axes = tuple(step.axes)
        rank = len(shape)
        kept = [d for a, d in enumerate(shape) if a not in axes]
        reduced = [d for a, d in enumerate(shape) if a in axes]
        outer, inner = code(_size(kept)), code(_size(reduced))
        # accumulators in the output's dtype, as numpy's reductions (a float64 literal
        # would make a float32 sum accumulate in float64, converting every element)
        dtype = float_dtype(self.p.buffers[step.out].dtype)
        zero = literal(0.0, dtype)
        minf = "-np.inf" if dtype == "float64" else literal(float("-inf"), dtype)
        exp = FLOAT32["fexp"] if dtype == "float32" else "fexp"
        init = {"sum": zero, "max": minf, "logsumexp": minf}[step.kind]
        # fmaximum, not Python's max: a NaN element makes the maximum NaN, as np.max
        acc = (lambda a, v: f"{a} += {v}") if step.kind == "sum" else (lambda a, v: f"{a} = fmaximum({a}, {v})")
        r, q, s, m = f"{prefix}r", f"{prefix}q", f"{prefix}s", f"{prefix}m"
        if axes == tuple(range(rank - len(axes), rank)):  # trailing: one scalar per row
            if step.kind == "logsumexp":
                return [f"for {r} in range({outer}):",
                        f"    {m} = {minf}",
                        f"    for {q} in range({inner}):",
                        f"        {m} = fmaximum({m}, {X}[{r}*{inner} + {q}])",
                        # an infinite or NaN maximum shifts by 0, as the evaluator: log Σ exp(±inf) = ±inf
                        f"    if not np.isfinite({m}):",
                        f"        {m} = {zero}",
                        f"    {s} = {zero}",
                        f"    for {q} in range({inner}):",
                        f"        {s} += {exp}({X}[{r}*{inner} + {q}] - {m})",
                        f"    {O}[{r}] = {m} + np.log({s})"]
            return [f"for {r} in range({outer}):",
                    f"    {s} = {init}",
                    f"    for {q} in range({inner}):",
                    f"        {acc(s, f'{X}[{r}*{inner} + {q}]')}",
                    f"    {O}[{r}] = {s}"]
        if step.kind == "logsumexp":
            raise NotImplementedError("logsumexp over non-trailing axes is rewritten by lowering")
        if axes == tuple(range(len(axes))):  # leading: accumulate whole rows
            return [f"for {q} in range({outer}):",
                    f"    {O}[{q}] = {init}",
                    f"for {r} in range({inner}):",
                    f"    for {q} in range({outer}):",
                    f"        {acc(f'{O}[{q}]', f'{X}[{r}*{outer} + {q}]')}"]
        # general: loop over x, accumulate into the kept-axes index
        loops, index = self._loop_nest(shape, False, prefix)
        out_strides = _strides(kept)
        terms, k = [], 0
        for d in range(rank):
            if d in axes:
                continue
            stride = out_strides[k]
            terms.append(f"{prefix}i{d}" if stride == 1 else f"{prefix}i{d}*{code(stride)}")
            k += 1
        out_index = " + ".join(terms) or "0"
        pad = "    " * rank
        return [f"for {q} in range({outer}):", f"    {O}[{q}] = {init}", *loops,
                pad + acc(f"{O}[{out_index}]", f"{X}[{index}]")]

    def _transpose(self, step, prefix):
        X, O = self.var(step.x), self.var(step.out)
        out_shape = tuple(self.shape(step.out))
        in_strides = _strides(tuple(self.shape(step.x)))
        loops, index = self._loop_nest(out_shape, False, prefix)
        terms = []
        for d, axis in enumerate(step.perm):
            stride = in_strides[axis]
            terms.append(f"{prefix}i{d}" if stride == 1 else f"{prefix}i{d}*{code(stride)}")
        pad = "    " * len(out_shape)
        return [*loops, f"{pad}{O}[{index}] = {X}[{' + '.join(terms) or '0'}]"]

    def _onehot(self, step, prefix):
        L, O = self.var(step.labels), self.var(step.out)
        count = code(_size(self.shape(step.labels)))
        i, c = f"{prefix}i", f"{prefix}c"
        dtype = float_dtype(self.p.buffers[step.out].dtype)
        return [f"for {i} in range({count}*{step.k}):",
                f"    {O}[{i}] = {literal(0.0, dtype)}",
                f"for {i} in range({count}):",
                f"    {c} = {L}[{i}]",
                f"    if 0 <= {c} < {step.k}:",
                f"        {O}[{i}*{step.k} + {c}] = {literal(1.0, dtype)}"]


    def _copy_nest(self, shape, prefix, body):
        """A loop nest over ``shape`` whose innermost line is ``body(index variables)``."""
        loops = []
        idx = [f"{prefix}i{d}" for d in range(len(shape))]
        for d, dim in enumerate(shape):
            loops.append("    " * d + f"for {idx[d]} in range({code(dim)}):")
        pad = "    " * len(shape)
        return loops + [pad + body(idx)]

    @staticmethod
    def _linear(terms):
        """Source of Σ index·stride for [(index text, sympy stride)] ('0' when empty)."""
        parts = [t if st == 1 else f"{t}*{code(st)}" for t, st in terms if st != 0]
        return " + ".join(parts) or "0"

    def _slice(self, step, prefix):
        X, O = self.var(step.x), self.var(step.out)
        in_st = _strides(tuple(self.shape(step.x)))
        out_shape = tuple(self.shape(step.out))
        out_st = _strides(out_shape)
        base = sum((b * st for b, st in zip(step.begin, in_st)), sp.Integer(0))

        def body(idx):
            src, dst, k = [], [], 0
            for axis, (s, keep) in enumerate(zip(step.step, step.keep)):
                if keep:
                    src.append((idx[k], s * in_st[axis]))
                    dst.append((idx[k], out_st[k]))
                    k += 1
            offset = code(base)
            src_text = self._linear(src)
            src_text = src_text if offset == "0" else f"{offset} + {src_text}"
            return f"{O}[{self._linear(dst)}] = {X}[{src_text}]"

        return self._copy_nest(out_shape, prefix, body)

    def _pad(self, step, prefix):
        X, O = self.var(step.x), self.var(step.out)
        dtype = float_dtype(self.p.buffers[step.out].dtype)
        in_shape, out_shape = tuple(self.shape(step.x)), tuple(self.shape(step.out))
        in_st, out_st = _strides(in_shape), _strides(out_shape)
        base = sum((lo * st for lo, st in zip(step.low, out_st)), sp.Integer(0))
        lines = [f"for {prefix}z in range({code(_size(out_shape))}):",
                 f"    {O}[{prefix}z] = {literal(step.value, dtype)}"]

        def body(idx):
            dst = [(i, (gap + 1) * st) for i, gap, st in zip(idx, step.interior, out_st)]
            offset = code(base)
            dst_text = self._linear(dst)
            dst_text = dst_text if offset == "0" else f"{offset} + {dst_text}"
            return f"{O}[{dst_text}] = {X}[{self._linear(list(zip(idx, in_st)))}]"

        return lines + self._copy_nest(in_shape, prefix, body)

    def _concat(self, step, prefix):
        O = self.var(step.out)
        out_st = _strides(tuple(self.shape(step.out)))
        lines, start = [], sp.Integer(0)
        for k, name in enumerate(step.ins):
            shape = tuple(self.shape(name))
            in_st = _strides(shape)
            offset = code(start * out_st[step.axis])

            def body(idx, name=name, in_st=in_st, offset=offset):
                dst = self._linear(list(zip(idx, out_st)))
                dst = dst if offset == "0" else f"{offset} + {dst}"
                return f"{O}[{dst}] = {self.var(name)}[{self._linear(list(zip(idx, in_st)))}]"

            lines += self._copy_nest(shape, f"{prefix}{k}_", body)
            start = start + shape[step.axis]
        return lines

    def _take(self, step, prefix):
        X, O, I = self.var(step.x), self.var(step.out), self.var(step.indices)
        x_shape, out_shape = tuple(self.shape(step.x)), tuple(self.shape(step.out))
        k = len(self.shape(step.indices))
        in_st, out_st, idx_st = _strides(x_shape), _strides(out_shape), _strides(tuple(self.shape(step.indices)))
        a = step.axis

        def body(idx):
            j = self._linear(list(zip(idx[a:a + k], idx_st)))
            src = [(idx[d], in_st[d]) for d in range(a)] + [(f"{I}[{j}]", in_st[a])] + \
                  [(idx[d + k - 1], in_st[d]) for d in range(a + 1, len(x_shape))]
            return f"{O}[{self._linear(list(zip(idx, out_st)))}] = {X}[{self._linear(src)}]"

        return self._copy_nest(out_shape, prefix, body)

    def _scatteradd(self, step, prefix):
        G, O, I = self.var(step.g), self.var(step.out), self.var(step.indices)
        dtype = float_dtype(self.p.buffers[step.out].dtype)
        g_shape, out_shape = tuple(self.shape(step.g)), tuple(self.shape(step.out))
        k = len(self.shape(step.indices))
        g_st, out_st, idx_st = _strides(g_shape), _strides(out_shape), _strides(tuple(self.shape(step.indices)))
        a = step.axis
        lines = [f"for {prefix}z in range({code(_size(out_shape))}):", f"    {O}[{prefix}z] = {literal(0.0, dtype)}"]

        def body(idx):
            j = self._linear(list(zip(idx[a:a + k], idx_st)))
            dst = [(idx[d], out_st[d]) for d in range(a)] + [(f"{I}[{j}]", out_st[a])] + \
                  [(idx[d + k - 1], out_st[d]) for d in range(a + 1, len(out_shape))]
            return f"{O}[{self._linear(dst)}] += {G}[{self._linear(list(zip(idx, g_st)))}]"

        return lines + self._copy_nest(g_shape, prefix, body)

    def _conv(self, step, prefix):
        from codegen.numba_backend.windows import conv_lines
        return conv_lines(self, step, prefix)

    def _pool(self, step, prefix):
        from codegen.numba_backend.windows import pool_lines
        return pool_lines(self, step, prefix)

    def _dropoutmask(self, step, prefix):
        from codegen.numba_backend.random import dropout_mask_lines
        return dropout_mask_lines(self, step, prefix)

    def _gather(self, step, prefix):
        X, R, O = self.var(step.src), self.var(step.rows), self.var(step.out)
        row = code(_size(tuple(self.shape(step.src))[1:]))
        r, c, src = f"{prefix}r", f"{prefix}c", f"{prefix}src"
        return [f"for {r} in range(n):",
                f"    {src} = {R}[{r}]",
                f"    for {c} in range({row}):",
                f"        {O}[{r}*{row} + {c}] = {X}[{src}*{row} + {c}]"]

    def _update(self, step, prefix):
        """The optimizer's rules on one param in place: one flat loop, targets applied in
        order, the finiteness sum of the gradient and the new values folded in.

        ``hyper`` is float64: in a float32 kernel the hoisted scalars made of the step number
        and the hyperparameters are computed in float64 (as numpy computes them from Python
        numbers) and rounded to float32 once, so the loop computes in float32 only."""
        P, G, H, C = self.var(step.out), self.var(step.grad), self.var(step.hyper), self.var(step.check)
        dtype = float_dtype(self.p.buffers[step.out].dtype)
        p, g, t = sp.symbols("p g t", real=True)
        u = f"{prefix}u"
        names = {p: f"{P}[{u}]", g: f"{G}[{u}]", t: f"{H}[0]"}
        names.update({sp.Symbol(s, real=True): f"{self.var(b)}[{u}]" for s, b in zip(step.names, step.state)})
        invariant = {t}
        for j, h in enumerate(step.hyper_names):
            names[sp.Symbol(h, real=True)] = f"{H}[{1 + j}]"
            invariant.add(sp.Symbol(h, real=True))
        wide = {sym: f"{prefix}w_{sym}" for sym in invariant}  # float32 copies, where the loop reads them
        zero = literal(0.0, dtype)
        lines, loop, new = [], [], {}
        for k, (target, expr) in enumerate(step.rules):
            hoisted, inner, result = body_lines(expr, names, invariant, f"{prefix}h{k}_", dtype, wide)
            lines += [line for line in hoisted if line not in lines]
            new[target] = f"{prefix}n_{target}"
            loop += inner + [f"{new[target]} = {result}"]
            names[sp.Symbol(target, real=True)] = new[target]
        written = [("p", P)] + [(s, self.var(b)) for s, b in zip(step.names, step.state)]
        written = [(target, var) for target, var in written if target in new]
        # x·0 is 0 for every finite x and NaN for ±inf or NaN: the sum never overflows
        checked = [f"{G}[{u}]"] + [new[target] for target, _ in written]
        loop += [f"{prefix}chk += {' + '.join(f'{v}*{zero}' for v in checked)}"]
        loop += [f"{var}[{u}] = {new[target]}" for target, var in written]
        return lines + [f"{prefix}chk = {zero}", f"for {u} in range({P}.size):"] + \
            ["    " + line for line in loop] + [f"{C}[{step.index}] = {prefix}chk"]

    def _squarednorms(self, step, prefix):
        """Σ g² of each gradient into hyper[offset + i] (float64, by ``norms.squared_norm``:
        one compiled loop for every gradient), then their total."""
        H = self.var(step.out)
        total = f"{prefix}tot"
        lines = [f"{total} = np.float64(0)"]  # float64 sums, whatever the gradients' dtype
        for i, grad in enumerate(step.grads):
            lines += [f"{H}[{step.offset + i}] = squared_norm({self.var(grad)})",
                      f"{total} += {H}[{step.offset + i}]"]
        return lines + [f"{H}[{step.offset + len(step.grads)}] = {total}"]


__all__ = ["Emitter", "code", "float_dtype"]
