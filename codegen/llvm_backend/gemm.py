"""Small matrix products as register-blocked loop nests written with explicit vectors.

A call into BLAS costs about half a microsecond before it multiplies anything, and a
two-layer tanh network of width 16 makes eight products per training step, each a few
thousand multiply-adds: the calls cost more than the arithmetic.  When the sizes other
than the batch are small constants, a product is emitted here instead, as a loop over
the batch whose body keeps a block of C in vector registers (``<w x double>`` values, w
the host's register width), unrolled over the vector chunks of C's row:

- ``C = A·op(B)`` (A: batch × K, C: batch × J; K and J constant): blocks of ``R`` rows of
  C; for each k, one vector load per chunk of B's row k and one broadcast of ``A[i, k]``
  per row feed ``R × chunks`` multiply-adds.  The k axis is a loop of ``K_UNROLL`` steps
  per iteration (straight-line code up to K_UNROLL): fully unrolled, a 32 × 32 layer made
  thousands of IR instructions per product and most of a deep network's compile time,
  and ran no faster (a depth-64 MLP's step: 1.7 ms unrolled, 1.15 ms looped).  A
  transposed B is first copied transposed to the stack (it is a weight matrix: K·J
  elements, once per step), in loops over square blocks.
- ``C = Aᵀ·B`` (a weight gradient: A: batch × M, B: batch × J, C: M × J; M and J constant):
  a sum of outer products over the batch, accumulated for a block of C's rows in
  registers, vectorised along whichever of M or J is longer (both are contiguous); a
  loop runs over the blocks of rows.

Arithmetic is in the buffers' own type (float32 stays float32: twice the lanes), and a
multiply followed by an add carries LLVM's ``contract`` flag so the backend fuses them
into FMA instructions.  Accumulators are stack slots that LLVM's mem2reg keeps in
registers; the block sizes keep them within the register file.
"""

import sympy as sp
from llvmlite import ir

from codegen.llvm_backend import jit
from codegen.llvm_backend.irbuild import I32, entry_alloca, i64, loop

CONTRACT = ("contract",)
#: constant axes up to this length are unrolled in the IR; longer ones are loops
UNROLL_AXIS = 32
#: the K (reduction) loop of a row-block product: consecutive k per iteration; a K up to
#: this is straight-line code
K_UNROLL = 4
#: vector accumulators of a row block whose values then go through a fused map
EPILOGUE_ACCUMULATORS = 6



def constant(d):
    """The int value of a size, or None when it depends on the batch."""
    d = sp.sympify(d)
    return int(d) if d.is_Integer else None


def chunks(length, lanes):
    """Split ``length`` contiguous elements into vectors of the host's width and smaller
    powers of two: [(offset, width)].

    >>> chunks(16, 8), chunks(10, 8), chunks(3, 4)
    ([(0, 8), (8, 8)], [(0, 8), (8, 2)], [(0, 2), (2, 1)])
    """
    out, at, w = [], 0, lanes
    while at < length:
        while w > length - at:
            w //= 2
        out.append((at, w))
        at += w
    return out


def plan(M, K, Nn, trans_a, trans_b, max_fixed):
    """Which loop nest computes ``op(A)·op(B)`` (sizes M × K by K × Nn), or None for BLAS:
    "rows" when K and Nn are constants and A is not transposed ("dots" when Nn is 1), "outer" when A is
    transposed, M and Nn are constants (K is the batch) and B is not; only when the
    constant sizes multiply to at most ``max_fixed``.

    >>> from codegen.layout import N
    >>> plan(N, 16, 16, False, True, 1024), plan(16, N, 16, True, False, 1024), plan(N, 64, 128, False, True, 1024)
    ('rows', 'outer', None)
    >>> plan(N, 16, 1, False, True, 1024)  # a matrix-vector product: one dot product per row
    'dots'
    """
    m, k, nn = constant(M), constant(K), constant(Nn)
    if not trans_a and k is not None and nn is not None and m is None and k * nn <= max_fixed:
        return "dots" if nn == 1 and k >= 4 else "rows"
    if trans_a and not trans_b and m is not None and nn is not None and k is None and m * nn <= max_fixed:
        return "outer"
    return None


