"""Kernel program -> LLVM IR: one internal function per step, called from a kernel.

Every buffer is a flat, C-ordered array (a scalar is one element); temporaries are
slices of one arena per dtype laid out by the program's slot plan (``codegen.layout``)
for the batch size ``n`` passed at run time.  Each step is its own function whose
pointer arguments are ``noalias`` (a step never writes a buffer it reads: the slot plan
keeps a step's inputs alive while it runs) and which is always inlined into the kernel,
where LLVM keeps the no-alias facts as scoped metadata: the vectoriser needs no runtime
overlap checks.  Inner sizes are constants in the IR; only the batch size is a value.

Elementwise maps whose operands are full-size or single elements become one flat loop;
broadcasting maps, transposes and reductions become loop nests with computed strides;
small products are register-blocked vector loop nests (``gemm.py``), larger ones call
BLAS (``dgemm``/``sgemm`` through scipy's function pointers) as Cᵀ = op(B)ᵀ·op(A)ᵀ on the
column-major views of the row-major buffers.  Maps compute in their output's type (float32
maps in float: twice the vector lanes); reductions accumulate in double.
"""

import hashlib
import re
from collections import Counter
from dataclasses import fields
from functools import lru_cache

import numpy as np
import sympy as sp
from llvmlite import ir

from codegen.bodies import described, split_body
from codegen.layout import N, root, size, slot_offset_pairs, slot_offsets, strides
from codegen.structure import canonical_map
from codegen.llvm_backend import gemm, jit
from codegen.llvm_backend.irbuild import I8, I32, I64, VOID, entry_alloca, i64, load, loop, nest, store  # noqa: F401 (re-exported)
from codegen.llvm_backend.mathfns import DOUBLE, FLOAT, MathLib, c, element, maximum
from codegen.llvm_backend.scalar import Translator, vectorisable
from codegen.program import (Broadcast, Map, MatMul, OneHot, Reduce, Reshape, Transpose, Update, View, comment,
                             reads as step_reads)

TYPES = {"float64": DOUBLE, "float32": ir.FloatType(), "int64": I64, "int32": I32}
#: reassociation for reductions (so sums vectorise), as numba's fastmath={"reassoc"}
REASSOC = ("reassoc", "contract")


def ltype(dtype):
    try:
        return TYPES[str(dtype)]
    except KeyError:
        raise NotImplementedError(f"llvm backend: no element type for dtype {dtype}") from None


def convert(b, v, ty):
    """A value (scalar or vector; float, double or integer) converted to the type ``ty`` of
    the same shape (a float or an integer type)."""
    if v.type == ty:
        return v
    src, dst = element(v.type), element(ty)
    if isinstance(src, ir.IntType):
        return b.sitofp(v, ty)
    if isinstance(dst, ir.IntType):
        return b.fptosi(v, ty)
    return b.fpext(v, ty) if dst == DOUBLE else b.fptrunc(v, ty)


def to_double(b, v):
    """A loaded element as a double."""
    return convert(b, v, DOUBLE)


def compute_type(dtype):
    """The type a map computes in: float32 maps in float, everything else in double."""
    return FLOAT if str(dtype) == "float32" else DOUBLE


def dim_value(b, expr, n):
    """An i64 value for a size: an int, or an expression in the batch symbol N."""
    expr = sp.sympify(expr)
    if not _expanded(expr):  # expanding costs ~0.3 ms even when there is nothing to do
        expr = sp.expand(expr)
    if expr.is_Integer:
        return i64(expr)
    if expr == N:
        return n
    if expr.is_Add or expr.is_Mul:
        combine = b.add if expr.is_Add else b.mul
        parts = [dim_value(b, a, n) for a in expr.args]
        out = parts[0]
        for p in parts[1:]:
            out = combine(out, p, flags=["nsw"])
        return out
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        out = base = dim_value(b, expr.base, n)
        for _ in range(int(expr.exp) - 1):
            out = b.mul(out, base, flags=["nsw"])
        return out
    raise NotImplementedError(f"llvm backend: size {expr} is not a polynomial in N")


def _expanded(expr):
    """True for an integer, N, or a sum of products of integers and powers of N: a
    polynomial ``sp.expand`` leaves as it is (an arena offset, a buffer size).

    >>> _expanded(64 * N + 3), _expanded(N * (N + 1))
    (True, False)
    """
    def monomial(e):
        if e.is_Integer or e == N:
            return True
        if e.is_Pow:
            return e.base == N and e.exp.is_Integer and e.exp > 0
        return e.is_Mul and all(a.is_Integer or a == N or (a.is_Pow and monomial(a)) for a in e.args)
    return all(monomial(a) for a in expr.args) if expr.is_Add else monomial(expr)


def linear(b, terms):
    """Σ index·stride for [(i64 index, i64 stride value)] (0 when empty)."""
    out = None
    for idx, stride in terms:
        t = idx if (isinstance(stride, ir.Constant) and stride.constant == 1) else b.mul(idx, stride, flags=["nsw"])
        out = t if out is None else b.add(out, t, flags=["nsw"])
    return out if out is not None else i64(0)


class ModuleBuilder:
    """An IR module for the host, its math library and readable comments."""

    def __init__(self, name):
        self.module = ir.Module(name=name)
        self.module.triple = jit.triple()
        self.module.data_layout = jit.data_layout()
        self.math = MathLib(self.module)
        self.comments = {}
        self.blas = {}
        #: {symbol: (structure, ModuleBuilder)}: shared kernels emitted as modules of their own
        self.parts = {}
        #: True when this module only calls kernels (compiled without optimisation)
        self.driver_only = False

    def gemm(self, dtype):
        """The BLAS ``?gemm`` of ``dtype`` (Fortran convention: every argument by pointer)."""
        if dtype not in self.blas:
            ty = ltype(dtype)
            p32, pt = I32.as_pointer(), ty.as_pointer()
            fnty = ir.FunctionType(VOID, [I8.as_pointer(), I8.as_pointer(), p32, p32, p32, pt, pt, p32, pt, p32,
                                          pt, pt, p32])
            name = jit.BLAS_SYMBOLS["dgemm" if dtype == "float64" else "sgemm"]
            self.blas[dtype] = ir.Function(self.module, fnty, name)
        return self.blas[dtype]

    def linked(self):
        """This module with its separately compiled kernels, for ``jit.Kernel``."""
        return jit.Linked(self.text(), [(structure, part.text()) for structure, part in self.parts.values()],
                          driver=self.driver_only)

    def text(self):
        """The module's IR text with each step function preceded by what it computes."""
        text = str(self.module)
        if not self.comments:
            return text
        lines = []
        for line in text.splitlines():
            m = re.match(r'define .*@"?([\w.$]+)"?\(', line)
            if m and m.group(1) in self.comments:
                lines.extend("; " + comment(c) for c in self.comments[m.group(1)])
            lines.append(line)
        return "\n".join(lines) + "\n"


