"""LLVM IR of the dropout mask (``codegen.program.DropoutMask``): the same splitmix64 hash
as the numpy reference (``codegen.numpy_backend.random``) in i64 arithmetic (wrapping
multiplies, logical shifts, an unsigned comparison)."""

from llvmlite import ir

from codegen.layout import size
from codegen.llvm_backend.emit import I64, dim_value, i64, load, loop, ltype, store
from codegen.numpy_backend.random import GOLDEN, MIX1, MIX2


def _k(v):
    """A 64-bit constant written as the signed value of the same bits."""
    return ir.Constant(I64, v - (1 << 64) if v >= 1 << 63 else v)


def _mix(b, z):
    z = b.mul(b.xor(z, b.lshr(z, _k(30))), _k(MIX1))
    z = b.mul(b.xor(z, b.lshr(z, _k(27))), _k(MIX2))
    return b.xor(z, b.lshr(z, _k(31)))


def dropout_mask(pe, b, step, ptrs, n):
    out, seed, hyper = ptrs[step.out], ptrs[step.seed], ptrs[step.hyper]
    ty = ltype(pe.dtype(step.out))
    key = b.add(load(b, seed, i64(0)), b.mul(_k(GOLDEN), _k(step.stream + 1)))
    key = _mix(b, key)
    t = b.fptosi(load(b, hyper, i64(0)), I64)
    key = _mix(b, b.add(key, b.mul(_k(GOLDEN), t)))
    scale, zero = ir.Constant(ty, float(step.scale)), ir.Constant(ty, 0.0)
    if ty != ir.DoubleType():  # 1/(1 − p) rounded once to the mask's type, as numpy rounds it
        import numpy as np
        scale = ir.Constant(ty, float(np.float32(step.scale)))
    count = dim_value(b, size(pe.shape(step.out)), n)
    with loop(b, count, "m") as i:
        z = _mix(b, b.add(key, b.mul(_k(GOLDEN), b.add(i, i64(1)))))
        keep = b.icmp_unsigned(">=", b.lshr(z, _k(11)), _k(step.threshold))
        store(b, b.select(keep, scale, zero), out, i)
