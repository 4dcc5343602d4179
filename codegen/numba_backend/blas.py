"""Matrix products of generated numba code: a direct call of BLAS ``dgemm``/``sgemm``.

``np.dot`` in numba checks its operands' shapes and layouts and picks a BLAS call when the
function is compiled; that typing and lowering of each call site cost about 0.2-0.3 s of
compile time (W1's training step has six products).  ``gemm`` is one small function
compiled once: it calls numba's own BLAS binding, the C function ``numba_xxgemm`` of
numba's helper library (the one ``np.dot`` ends in, which calls scipy's
``cython_blas.dgemm``/``sgemm``), on flat C-ordered buffers.

Before each product ``gemm`` calls the per-product thread switch (``codegen/blas_switch.py``)
with its multiply-adds m·n·k: with ``set_blas_threads(n)``, n > 1, products of
``threads.PARALLEL_MIN_MACS`` and more run on n threads, smaller ones on one.  The switch is
called by symbol name, so numba's cached machine code reads the setting of the process that
runs it (``threads.use_scipy_blas`` builds the switch before a kernel with products is
compiled or loaded).

``gemm(a, b, c, m, n, k, trans_a, trans_b)`` computes the row-major ``c (m×n) = op(a) (m×k)
· op(b) (k×n)``, ``op`` a transpose when its flag is set, in float64 or float32 (the
arrays' dtype).  BLAS is column-major: a row-major buffer is the transpose of the
column-major matrix in the same memory, so the call is ``cᵀ = op(b)ᵀ · op(a)ᵀ``.

When numba's helper library has no ``xxgemm`` (another numba), ``gemm`` is written with
``np.dot`` instead (same results, the old compile cost): ``DIRECT`` says which.

>>> import numpy as np
>>> a, b = np.arange(6.0), np.arange(12.0)
>>> c = np.empty(8)
>>> gemm(a, b, c, 2, 4, 3, False, False)
>>> bool(np.allclose(c.reshape(2, 4), a.reshape(2, 3) @ b.reshape(3, 4)))
True
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from codegen import blas_switch, threads

#: the C function of numba's helper library this module calls (``numba/_helperlib.c``)
SYMBOL = "numba_xxgemm"


def _has_xxgemm():
    try:
        from numba import _helperlib
        return "xxgemm" in _helperlib.c_helpers
    except Exception:  # another numba layout: np.dot
        return False


#: True when products call ``numba_xxgemm`` directly, False when they go through ``np.dot``
DIRECT = _has_xxgemm()

_KINDS = {types.float64: "d", types.float32: "s"}
_CHAR = ir.IntType(8)


@intrinsic
def _xxgemm(typingctx, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
    """BLAS ``?gemm`` with alpha 1 and beta 0 on the data of 1-D arrays (column-major
    arguments, as BLAS takes them); the transpose flags are booleans.  Raises when numba's
    binding reports a failure (scipy's BLAS missing)."""
    if not all(isinstance(x, types.Array) and x.dtype == c.dtype for x in (a, b, c)) or c.dtype not in _KINDS:
        return None
    kind = _KINDS[c.dtype]
    sig = types.none(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)

    def codegen(context, builder, signature, args):
        threads.native_switch()  # the switch's symbol must be known before numba links this code
        ta, tb, m_, n_, k_, a_, lda_, b_, ldb_, c_, ldc_ = args
        intp = context.get_value_type(types.intp)
        void_p = cgutils.voidptr_t
        fnty = ir.FunctionType(ir.IntType(32), [_CHAR, _CHAR, _CHAR, intp, intp, intp, void_p, void_p, intp,
                                                void_p, intp, void_p, void_p, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOL)
        dtype = c.dtype
        alpha = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1.0))
        beta = cgutils.alloca_once_value(builder, context.get_constant(dtype, 0.0))

        def flag(value, ty):
            on = context.cast(builder, value, ty, types.boolean)
            return builder.select(on, ir.Constant(_CHAR, ord("t")), ir.Constant(_CHAR, ord("n")))

        def data(value, ty):
            return builder.bitcast(context.make_array(ty)(context, builder, value).data, void_p)

        def size(value, ty):
            return context.cast(builder, value, ty, types.intp)

        sigargs = signature.args
        sizes = [size(x, t) for x, t in zip((m_, n_, k_), sigargs[2:5])]
        # the product's thread count, read at run time from codegen/threads.py's setting
        switch = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [intp]),
                                                blas_switch.THREADS_FOR)
        builder.call(switch, [builder.mul(builder.mul(sizes[0], sizes[1]), sizes[2])])
        res = builder.call(fn, (ir.Constant(_CHAR, ord(kind)), flag(ta, sigargs[0]), flag(tb, sigargs[1]),
                                sizes[0], sizes[1], sizes[2],
                                builder.bitcast(alpha, void_p), data(a_, sigargs[5]), size(lda_, sigargs[6]),
                                data(b_, sigargs[7]), size(ldb_, sigargs[8]), builder.bitcast(beta, void_p),
                                data(c_, sigargs[9]), size(ldc_, sigargs[10])))
        failed = builder.icmp_signed("!=", res, ir.Constant(res.type, 0))
        with builder.if_then(failed, likely=False):
            context.call_conv.return_user_exc(builder, RuntimeError, ("BLAS gemm call failed",))
        return context.get_dummy_value()

    return sig, codegen