class Vectors:
    """Vector values of one element type ``ty`` at the host's register width."""

    def __init__(self, b, ty):
        self.b, self.ty = b, ty
        self.esize = 8 if isinstance(ty, ir.DoubleType) else 4
        self.lanes = max(1, jit.vector_bytes() // self.esize)
        self.registers = jit.vector_registers()

    def vtype(self, w):
        return self.ty if w == 1 else ir.VectorType(self.ty, w)

    def zero(self, w):
        return ir.Constant(self.vtype(w), None) if w > 1 else ir.Constant(self.ty, 0.0)

    def address(self, ptr, index, w):
        at = self.b.gep(ptr, [index], inbounds=True)
        return at if w == 1 else self.b.bitcast(at, self.vtype(w).as_pointer())

    def load(self, ptr, index, w):
        return self.b.load(self.address(ptr, index, w), align=self.esize)

    def store(self, value, ptr, index, w):
        self.b.store(value, self.address(ptr, index, w), align=self.esize)

    def splat(self, x, w):
        if w == 1:
            return x
        b = self.b
        v = b.insert_element(ir.Constant(self.vtype(w), ir.Undefined), x, ir.Constant(I32, 0))
        return b.shuffle_vector(v, ir.Constant(self.vtype(w), ir.Undefined), ir.Constant(ir.VectorType(I32, w), [0] * w))

    def horizontal_sum(self, x, w):
        """The sum of a vector's w lanes, by halving: log₂(w) shuffles and adds."""
        b = self.b
        while w > 1:
            h = w // 2
            lo = b.shuffle_vector(x, x, ir.Constant(ir.VectorType(I32, h), list(range(h))))
            hi = b.shuffle_vector(x, x, ir.Constant(ir.VectorType(I32, h), list(range(h, w))))
            x = b.fadd(lo, hi)
            w = h
            if w == 1:
                x = b.extract_element(x, ir.Constant(I32, 0))
        return x

    def fma(self, acc, x, y):
        b = self.b
        return b.fadd(acc, b.fmul(x, y, flags=CONTRACT), flags=CONTRACT)


def transpose(v, src, dst, rows, cols):
    """dst (cols × rows) = srcᵀ (src: rows × cols, both constant): square blocks of the
    vector width moved through registers (loads of src's rows, log₂(w) rounds of
    shuffles, stores of dst's rows), the ragged edges element by element.  Elementwise
    copies vectorise into gathers, which cost several times more.  Loops run over the
    blocks (and over the edges' rows and columns): the IR holds one block, so its size
    and LLVM's time on it do not grow with the matrix."""
    b, w = v.b, v.lanes
    while w > 1 and (w > rows or w > cols):
        w //= 2
    whole_r, whole_c = (rows // w) * w if w > 1 else 0, (cols // w) * w if w > 1 else 0

    def block(r0, c0):
        block = [v.load(src, b.add(b.mul(b.add(r0, i64(i)), i64(cols)), c0), w) for i in range(w)]
        for i, row in enumerate(_transpose_block(b, block, w)):
            v.store(row, dst, b.add(b.mul(b.add(c0, i64(i)), i64(rows)), r0), w)

    def block_row(r0):
        _counted(b, whole_c // w, "tb", lambda q: block(r0, b.mul(q, i64(w))), unroll=2)

    def copy(r, col):
        v.store(v.load(src, b.add(b.mul(r, i64(cols)), col), 1), dst, b.add(b.mul(col, i64(rows)), r), 1)

    if whole_r and whole_c:
        _counted(b, whole_r // w, "tr", lambda q: block_row(b.mul(q, i64(w))), unroll=1)
    if cols > whole_c:  # the edge columns (fewer than w) of every row
        _counted(b, rows, "te", lambda r: _counted(b, cols - whole_c, "tec", lambda c: copy(r, b.add(c, i64(whole_c))),
                                                   unroll=8), unroll=1)
    for r in range(whole_r, rows):  # the edge rows (fewer than w) of the whole columns
        if whole_c:
            _counted(b, whole_c, "tc", lambda col, r=r: copy(i64(r), col), unroll=1)


def _transpose_block(b, rows, w):
    """The transpose of a w × w block held as w vectors: at each round, vectors i and
    i + h (h = w/2, w/4, ..., 1) exchange h-element halves of their pairs, as a butterfly."""
    h = w // 2
    while h >= 1:
        out = list(rows)
        for i in range(w):
            if i & h:
                continue
            a, c = rows[i], rows[i + h]
            # lanes of a and c: take lane j from a when j & h == 0, else from c shifted by h
            lo = [j if not (j & h) else w + j - h for j in range(w)]
            hi = [j + h if not (j & h) else w + j for j in range(w)]
            out[i] = b.shuffle_vector(a, c, ir.Constant(ir.VectorType(I32, w), lo))
            out[i + h] = b.shuffle_vector(a, c, ir.Constant(ir.VectorType(I32, w), hi))
        rows = out
        h //= 2
    return rows


def _counted(b, count, name, body, unroll=UNROLL_AXIS):
    """``for i in range(count)``: unrolled when ``count`` is an int up to ``unroll``, else
    a loop."""
    if isinstance(count, int) and count <= unroll:
        for i in range(count):
            body(i64(i))
        return
    with loop(b, i64(count) if isinstance(count, int) else count, name) as i:
        body(i)


def _accumulators(v, rows, parts):
    """Stack slots for a rows × chunks block of C, zeroed (mem2reg makes them registers)."""
    slots = [[entry_alloca(v.b, v.vtype(w), "acc") for _, w in parts] for _ in range(rows)]
    for row in slots:
        for slot, (_, w) in zip(row, parts):
            v.b.store(v.zero(w), slot)
    return slots


def _block_rows(v, parts, limit=8):
    """Rows per register block: as many as the accumulators leave registers for."""
    return max(1, min(limit, (v.registers - len(parts) - 2) // len(parts)))


def rows_product(b, ty, A, B, C, m, K, J, trans_b, epilogue=None):
    """C (m × J) = A (m × K) · B (K × J), or · Bᵀ with B stored J × K; ``m`` is an i64 value,
    K and J ints.  ``epilogue(row, offset, width, value)``, when given, receives each
    finished vector of C while it is still in registers (a fused elementwise map); C may
    then be None (the product itself is not stored)."""
    v = Vectors(b, ty)
    if trans_b:  # one transposed copy of the (small, constant) weight matrix per call
        bt = b.bitcast(entry_alloca(b, ir.ArrayType(ty, K * J), "bt"), ty.as_pointer())
        transpose(v, B, bt, J, K)
        B = bt
    parts = chunks(J, v.lanes)
    # with an epilogue the map's temporaries need registers too: about six accumulators
    # measured best on W1 (float64, 2 vectors a row: 3 rows 6.9 µs/step, 8 rows 7.6 µs)
    R = _block_rows(v, parts, 8 if epilogue is None else max(1, EPILOGUE_ACCUMULATORS // len(parts)))
    full = b.sdiv(m, i64(R))

    def block(i0, rows):
        a_rows = [b.gep(A, [b.mul(b.add(i0, i64(r)), i64(K))], inbounds=True) for r in range(rows)]

        def step(k, acc):  # one k: a vector load per chunk of B's row k, R × chunks FMAs
            brow = [v.load(B, b.add(b.mul(k, i64(J)), i64(off)), w) for off, w in parts]
            out = []
            for r in range(rows):
                a = v.load(a_rows[r], k, 1)
                splats = {w: v.splat(a, w) for w in {w for _, w in parts}}
                out.append([v.fma(x, splats[w], bv) for x, bv, (_, w) in zip(acc[r], brow, parts)])
            return out

        acc = _reduction(v, K, [w for _ in range(rows) for _, w in parts], rows, step)
        for r in range(rows):
            row = b.add(i0, i64(r))
            base = b.mul(row, i64(J))
            for value, (off, w) in zip(acc[r], parts):
                if C is not None:
                    v.store(value, C, b.add(base, i64(off)), w)
                if epilogue is not None:
                    epilogue(row, off, w, value)

    with loop(b, full, "rb") as blk:
        block(b.mul(blk, i64(R)), R)
    if R > 1:  # the rows past the last whole block
        with loop(b, b.sub(m, b.mul(full, i64(R))), "rt") as t:
            block(b.add(b.mul(full, i64(R)), t), 1)


def _reduction(v, K, widths, rows, step):
    """Accumulators (``rows`` lists of vectors of the given ``widths``, zero at first)
    after ``acc = step(k, acc)`` for k in range(K): straight-line code when K is at most
    ``K_UNROLL``, else a loop whose body is ``K_UNROLL`` consecutive steps (the
    accumulators live in stack slots between iterations, in registers after mem2reg),
    then the K mod ``K_UNROLL`` last steps.  The IR holds at most 2·K_UNROLL steps
    whatever K is."""
    b = v.b
    per_row = len(widths) // rows
    zero = [[v.zero(w) for w in widths[r * per_row:(r + 1) * per_row]] for r in range(rows)]
    if K <= K_UNROLL:
        acc = zero
        for k in range(K):
            acc = step(i64(k), acc)
        return acc
    slots = [[entry_alloca(b, x.type, "acc") for x in row] for row in zero]
    for row, values in zip(slots, zero):
        for slot, x in zip(row, values):
            b.store(x, slot)
    with loop(b, i64(K // K_UNROLL), "k") as kk:
        acc = [[b.load(slot) for slot in row] for row in slots]
        k0 = b.mul(kk, i64(K_UNROLL), flags=["nsw", "nuw"])
        for u in range(K_UNROLL):
            acc = step(b.add(k0, i64(u), flags=["nsw", "nuw"]) if u else k0, acc)
        for row, values in zip(slots, acc):
            for slot, x in zip(row, values):
                b.store(x, slot)
    acc = [[b.load(slot) for slot in row] for row in slots]
    for k in range(K - K % K_UNROLL, K):
        acc = step(i64(k), acc)
    return acc


def dot_rows(b, ty, A, B, C, m, K):
    """C (m × 1) = A (m × K) · b (a K-vector, stored K × 1 or 1 × K alike): one dot product
    per row, vectorised along K (a column of scalar FMAs per row would be a chain of K
    dependent operations), the vector halved down to a scalar at the end, several rows at
    a time so their chains overlap."""
    v = Vectors(b, ty)
    parts = chunks(K, v.lanes)
    bvec = [v.load(B, i64(off), w) for off, w in parts]
    R = 4
    full = b.sdiv(m, i64(R))

    def block(i0, rows):
        for r in range(rows):
            base = b.mul(b.add(i0, i64(r)), i64(K))
            sums = {}  # one accumulator per vector width
            for (off, w), bv in zip(parts, bvec):
                a = v.load(A, b.add(base, i64(off)), w)
                sums[w] = b.fmul(a, bv, flags=CONTRACT) if w not in sums else v.fma(sums[w], a, bv)
            total = None
            for w, acc in sums.items():
                x = v.horizontal_sum(acc, w)
                total = x if total is None else b.fadd(total, x)
            v.store(total, C, b.add(i0, i64(r)), 1)

    with loop(b, full, "db") as blk:
        block(b.mul(blk, i64(R)), R)
    with loop(b, b.sub(m, b.mul(full, i64(R))), "dt") as t:
        block(b.add(b.mul(full, i64(R)), t), 1)


def outer_product(b, ty, A, B, C, k, M, J):
    """C (M × J) = Aᵀ·B with A stored k × M and B stored k × J (``k`` an i64 value, the
    batch): Σ over the batch of outer products, vectorised along the longer of M and J."""
    v = Vectors(b, ty)
    # orient: the vector axis ``wide`` (length W) and the broadcast axis ``narrow`` (length S)
    swap = M > J  # vectorise along M: compute Cᵀ and store it transposed
    wide, W, narrow, S = (A, M, B, J) if swap else (B, J, A, M)
    parts = chunks(W, v.lanes)
    R = _block_rows(v, parts)

    def c_index(s, w):  # element (narrow s, wide w) of C; s an i64 value, w an int
        return b.add(i64(w * J), s) if swap else b.add(b.mul(s, i64(J)), i64(w))

    def block(s0, rows):  # rows of C (along the narrow axis) from s0: a pass over the batch
        acc = _accumulators(v, rows, parts)

        def step(r):
            wrow = [v.load(wide, b.add(b.mul(r, i64(W)), i64(off)), w) for off, w in parts]
            for s in range(rows):
                x = v.load(narrow, b.add(b.mul(r, i64(S)), b.add(s0, i64(s))), 1)
                for slot, wv, (_, w) in zip(acc[s], wrow, parts):
                    b.store(v.fma(b.load(slot), v.splat(x, w), wv), slot)

        _counted(b, k, "r", step)
        for s in range(rows):
            for slot, (off, w) in zip(acc[s], parts):
                value = b.load(slot)
                if not swap:
                    v.store(value, C, c_index(b.add(s0, i64(s)), off), w)
                    continue
                for lane in range(w):  # a column of C: scattered scalars
                    x = value if w == 1 else b.extract_element(value, ir.Constant(I32, lane))
                    v.store(x, C, c_index(b.add(s0, i64(s)), off + lane), 1)

    # whole blocks in a loop (the IR holds one block, whatever S is), then the rest
    _counted(b, S // R, "sb", lambda q: block(b.mul(q, i64(R)), R), unroll=1)
    if S % R:
        block(i64(S - S % R), S % R)
