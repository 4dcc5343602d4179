"""The llvm backend's register-blocked small products (``codegen/llvm_backend/gemm.py``)
against numpy on ragged sizes (matrix-vector products as vectorised dot products too): batch sizes that leave a remainder row block, widths that
are not multiples of the vector width (and 1), transposed B (the in-register transpose of
square blocks plus its ragged edges), and Aᵀ·B in both orientations."""

import ctypes

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from llvmlite import ir  # noqa: E402

from codegen.llvm_backend import gemm, jit  # noqa: E402
from codegen.llvm_backend.emit import I64, VOID, ModuleBuilder  # noqa: E402
from codegen.llvm_backend.mathfns import DOUBLE, FLOAT  # noqa: E402

SIZES = [(1, 1), (2, 16), (16, 16), (16, 1), (3, 10), (17, 9), (64, 10), (10, 64), (8, 24)]


def product_kernel(kind, ty, K, J):
    mb = ModuleBuilder(f"gemm_{kind}_{K}_{J}")
    fn = ir.Function(mb.module, ir.FunctionType(VOID, [ty.as_pointer()] * 3 + [I64]), "f")
    for a in fn.args[:3]:
        a.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    A, B, C, n = fn.args
    if kind == "outer":
        gemm.outer_product(b, ty, A, B, C, n, K, J)
    elif kind == "dots":
        gemm.dot_rows(b, ty, A, B, C, n, K)
    else:
        gemm.rows_product(b, ty, A, B, C, n, K, J, kind == "rows_bt")
    b.ret_void()
    kernel = jit.Kernel(mb.text(), {"f": (None, [ctypes.c_void_p] * 3 + [ctypes.c_int64])})
    return kernel.functions["f"], kernel


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["rows", "rows_bt", "outer", "dots"])
def test_small_products_match_numpy(kind, dtype):
    ty = DOUBLE if dtype == "float64" else FLOAT
    rng = np.random.default_rng(0)
    tol = 1e-12 if dtype == "float64" else 1e-5
    sizes = [(K, 1) for K in (4, 5, 10, 16, 17, 64)] if kind == "dots" else SIZES
    for K, J in sizes:
        f, _ = product_kernel(kind, ty, K, J)
        for n in (0, 1, 5, 13, 100):
            A = rng.normal(size=(n, K)).astype(dtype)
            if kind in ("rows", "dots"):
                B = rng.normal(size=(K, J)).astype(dtype)
                want, C = A.astype(np.float64) @ B, np.full((n, J), np.nan, dtype)
            elif kind == "rows_bt":
                B = rng.normal(size=(J, K)).astype(dtype)
                want, C = A.astype(np.float64) @ B.T, np.full((n, J), np.nan, dtype)
            else:
                B = rng.normal(size=(n, J)).astype(dtype)
                want, C = A.T.astype(np.float64) @ B, np.full((K, J), np.nan, dtype)
            f(A.ctypes.data, B.ctypes.data, C.ctypes.data, n)
            scale = np.abs(A).max(initial=1) * np.abs(B).max(initial=1) * max(K if kind != "outer" else n, 1)
            assert np.all(np.abs(C - want) <= tol * scale), (kind, dtype, K, J, n)


def test_transpose_of_every_shape_up_to_the_vector_width_squared():
    """``transpose`` alone, through rows_bt with A = I: C = Bᵀ exactly."""
    for K in (1, 3, 8, 9, 16, 17):
        for J in (1, 2, 8, 15, 16, 32):
            f, _ = product_kernel("rows_bt", DOUBLE, K, J)
            B = np.arange(J * K, dtype=np.float64).reshape(J, K)
            A = np.eye(K)
            C = np.empty((K, J))
            f(A.ctypes.data, B.ctypes.data, C.ctypes.data, K)
            np.testing.assert_array_equal(C, B.T)


def test_blocks_are_vector_code_and_plan_picks_loops_only_for_small_constant_sizes():
    from codegen.layout import N
    _, kernel = product_kernel("rows", DOUBLE, 16, 16)
    opt = jit.optimised_ir(kernel.ir)
    assert "<8 x double>" in opt or "<4 x double>" in opt or "<2 x double>" in opt
    assert gemm.plan(N, 16, 16, False, True, 1024) == "rows"
    assert gemm.plan(N, 16, 1, False, True, 1024) == "dots" and gemm.plan(N, 2, 1, False, True, 1024) == "rows"
    assert gemm.plan(16, N, 16, True, False, 1024) == "outer"
    assert gemm.plan(N, 784, 256, False, True, 1024) is None    # large: BLAS
    assert gemm.plan(16, N, 16, True, True, 1024) is None       # Aᵀ·Bᵀ: BLAS
    assert gemm.plan(N, N, 16, False, False, 1024) is None      # K depends on the batch


LOOPED = [(5, 3), (33, 7), (37, 32), (67, 3), (32, 32), (9, 37)]


@pytest.mark.parametrize("kind", ["rows", "rows_bt", "outer"])
def test_looped_reduction_and_block_loops_match_numpy_at_odd_sizes(kind):
    """K past ``K_UNROLL`` (a loop of K_UNROLL steps per iteration, then K mod K_UNROLL
    more), the weight transpose's and Aᵀ·B's block-row loops with ragged edges: float64
    to 1e-10 relative against numpy."""
    rng = np.random.default_rng(1)
    for K, J in LOOPED:
        f, _ = product_kernel(kind, DOUBLE, K, J)
        for n in (0, 1, 7, 65):
            A = rng.normal(size=(n, K))
            if kind == "outer":
                B = rng.normal(size=(n, J))
                want, C = A.T @ B, np.full((K, J), np.nan)
            elif kind == "rows_bt":
                B = rng.normal(size=(J, K))
                want, C = A @ B.T, np.full((n, J), np.nan)
            else:
                B = rng.normal(size=(K, J))
                want, C = A @ B, np.full((n, J), np.nan)
            f(A.ctypes.data, B.ctypes.data, C.ctypes.data, n)
            scale = np.abs(A).max(initial=1) * np.abs(B).max(initial=1) * max(K if kind != "outer" else n, 1)
            np.testing.assert_allclose(C, want, rtol=1e-10, atol=1e-12 * scale, err_msg=f"{kind} {K} {J} {n}")


def test_product_ir_does_not_grow_with_the_reduced_or_blocked_sizes():
    """The K loop holds at most 2·K_UNROLL steps, the transpose and Aᵀ·B one block row:
    a 128-long K (or 32 rows of Aᵀ·B) makes about as much IR as a 16-long one (4 rows)."""
    def size(kind, K, J):
        return len(product_kernel(kind, DOUBLE, K, J)[1].ir)
    assert size("rows_bt", 128, 16) < 1.3 * size("rows_bt", 16, 16)
    assert size("rows", 129, 16) < 1.3 * size("rows", 17, 16)
    assert size("outer", 32, 32) < 1.3 * size("outer", 8, 32)