# not cache=True: numba's own cache files beside this module are not checked by our manifests
# (cache.py); compiled into each kernel, gemm is cached with it
@njit(nogil=True, error_model="numpy")
def gemm_direct(a, b, c, m, n, k, trans_a, trans_b):
    """Row-major c (m×n) = op(a) · op(b) on flat buffers (see the module's docstring)."""
    if m == 0 or n == 0:
        return
    if k == 0:  # an empty sum (BLAS would also give 0, but the leading dimensions must be ≥ 1)
        c[:m * n] = 0
        return
    # cᵀ = op(b)ᵀ · op(a)ᵀ, column-major: b's column-major matrix has n rows (k if transposed)
    _xxgemm(trans_b, trans_a, n, m, k, b, k if trans_b else n, a, m if trans_a else k, c, n)


@njit(nogil=True, error_model="numpy")
def gemm_dot(a, b, c, m, n, k, trans_a, trans_b):
    """Row-major c (m×n) = op(a) · op(b) on flat buffers, through ``np.dot`` (for a numba
    without ``xxgemm`` in its helper library)."""
    if m == 0 or n == 0:
        return
    a2, b2, c2 = a[:m * k], b[:k * n], c[:m * n].reshape((m, n))
    # one np.dot per pair of flags: a transposed and a plain view are different types
    if trans_a and trans_b:
        np.dot(a2.reshape((k, m)).T, b2.reshape((n, k)).T, c2)
    elif trans_a:
        np.dot(a2.reshape((k, m)).T, b2.reshape((k, n)), c2)
    elif trans_b:
        np.dot(a2.reshape((m, k)), b2.reshape((n, k)).T, c2)
    else:
        np.dot(a2.reshape((m, k)), b2.reshape((k, n)), c2)


_IMPL = gemm_direct if DIRECT else gemm_dot


def gemm(a, b, c, m, n, k, trans_a, trans_b):
    """Row-major c (m×n) = op(a) · op(b) on flat buffers: what generated code calls.

    An ``@overload`` rather than an ``@njit`` function, because numba compiles a jitted
    callee once per *literal* argument types: ``gemm(a, b, c, n, 16, 2, False, True)``
    and ``gemm(…, 16, 16, False, True)`` were two compiles of 0.13 s each (W1 made eight).
    An overload is typed with its arguments' plain types first, so one compile per dtype.
    """
    _IMPL(a, b, c, m, n, k, trans_a, trans_b)


@overload(gemm, jit_options={"nogil": True, "error_model": "numpy"})
def _gemm_typed(a, b, c, m, n, k, trans_a, trans_b):
    return _IMPL.py_func

__all__ = ["DIRECT", "SYMBOL", "gemm", "gemm_direct", "gemm_dot"]