class ProgramEmitter:
    """IR for the steps of one program inside a module: ``emit(b, n, ptrs, arenas)`` calls
    every step function; ``ptrs`` holds the pointers of arguments and constants."""

    def __init__(self, mb, program, prefix="s", fuse=True, separate=False):
        self.mb, self.p, self.prefix, self.separate = mb, program, prefix, separate
        self.views = {s.out: s for s in program.steps if isinstance(s, View)}
        self._readers = None  # buffer -> indices of the steps reading it (built on first use)
        self.functions = {}
        self.fused = self._fusions() if fuse else {}
        # steps of one structure share one function: its key is the steps with their buffers
        # replaced by argument positions, and what the IR reads of each buffer
        planned = {}  # step index -> (key, the steps computed, outs, reads, shared)
        for i, step in enumerate(program.steps):
            if isinstance(step, (Reshape, View)) or i - 1 in self.fused:
                continue
            steps = (step, program.steps[i + 1]) if i in self.fused else (step,)
            steps = tuple(self._canonical(st) if isinstance(st, Map) else st for st in steps)
            outs, reads, shared = self._arguments(i, steps)
            planned[i] = (self._structure(steps, outs, reads, shared), steps, outs, reads, shared)
        counts = Counter(key for key, *_ in planned.values())
        # a long program: every kernel a module of its own, the caller nothing but calls,
        # compiled without optimisation (``jit.Linked.driver``)
        self.driver_only = separate and len(planned) > DRIVER_ONLY_CALLS
        mb.driver_only = mb.driver_only or self.driver_only
        built = {}
        for i, (key, steps, outs, reads, shared) in planned.items():
            if key not in built:
                inline = counts[key] == 1 and not self.driver_only

                def make(name=None, i=i, steps=steps, outs=outs, reads=reads, shared=shared, inline=inline):
                    if len(steps) == 2:
                        return self._fused_function(i, *steps, outs, reads, inline, name=name)
                    return self._step_function(i, steps[0], outs, reads, shared, inline, name=name)

                if inline or not self.separate:
                    built[key] = make()
                else:
                    built[key] = self._separate(self._part_key(key, steps, outs, reads), make)
                if counts[key] > 1:
                    symbol = built[key].name
                    owner = self.mb.parts[symbol][1] if symbol in self.mb.parts else self.mb
                    owner.comments[symbol].append(f"  (shared by {counts[key]} steps)")
            self.functions[i] = (built[key], outs, reads)

    def _part_key(self, key, steps, outs, reads):
        """The sharing key of a kernel as its cache key across programs.  An update's
        ``hyper`` buffer and ``check`` vector grow with the number of params (a gradient norm
        and a check each), and its hyper names list those norms, but its code reads hyper
        only at the positions of the names its rules use and writes element 0 of the check
        pointer it is given: those are kept, the rest dropped, so one more layer does not
        make the update kernels new."""
        if len(steps) != 1 or not isinstance(steps[0], Update):
            return key
        st = steps[0]
        used = set().union(*(expr.free_symbols for _, expr in st.rules))
        kept = tuple((j, h) for j, h in enumerate(st.hyper_names) if sp.Symbol(h, real=True) in used)
        at = 1 + [f.name for f in fields(Update) if f.name != "index"].index("hyper_names")
        (fields_,), args = key
        loose = {k for k, x in enumerate(list(outs) + list(reads)) if x in (st.hyper, st.check)}
        args = tuple((None,) + a[1:] if k in loose else a for k, a in enumerate(args))
        return (fields_[:at] + (("used", kept),) + fields_[at + 1:],), args

    def _separate(self, key, make):
        """A shared kernel as a module of its own (``self.mb.parts``), named and cached by its
        structure (``key``: the same in every program it occurs in); returns its declaration
        in this module."""
        structure = described(key)
        symbol = "sbp.k." + hashlib.sha256(structure.encode()).hexdigest()[:24]
        if symbol not in self.mb.parts:
            part, main = ModuleBuilder(symbol), self.mb
            self.mb = part  # the kernel's math functions and BLAS declarations go to its module
            try:
                fn = make(name=symbol)
            finally:
                self.mb = main
            fn.linkage = ""
            part.comments.setdefault(symbol, []).append("  (compiled and cached as a module of its own)")
            main.parts[symbol] = (structure, part)
        fn = self.mb.parts[symbol][1].module.get_global(symbol)
        decl = self.mb.module.globals.get(symbol)
        if decl is None:
            decl = ir.Function(self.mb.module, fn.function_type, symbol)
            decl.attributes.add("nounwind")
            for arg, defined in zip(decl.args, fn.args):
                for attr in defined.attributes:
                    arg.add_attribute(attr)
        return decl

    def shape(self, name):
        return self.p.buffers[name].shape

    def dtype(self, name):
        return self.p.buffers[name].dtype

    def pointers(self, b, n, ptrs, arenas):
        """{buffer name: pointer} for every buffer: arguments and constants from ``ptrs``,
        temporaries sliced from ``arenas`` {dtype: pointer}, views as their roots.  A
        temporary's pointer is computed where it is first looked up: computed all at the
        top, hundreds of them in a deep network would be live across every call (a
        register allocator's and InstCombine's worst case)."""
        return _Pointers(self.p, b, n, ptrs, arenas)

    def emit(self, b, n, ptrs, arenas):
        """Call every step in order; returns the {buffer: pointer} map used.

        A long program (``driver_only``) is a table of calls and a loop reading it (see
        ``_emit_table``); a short one, a call instruction per step."""
        bufs = self.pointers(b, n, ptrs, arenas)
        if self.driver_only and len(self.functions) > TABLE_CALLS:
            table = self._call_table(ptrs, arenas)
            if table is not None:
                self._emit_table(b, n, *table)
                return bufs
        for i in sorted(self.functions):
            fn, outs, reads = self.functions[i]
            args = [bufs[o] for o in outs] + [bufs[r] for r in reads]
            step = self.p.steps[i]
            if isinstance(step, Update):  # its check element: the function writes element 0
                k = outs.index(step.check)
                args[k] = b.gep(args[k], [i64(step.index)], inbounds=True)
            b.call(fn, args + [n])
        return bufs

    def _call_table(self, ptrs, arenas):
        """(bases, functions, words) of the calls of ``emit``: ``bases`` the pointers every
        argument is an offset from (the given pointers, then the arenas), ``functions`` the
        distinct kernels, ``words`` one record per call: the kernel's index, then per argument
        (base index, a, b) for the byte offset a·n + b.  None when an offset is not linear in
        the batch size (a slot after an N²-sized one): then each call is an instruction."""
        given = {name: k for k, name in enumerate(ptrs)}
        base_of_arena = {d: len(given) + k for k, d in enumerate(arenas)}
        pairs = slot_offset_pairs(self.p)
        functions, index, words = [], {}, []
        for i in sorted(self.functions):
            fn, outs, reads = self.functions[i]
            if fn.name not in index:
                index[fn.name] = len(functions)
                functions.append(fn)
            words.append(index[fn.name])
            step = self.p.steps[i]
            for k, name in enumerate(list(outs) + list(reads)):
                r = root(self.p, name) if name in self.p.aliases else name
                if r in given:
                    base, a, b = given[r], 0, 0
                else:
                    dtype, slot = self.p.slots[r]
                    pair = pairs[(dtype, slot)]
                    if pair is None:
                        return None
                    width = np.dtype(dtype).itemsize
                    base, a, b = base_of_arena[dtype], pair[0] * width, pair[1] * width
                if isinstance(step, Update) and k == outs.index(step.check):
                    b += step.index * np.dtype(self.dtype(step.check)).itemsize  # its element of the check vector
                words += [base, a, b]
        return list(ptrs.values()) + list(arenas.values()), functions, words

    def _emit_table(self, b, n, bases, functions, words):
        """The calls of a long program as data: a constant table of records (``_call_table``)
        and a loop that reads one, computes its pointers and calls its kernel through a
        ``switch``.  Per call instruction LLVM's code generator took ~0.15 ms even
        unoptimised, and the IR text ~0.1 ms to print: a 5,000-node chain's 3,750 calls cost
        0.6 s to compile; as a table they cost nothing to compile and a few ns each to run."""
        data = bytearray(np.asarray(words, dtype="<i8").tobytes())
        mod = self.mb.module
        table = ir.GlobalVariable(mod, ir.ArrayType(I8, len(data)), mod.get_unique_name("sbp.calls"))
        table.global_constant, table.linkage, table.align = True, "private", 8
        table.initializer = ir.Constant(ir.ArrayType(I8, len(data)), data)
        words_ptr = b.bitcast(table, I64.as_pointer())
        base_array = entry_alloca(b, ir.ArrayType(I8.as_pointer(), len(bases)), "bases")
        for k, ptr in enumerate(bases):
            b.store(b.bitcast(ptr, I8.as_pointer()), b.gep(base_array, [i64(0), i64(k)], inbounds=True))
        fn = b.function
        pre = b.block
        head, end = fn.append_basic_block("calls.head"), fn.append_basic_block("calls.end")
        body = fn.append_basic_block("calls.body")
        b.branch(head)
        b.position_at_end(head)
        pc = b.phi(I64, name="pc")
        pc.add_incoming(i64(0), pre)
        b.cbranch(b.icmp_signed("<", pc, i64(len(words))), body, end)
        b.position_at_end(body)
        switch = b.switch(b.load(b.gep(words_ptr, [pc], inbounds=True)), end)
        for k, kernel in enumerate(functions):
            case = fn.append_basic_block(f"calls.k{k}")
            switch.add_case(i64(k), case)
            b.position_at_end(case)
            params = kernel.function_type.args[:-1]  # pointers, then the batch size
            args = []
            for j, ty in enumerate(params):
                at = [b.add(pc, i64(1 + 3 * j + t)) for t in range(3)]
                base_k, a, c_ = (b.load(b.gep(words_ptr, [x], inbounds=True)) for x in at)
                base = b.load(b.gep(base_array, [i64(0), base_k], inbounds=True))
                offset = b.add(b.mul(a, n), c_)
                args.append(b.bitcast(b.gep(base, [offset], inbounds=True), ty))
            b.call(kernel, args + [n])
            pc.add_incoming(b.add(pc, i64(1 + 3 * len(params))), b.block)
            b.branch(head)
        b.position_at_end(end)

    def _arguments(self, i, steps):
        """(outs, reads, shared) of the function computing ``steps`` (one step, or a product
        and the map fused after it): the buffers it writes and reads, and those of them that
        are two names of one memory (so may not be noalias)."""
        if len(steps) == 2:
            mm, mp = steps
            keep = self._needed_after(mm.out, i + 1)
            outs = [mp.out] + ([mm.out] if keep else [])
            reads = []
            for r in list(step_reads(mm)) + [x for x in step_reads(mp) if x != mm.out]:
                if r not in reads:
                    reads.append(r)
            return outs, reads, set()
        step = steps[0]
        outs = list(dict.fromkeys(step.writes() if hasattr(step, "writes") else (step.out,)))
        reads = [r for r in dict.fromkeys(step_reads(step)) if r not in outs]
        # two names of one memory (a gradient that is its param, seen through a reshape) may not
        # both be noalias
        roots = [root(self.p, x) for x in outs + reads]
        shared = {x for x, r in zip(outs + reads, roots) if roots.count(r) > 1}
        return outs, reads, shared

    def _canonical(self, step):
        """``step`` (a map) with its operands in a name-independent order (``canonical_map``):
        by shape, dtype and how a view reads each, then the place of its variable."""
        return canonical_map(step, self._describe)

    def _describe(self, name):
        view = self.views.get(name)
        return (_shape_text(tuple(self.shape(name))), str(self.dtype(name)),
                "" if view is None else str((view.offset, view.strides)))

    def _structure(self, steps, outs, reads, shared):
        """A hashable key equal for steps that compile to the same function: each step's
        fields with buffer names replaced by their argument positions, and per argument its
        shape, dtype, how a view reads it, and whether it may alias another."""
        position = {x: ("%arg", k) for k, x in enumerate(list(outs) + list(reads))}
        position.setdefault(steps[0].out, ("%product",))  # a fused product kept in registers only

        def canonical(value):
            if isinstance(value, str):
                return position.get(value, value)
            if isinstance(value, tuple):
                return tuple(canonical(v) for v in value)
            return value

        parts = tuple((type(st).__name__,) + tuple(canonical(getattr(st, f.name)) for f in fields(st)
                                                   if not (isinstance(st, Update) and f.name == "index"))
                      for st in steps)
        args = []
        for x in list(outs) + list(reads):
            view = self.views.get(x)
            args.append((tuple(self.shape(x)), str(self.dtype(x)), x in shared,
                         None if view is None else (tuple(self.shape(view.out)), view.offset, view.strides),
                         self._operand_kind(x, tuple(self.shape(steps[0].out))) if len(steps) == 2 else None))
        return parts, tuple(args)

    # ---- fusion of a product with the map after it ----------------------------------------
    def _operand_kind(self, name, out_shape):
        """How a map operand is read inside a product's row block: "full" (same shape as the
        product), "row" (one value per column), "column" (one per row), "scalar", or None."""
        shape = tuple(self.shape(name))
        rows, cols = out_shape
        if name in self.views:  # a slice read in place: strided, no register-block form
            return None
        if shape == tuple(out_shape):
            return "full"
        if size(shape) == 1:
            return "scalar"
        if shape in ((cols,), (1, cols)):
            return "row"
        if shape == (rows, 1):
            return "column"
        return None

    def _fusions(self):
        """{index of a product: index of the map after it} for the pairs emitted as one loop
        nest: a register-blocked product ("rows" plan) immediately followed by an elementwise
        map that reads it, whose other operands are full, row, column or scalar buffers,
        whose body has a vector form, and whose output does not share memory with the
        product's inputs (the map's rows are written while later rows of A are still read)."""
        steps, fused = self.p.steps, {}
        for i, (mm, mp) in enumerate(zip(steps, steps[1:])):
            if not (isinstance(mm, MatMul) and isinstance(mp, Map) and mm.out in mp.ins):
                continue
            if mm.out in self.p.aliases or mp.out in self.p.aliases:
                continue
            if self._plan(mm)[0] != "rows":
                continue
            out_shape = tuple(self.shape(mm.out))
            if tuple(self.shape(mp.out)) != out_shape or len(out_shape) != 2:
                continue
            if str(self.dtype(mp.out)) not in ("float32", "float64") or self.dtype(mp.out) != self.dtype(mm.out):
                continue
            if any(self._operand_kind(name, out_shape) is None for name in mp.ins):
                continue
            if not vectorisable(mp.body.expr):
                continue
            out_slot = self.p.slots.get(mp.out)
            if out_slot is not None and any(self.p.slots.get(root(self.p, r)) == out_slot for r in (mm.a, mm.b)):
                continue
            fused[i] = i + 1
        return fused

    def _needed_after(self, name, skip):
        """True when a buffer is read by some step other than ``skip``, is an output, or is
        viewed by an alias (so a fused product must still store it)."""
        if name in self.p.outputs or any(root(self.p, v) == name for v in self.p.aliases):
            return True
        if self._readers is None:
            self._readers = {}
            for k, s in enumerate(self.p.steps):
                for r in set(step_reads(s)):
                    self._readers.setdefault(r, []).append(k)
        return any(k != skip for k in self._readers.get(name, ()))

    def _fused_function(self, i, mm, mp, outs, reads, inline=True, name=None):
        """One function computing product ``mm`` and, on each vector of it while still in
        registers, the map ``mp`` (bias + activation after a linear layer, an activation's
        derivative after a backward product)."""
        keep = mm.out in outs
        name = name or f"{self.prefix}{i}_{mm.out}_{mp.out}"
        fn, ptrs, n = self._new_function(name, outs, reads, inline=inline)
        comment = [mm.describe(), mp.describe() + "   (fused: computed on the product's registers)"]
        origin = self.p.origins.get(mp.out)
        if origin:
            comment.append(f"  <- {origin}")
        self.mb.comments[name] = comment
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        _, M, K, J = self._plan(mm)
        epilogue = self._epilogue(b, mm, mp, ptrs, n, int(J))
        gemm.rows_product(b, ltype(self.dtype(mm.out)), ptrs[mm.a], ptrs[mm.b], ptrs[mm.out] if keep else None,
                          dim_value(b, M, n), int(K), int(J), mm.trans_b, epilogue)
        b.ret_void()
        return fn

    def _epilogue(self, b, mm, mp, ptrs, n, J):
        """``apply(row, offset, width, value)``: the map's body on one vector of the product."""
        out_shape = tuple(self.shape(mm.out))
        ct = compute_type(self.dtype(mp.out))
        out_ty = ltype(self.dtype(mp.out))
        vec = gemm.Vectors(b, ct)
        nf = b.sitofp(n, ct)
        used = mp.body.expr.free_symbols

        def apply(row, off, w, value):
            vt = ct if w == 1 else ir.VectorType(ct, w)
            env = {N: vec.splat(nf, w)}
            for var, name in zip(mp.body.variables, mp.ins):
                if var not in used:
                    continue
                if name == mm.out:
                    env[var] = convert(b, value, vt)
                    continue
                ptr, kind = ptrs[name], self._operand_kind(name, out_shape)
                ev = gemm.Vectors(b, ltype(self.dtype(name)))
                if kind == "full":
                    x = ev.load(ptr, b.add(b.mul(row, i64(J)), i64(off)), w)
                elif kind == "row":
                    x = ev.load(ptr, i64(off), w)
                else:
                    x = ev.splat(load(b, ptr, row if kind == "column" else i64(0)), w)
                env[var] = convert(b, x, vt)
            result = Translator(b, self.mb.math, env, vt).value(mp.body.expr)
            vec.store(convert(b, result, out_ty if w == 1 else ir.VectorType(out_ty, w)), ptrs[mp.out],
                      b.add(b.mul(row, i64(J)), i64(off)), w)

        return apply

    # ---- step functions -------------------------------------------------------------------
    def _new_function(self, name, outs, reads, shared=(), inline=True):
        """An internal step function ``name(<outs>, <reads>, n)`` whose pointers are noalias
        (but those in ``shared``), always inlined when ``inline`` and never otherwise (a
        function shared by several steps is compiled once); returns (function, {buffer:
        pointer}, n)."""
        argtys = [ltype(self.dtype(x)).as_pointer() for x in list(outs) + list(reads)] + [I64]
        fn = ir.Function(self.mb.module, ir.FunctionType(VOID, argtys), name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline" if inline else "noinline")
        fn.attributes.add("nounwind")
        for arg, x in zip(fn.args[:-1], list(outs) + list(reads)):
            if x not in shared:
                arg.add_attribute("noalias")
        ptrs = {}
        for k, (arg, x) in enumerate(zip(fn.args[:-1], list(outs) + list(reads))):
            arg.name = ("out" if k == 0 else f"out.{_ident(x)}") if k < len(outs) else _ident(x)
            ptrs[x] = arg
        fn.args[-1].name = "n"
        return fn, ptrs, fn.args[-1]

    def _step_function(self, i, step, outs, reads, shared, inline=True, name=None):
        name = name or f"{self.prefix}{i}_{_ident(step.out)}"
        fn, ptrs, n = self._new_function(name, outs, reads, shared, inline)
        comment = [step.describe()]
        origin = self.p.origins.get(step.out)
        if origin and isinstance(step, Map):
            comment.append(f"  <- {origin}")
        self.mb.comments[name] = comment
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        getattr(self, "_" + type(step).__name__.lower())(b, step, ptrs, n)
        b.ret_void()
        return fn

    def _map(self, b, step, ptrs, n, body=None):
        body = body if body is not None else step.body
        out_shape = tuple(self.shape(step.out))
        rank = len(out_shape)
        used = body.expr.free_symbols
        ct = compute_type(self.dtype(step.out))
        env = {N: b.sitofp(n, ct)}
        invariant = {N}
        flat = True
        plans = []
        for var, name in zip(body.variables, step.ins):
            shape = (1,) * (rank - len(self.shape(name))) + tuple(self.shape(name))
            if var not in used:
                continue
            view = self.views.get(name)
            if size(shape) == 1:
                at = dim_value(b, view.offset, n) if view is not None else i64(0)
                env[var] = convert(b, load(b, ptrs[name], at), ct)
                invariant.add(var)
            elif view is not None:  # a slice read in place: offset + Σ i·stride
                flat = False
                plans.append((var, name, view))
            elif shape == out_shape:
                plans.append((var, name, "full"))
            else:
                flat = False
                plans.append((var, name, shape))
        hoisted, inner, result = split_body(body.expr, invariant, "_h")
        t = Translator(b, self.mb.math, env, ct)
        for sym, sub in hoisted:
            t.bind(sym, t.value(sub))
        out_ty = ltype(self.dtype(step.out))

        def emit(index, loop_vars):
            for var, name, kind in plans:
                if kind == "full":
                    at = index
                elif isinstance(kind, View):
                    vshape = tuple(self.shape(kind.out))
                    lead = rank - len(vshape)
                    at = b.add(dim_value(b, kind.offset, n),
                               linear(b, [(loop_vars[lead + d], dim_value(b, st_, n))
                                          for d, (dim, st_) in enumerate(zip(vshape, kind.strides)) if dim != 1]),
                               flags=["nsw"])
                else:
                    st = strides(kind)
                    at = linear(b, [(loop_vars[d], dim_value(b, st[d], n)) for d in range(rank)
                                    if not (kind[d] == 1 and out_shape[d] != 1)])
                t.bind(var, convert(b, load(b, ptrs[name], at), ct))
            for sym, sub in inner:
                t.bind(sym, t.value(sub))
            store(b, convert(b, t.value(result), out_ty), ptrs[step.out], index)

        if flat or rank <= 1:
            with loop(b, dim_value(b, size(out_shape), n)) as i:
                emit(i, [i])
        else:
            st = strides(out_shape)
            nest(b, [dim_value(b, d, n) for d in out_shape],
                 lambda idx: emit(linear(b, [(idx[d], dim_value(b, st[d], n)) for d in range(rank)]), idx))

    def _broadcast(self, b, step, ptrs, n):
        x = sp.Symbol("x0", real=True)
        self._map(b, Map(step.out, (step.x,), sp.Lambda(x, x)), ptrs, n)

    def _plan(self, step):
        """(gemm.plan's kind or None for BLAS, M, K, N) of a product op(A)·op(B): M × K by K × N."""
        sa, sb = self.shape(step.a), self.shape(step.b)
        M, K = (sa[1], sa[0]) if step.trans_a else (sa[0], sa[1])
        Nn = sb[0] if step.trans_b else sb[1]
        return gemm.plan(M, K, Nn, step.trans_a, step.trans_b, SMALL_PRODUCT), M, K, Nn

    def _matmul(self, b, step, ptrs, n):
        dtype = self.dtype(step.out)
        ty = ltype(dtype)
        kind, M, K, Nn = self._plan(step)
        sa, sb = self.shape(step.a), self.shape(step.b)
        if kind == "rows":
            return gemm.rows_product(b, ltype(dtype), ptrs[step.a], ptrs[step.b], ptrs[step.out],
                                     dim_value(b, M, n), int(K), int(Nn), step.trans_b)
        if kind == "dots":
            return gemm.dot_rows(b, ltype(dtype), ptrs[step.a], ptrs[step.b], ptrs[step.out],
                                 dim_value(b, M, n), int(K))
        if kind == "outer":
            return gemm.outer_product(b, ltype(dtype), ptrs[step.a], ptrs[step.b], ptrs[step.out],
                                      dim_value(b, K, n), int(M), int(Nn))
        m, k, nn = (dim_value(b, d, n) for d in (M, K, Nn))
        A, B, C = ptrs[step.a], ptrs[step.b], ptrs[step.out]
        total = b.mul(b.mul(m, nn), k)
        fn = b.function
        call_block, zero_block, done = (fn.append_basic_block(x) for x in ("gemm", "zero", "done"))
        b.cbranch(b.icmp_signed(">", total, i64(0)), call_block, zero_block)
        b.position_at_end(zero_block)
        with loop(b, b.mul(m, nn), "z") as i:
            store(b, ir.Constant(ty, 0.0), C, i)
        b.branch(done)
        b.position_at_end(call_block)

        def cell(ty_, value, name):
            slot = entry_alloca(b, ty_, name)
            b.store(value, slot)
            return slot

        def i32(v):
            return b.trunc(v, I32)

        def ld(stored_cols):  # leading dimension of a row-major buffer seen column-major
            v = i32(dim_value(b, stored_cols, n))
            return b.select(b.icmp_signed("<", v, ir.Constant(I32, 1)), ir.Constant(I32, 1), v)

        flag = lambda t: ir.Constant(I8, ord("T" if t else "N"))
        # row-major C = op(A)·op(B)  <=>  column-major Cᵀ = op(B)ᵀ·op(A)ᵀ
        args = [cell(I8, flag(step.trans_b), "tb"), cell(I8, flag(step.trans_a), "ta"),
                cell(I32, i32(nn), "m"), cell(I32, i32(m), "n"), cell(I32, i32(k), "k"),
                cell(ty, ir.Constant(ty, 1.0), "alpha"), B, cell(I32, ld(sb[1]), "ldb"),
                A, cell(I32, ld(sa[1]), "lda"), cell(ty, ir.Constant(ty, 0.0), "beta"), C,
                cell(I32, ld(Nn), "ldc")]
        b.call(self.mb.gemm(dtype), args)
        b.branch(done)
        b.position_at_end(done)

    def _reduce(self, b, step, ptrs, n):
        X, O = ptrs[step.x], ptrs[step.out]
        out_ty = ltype(self.dtype(step.out))
        shape = tuple(self.shape(step.x))
        axes = tuple(step.axes)
        rank = len(shape)
        kept = [d for a, d in enumerate(shape) if a not in axes]
        reduced = [d for a, d in enumerate(shape) if a in axes]
        outer, inner = dim_value(b, size(kept), n), dim_value(b, size(reduced), n)
        init = c(0.0) if step.kind == "sum" else c(float("-inf"))

        def combine(acc, v):
            return b.fadd(acc, v, flags=REASSOC) if step.kind == "sum" else maximum(b, v, acc)

        acc = entry_alloca(b, DOUBLE, "acc")
        if axes == tuple(range(rank - len(axes), rank)):  # trailing: one scalar per row
            with loop(b, outer, "r") as r:
                base = b.mul(r, inner, flags=["nsw"])
                b.store(init, acc)
                with loop(b, inner, "q") as q:
                    b.store(combine(b.load(acc), to_double(b, load(b, X, b.add(base, q, flags=["nsw"])))), acc)
                m = b.load(acc)
                if step.kind == "logsumexp":  # as numpy: a non-finite max is replaced by 0
                    finite = b.fcmp_ordered("!=", b.call(self.mb.math.function("fabs"), [m]), c(float("inf")))
                    m = b.select(finite, m, c(0.0))
                    b.store(c(0.0), acc)
                    with loop(b, inner, "q") as q:
                        v = to_double(b, load(b, X, b.add(base, q, flags=["nsw"])))
                        e = self.mb.math.call(b, "exp", b.fsub(v, m))
                        b.store(b.fadd(b.load(acc), e, flags=REASSOC), acc)
                    result = b.fadd(m, self.mb.math.call(b, "log", b.load(acc)))
                else:
                    result = m
                store(b, convert(b, result, out_ty), O, r)
            return
        if step.kind == "logsumexp":
            raise NotImplementedError("logsumexp over non-trailing axes is rewritten by lowering")
        if axes == tuple(range(len(axes))):  # leading: accumulate whole rows (vectorises over q)
            with loop(b, outer, "q") as q:
                store(b, convert(b, init, out_ty), O, q)
            with loop(b, inner, "r") as r:
                base = b.mul(r, outer, flags=["nsw"])
                with loop(b, outer, "q") as q:
                    v = to_double(b, load(b, X, b.add(base, q, flags=["nsw"])))
                    store(b, convert(b, combine(to_double(b, load(b, O, q)), v), out_ty), O, q)
            return
        # general: loop over x, accumulate into the kept-axes index
        with loop(b, outer, "q") as q:
            store(b, convert(b, init, out_ty), O, q)
        in_st, out_st = strides(shape), strides(kept)

        def emit(idx):
            at = linear(b, [(idx[d], dim_value(b, in_st[d], n)) for d in range(rank)])
            kept_axes = [d for d in range(rank) if d not in axes]
            o = linear(b, [(idx[d], dim_value(b, out_st[j], n)) for j, d in enumerate(kept_axes)])
            v = to_double(b, load(b, X, at))
            store(b, convert(b, combine(to_double(b, load(b, O, o)), v), out_ty), O, o)

        nest(b, [dim_value(b, d, n) for d in shape], emit)

    def _transpose(self, b, step, ptrs, n):
        X, O = ptrs[step.x], ptrs[step.out]
        out_shape = tuple(self.shape(step.out))
        in_st, out_st = strides(tuple(self.shape(step.x))), strides(out_shape)

        def emit(idx):
            src = linear(b, [(idx[d], dim_value(b, in_st[axis], n)) for d, axis in enumerate(step.perm)])
            dst = linear(b, [(idx[d], dim_value(b, out_st[d], n)) for d in range(len(out_shape))])
            store(b, load(b, X, src), O, dst)

        nest(b, [dim_value(b, d, n) for d in out_shape], emit)

    def _onehot(self, b, step, ptrs, n):
        L, O = ptrs[step.labels], ptrs[step.out]
        ty = ltype(self.dtype(step.out))
        count = dim_value(b, size(self.shape(step.labels)), n)
        k = i64(step.k)
        with loop(b, b.mul(count, k), "z") as i:
            store(b, ir.Constant(ty, 0.0), O, i)
        with loop(b, count, "i") as i:
            label = load(b, L, i)
            if label.type != I64:
                label = b.sext(label, I64) if isinstance(label.type, ir.IntType) else b.fptosi(label, I64)
            inside = b.and_(b.icmp_signed(">=", label, i64(0)), b.icmp_signed("<", label, k))
            with b.if_then(inside):
                store(b, ir.Constant(ty, 1.0), O, b.add(b.mul(i, k), label))


    # ---- indexing: affine copies, a fill, gathers and scatters by an index buffer ---------
    def _fill(self, b, ptr, count, value, ty):
        with loop(b, count, "z") as i:
            store(b, ir.Constant(ty, value), ptr, i)

    def _slice(self, b, step, ptrs, n):
        X, O = ptrs[step.x], ptrs[step.out]
        in_st = strides(tuple(self.shape(step.x)))
        out_shape = tuple(self.shape(step.out))
        out_st = strides(out_shape)
        base = sum((bg * st for bg, st in zip(step.begin, in_st)), sp.Integer(0))
        kept = [axis for axis, keep in enumerate(step.keep) if keep]

        def emit(idx):
            src = b.add(dim_value(b, base, n), linear(b, [(idx[k], dim_value(b, step.step[axis] * in_st[axis], n))
                                                          for k, axis in enumerate(kept)]), flags=["nsw"])
            dst = linear(b, [(idx[k], dim_value(b, out_st[k], n)) for k in range(len(out_shape))])
            store(b, load(b, X, src), O, dst)

        nest(b, [dim_value(b, d, n) for d in out_shape], emit)

    def _pad(self, b, step, ptrs, n):
        X, O = ptrs[step.x], ptrs[step.out]
        ty = ltype(self.dtype(step.out))
        in_shape, out_shape = tuple(self.shape(step.x)), tuple(self.shape(step.out))
        in_st, out_st = strides(in_shape), strides(out_shape)
        self._fill(b, O, dim_value(b, size(out_shape), n), step.value, ty)
        base = sum((lo * st for lo, st in zip(step.low, out_st)), sp.Integer(0))

        def emit(idx):
            dst = b.add(dim_value(b, base, n), linear(b, [(idx[d], dim_value(b, (gap + 1) * out_st[d], n))
                                                          for d, gap in enumerate(step.interior)]), flags=["nsw"])
            src = linear(b, [(idx[d], dim_value(b, in_st[d], n)) for d in range(len(in_shape))])
            store(b, load(b, X, src), O, dst)

        nest(b, [dim_value(b, d, n) for d in in_shape], emit)

    def _concat(self, b, step, ptrs, n):
        O = ptrs[step.out]
        out_st = strides(tuple(self.shape(step.out)))
        start = sp.Integer(0)
        for name in step.ins:
            shape = tuple(self.shape(name))
            in_st = strides(shape)
            offset = start * out_st[step.axis]

            def emit(idx, name=name, in_st=in_st, offset=offset):
                dst = b.add(dim_value(b, offset, n), linear(b, [(idx[d], dim_value(b, out_st[d], n))
                                                                for d in range(len(idx))]), flags=["nsw"])
                src = linear(b, [(idx[d], dim_value(b, in_st[d], n)) for d in range(len(idx))])
                store(b, convert(b, load(b, ptrs[name], src), ltype(self.dtype(step.out))), O, dst)

            nest(b, [dim_value(b, d, n) for d in shape], emit)
            start = start + shape[step.axis]

    def _indexed(self, b, step, n, data_shape, other_shape, idx):
        """(flat index into the array indexed through ``indices``, flat index into the other)
        for the loop indices ``idx`` over ``other_shape``, which holds the indices' axes at ``step.axis``."""
        k = len(self.shape(step.indices))
        a = step.axis
        data_st, other_st = strides(data_shape), strides(other_shape)
        idx_st = strides(tuple(self.shape(step.indices)))
        j = linear(b, [(idx[a + d], dim_value(b, idx_st[d], n)) for d in range(k)])
        at = load(b, self._indices_ptr, j)
        terms = [(idx[d], dim_value(b, data_st[d], n)) for d in range(a)] + [(at, dim_value(b, data_st[a], n))] + \
                [(idx[d + k - 1], dim_value(b, data_st[d], n)) for d in range(a + 1, len(data_shape))]
        return linear(b, terms), linear(b, [(idx[d], dim_value(b, other_st[d], n)) for d in range(len(other_shape))])

    def _take(self, b, step, ptrs, n):
        X, O = ptrs[step.x], ptrs[step.out]
        self._indices_ptr = ptrs[step.indices]
        x_shape, out_shape = tuple(self.shape(step.x)), tuple(self.shape(step.out))

        def emit(idx):
            src, dst = self._indexed(b, step, n, x_shape, out_shape, idx)
            store(b, load(b, X, src), O, dst)

        nest(b, [dim_value(b, d, n) for d in out_shape], emit)

    def _scatteradd(self, b, step, ptrs, n):
        G, O = ptrs[step.g], ptrs[step.out]
        ty = ltype(self.dtype(step.out))
        self._indices_ptr = ptrs[step.indices]
        g_shape, out_shape = tuple(self.shape(step.g)), tuple(self.shape(step.out))
        self._fill(b, O, dim_value(b, size(out_shape), n), 0.0, ty)

        def emit(idx):
            dst, src = self._indexed(b, step, n, out_shape, g_shape, idx)
            store(b, b.fadd(load(b, O, dst), load(b, G, src)), O, dst)

        nest(b, [dim_value(b, d, n) for d in g_shape], emit)

    # ---- windows: convolution and pooling (codegen.llvm_backend.windows) ---------------------
    def _conv(self, b, step, ptrs, n):
        from codegen.llvm_backend.windows import emit_conv
        emit_conv(self, b, step, ptrs, n, dim_value, ltype)

    def _pool(self, b, step, ptrs, n):
        from codegen.llvm_backend.windows import emit_pool
        emit_pool(self, b, step, ptrs, n, dim_value, ltype)

    # ---- training: the minibatch's rows, an optimizer's update ------------------------------
    def _dropoutmask(self, b, step, ptrs, n):
        from codegen.llvm_backend.random import dropout_mask
        dropout_mask(self, b, step, ptrs, n)

    def _gather(self, b, step, ptrs, n):
        X, R, O = ptrs[step.src], ptrs[step.rows], ptrs[step.out]
        row = size(tuple(self.shape(step.src))[1:])
        width = dim_value(b, row, i64(1))
        count = gemm.constant(row)

        def copy(r, src, col):
            v = load(b, X, b.add(b.mul(src, width, flags=["nsw"]), col, flags=["nsw"]))
            store(b, v, O, b.add(b.mul(r, width, flags=["nsw"]), col, flags=["nsw"]))

        with loop(b, n, "r") as r:
            src = load(b, R, r)
            if count is not None and count <= 16:  # a few features: straight-line copies
                for col in range(count):
                    copy(r, src, i64(col))
            else:
                with loop(b, width, "col") as col:
                    copy(r, src, col)

    def _update(self, b, step, ptrs, n):
        """The optimizer's rules on one param, in place, in the param's own type (float32
        params update in float; the parts made of t and the hyperparameters alone are computed
        once in double and rounded once, as numpy computes Python numbers); the sum of g·0 and
        the new values ·0 into check[index]."""
        P, G, H, C = ptrs[step.out], ptrs[step.grad], ptrs[step.hyper], ptrs[step.check]
        ty = ltype(self.dtype(step.out))
        ct = compute_type(self.dtype(step.out))
        p, g, t = sp.symbols("p g t", real=True)
        # only the hyperparameters the rules read: hyper also holds one gradient norm per
        # param, and loading them all would make every update function grow with depth
        used = set().union(*(expr.free_symbols for _, expr in step.rules))
        env = {t: load(b, H, i64(0))} if t in used else {}
        invariant = {t}
        for j, h in enumerate(step.hyper_names):
            sym = sp.Symbol(h, real=True)
            invariant.add(sym)
            if sym in used:
                env[sym] = load(b, H, i64(1 + j))
        splits = [split_body(expr, invariant, f"_h{k}_") for k, (_, expr) in enumerate(step.rules)]
        hoist = Translator(b, self.mb.math, env)  # in double
        tr = Translator(b, self.mb.math, {}, ct)
        for sym in env:
            tr.bind(sym, convert(b, env[sym], ct))
        for hoisted, _, _ in splits:
            for sym, sub in hoisted:
                value = hoist.value(sub)
                hoist.bind(sym, value)
                tr.bind(sym, convert(b, value, ct))
        state = {s: ptrs[buf] for s, buf in zip(step.names, step.state)}
        chk = entry_alloca(b, DOUBLE, "chk")
        b.store(c(0.0), chk)
        zero = ir.Constant(ct, 0.0)
        count = dim_value(b, size(self.shape(step.out)), n)
        with loop(b, count, "u") as u:
            gv = convert(b, load(b, G, u), ct)
            acc = b.fadd(b.load(chk), convert(b, b.fmul(gv, zero), DOUBLE), flags=REASSOC)
            tr.bind(g, gv)
            olds = {"p": convert(b, load(b, P, u), ct)}
            tr.bind(p, olds["p"])
            for s, ptr in state.items():
                olds[s] = convert(b, load(b, ptr, u), ct)
                tr.bind(sp.Symbol(s, real=True), olds[s])
            new = {}
            for (target, _), (_, inner, result) in zip(step.rules, splits):
                for sym, sub in inner:
                    tr.bind(sym, tr.value(sub))
                new[target] = tr.value(result)
                tr.memo.clear()  # later rules see the updated target
                tr.bind(sp.Symbol(target, real=True), new[target])
            for target, ptr in [("p", P)] + list(state.items()):
                if target in new:
                    stored = convert(b, new[target], ty)
                    store(b, stored, ptr, u)
                    acc = b.fadd(acc, convert(b, b.fmul(stored, ir.Constant(ty, 0.0)), DOUBLE), flags=REASSOC)
            b.store(acc, chk)
        store(b, b.load(chk), C, i64(0))  # the caller passes &check[index]

    def _squarednorms(self, b, step, ptrs, n):
        """Σ g² of each gradient into hyper[offset + i], in double (reassociated: a vector
        reduction), then their total into hyper[offset + len(grads)]."""
        H = ptrs[step.out]
        total = c(0.0)
        for i, grad in enumerate(step.grads):
            value = b.call(self._sum_of_squares(self.dtype(grad)), [ptrs[grad], dim_value(b, size(self.shape(grad)), n)])
            store(b, value, H, i64(step.offset + i))
            total = b.fadd(total, value)
        store(b, total, H, i64(step.offset + len(step.grads)))

    def _sum_of_squares(self, dtype):
        """``double sumsq(T* x, i64 count)``: Σ x², one function per dtype called for every
        gradient (a deep network has hundreds: one loop each would be compiled hundreds of times)."""
        name = f"sbp.sumsq.{dtype}"
        found = self.mb.module.globals.get(name)
        if found is not None:
            return found
        fn = ir.Function(self.mb.module, ir.FunctionType(DOUBLE, [ltype(dtype).as_pointer(), I64]), name)
        fn.linkage = "internal"
        fn.attributes.add("noinline")
        fn.attributes.add("nounwind")
        fn.args[0].add_attribute("noalias")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        acc = entry_alloca(b, DOUBLE, "acc")
        b.store(c(0.0), acc)
        with loop(b, fn.args[1], "q") as k:
            v = to_double(b, load(b, fn.args[0], k))
            b.store(b.fadd(b.load(acc), b.fmul(v, v, flags=REASSOC), flags=REASSOC), acc)
        b.ret(b.load(acc))
        return fn


class _Pointers(dict):
    """The buffer pointers of one program emission (``ProgramEmitter.pointers``): arguments
    given, a temporary's (or a view's root's) computed on first lookup at the builder's
    position, then reused (the calls are straight-line code in one block, so the first
    lookup dominates the later ones)."""

    def __init__(self, program, b, n, given, arenas):
        super().__init__(given)
        self.p, self.b, self.n, self.arenas = program, b, n, arenas
        self.offsets = slot_offsets(program)

    def __missing__(self, name):
        r = root(self.p, name) if name in self.p.aliases else name
        if r != name:
            value = self[r]
        elif name in self.p.slots:
            dtype, slot = self.p.slots[name]
            value = self.b.gep(self.arenas[dtype], [dim_value(self.b, self.offsets[(dtype, slot)], self.n)],
                               inbounds=True, name=name)
        else:
            raise KeyError(name)
        self[name] = value
        return value


@lru_cache(maxsize=1 << 12)
def _shape_text(shape):
    return str(shape)  # printing N through sympy: once per distinct shape


def _ident(name):
    """A buffer name as a plain LLVM identifier (names of params may hold any printable text)."""
    return "".join(ch if ch.isalnum() or ch in "._" else "_" for ch in name)

#: products whose constant sizes (all but the batch) multiply to at most this are register-blocked
#: loop nests (``gemm.py``), larger ones BLAS calls: on W1 (2-16-16-1, batch 100) the eight
#: products took 5.4 µs per step through BLAS, most of it call overhead
SMALL_PRODUCT = 1024
#: a program of more step calls than this (with ``separate``) has every kernel, single-use
#: ones too, in a module of its own and a driver compiled without optimisation: LLVM's O3 on
#: the driver of a depth-64 MLP (390 calls) took 0.19 s against 0.03 s unoptimised, and the
#: unoptimised calls cost nothing beside the kernels; shorter programs (W1: about 30 calls)
#: inline their single-use kernels into one optimised function
DRIVER_ONLY_CALLS = 64
#: a driver of more calls than this is a table and a loop (``ProgramEmitter._emit_table``)
TABLE_CALLS = 256
