"""Small products of the numba backend as loop nests (``emit.product_plan``) against numpy.

Ragged on purpose: batch sizes that leave remainders after the row blocks (4) and the
outer-product blocks (16), and row widths 1, 3, 10, 16, 17 (odd widths leave vector tails).
"""

import numpy as np
import pytest

from codegen.layout import N
from codegen.numba_backend.emit import product_plan
from codegen.program import Buffer, MatMul, Program

pytest.importorskip("numba")

BATCHES = (1, 3, 5, 16, 37, 100)


def _program(shape_a, shape_b, shape_c, trans_a, trans_b, dtype):
    buffers = {"a": Buffer("a", shape_a, dtype, "input"), "b": Buffer("b", shape_b, dtype, "input"),
               "c": Buffer("c", shape_c, dtype, "temp")}
    size = shape_c[0] * shape_c[1]
    return Program(buffers, (MatMul("c", "a", "b", trans_a, trans_b),), ("a", "b"), {}, ("c",),
                   slots={"c": (dtype, 0)}, slot_sizes={dtype: (size,)})


def _check(program, arrays_for, expected_for, dtype):
    from codegen.numba_backend import build
    run = build(program)
    rng = np.random.default_rng(0)
    rtol = 1e-10 if dtype == "float64" else 1e-4
    for n in BATCHES:
        arrays = arrays_for(rng, n)
        (got,) = run(arrays, n)
        want = expected_for(arrays)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, np.abs(want).max()))
    return run.source


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k,j", [(1, 16), (2, 16), (3, 10), (16, 16), (17, 3), (10, 17), (16, 1)])
@pytest.mark.parametrize("trans_b", [False, True])
def test_rows_products_match_numpy(k, j, trans_b, dtype):
    """C = A·op(B): A batch × k, B k × j (or j × k transposed, a layer's weight)."""
    shape_b = (j, k) if trans_b else (k, j)
    program = _program((N, k), shape_b, (N, j), False, trans_b, dtype)
    source = _check(program,
                    lambda rng, n: {"a": rng.standard_normal((n, k)).astype(dtype),
                                    "b": rng.standard_normal(shape_b).astype(dtype)},
                    lambda a: a["a"] @ (a["b"].T if trans_b else a["b"]), dtype)
    assert ("np.dot(" in source) == (product_plan(N, k, j, False, trans_b) is None)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m,j", [(1, 1), (1, 3), (1, 16), (1, 17), (2, 16), (16, 10)])
def test_outer_products_match_numpy(m, j, dtype):
    """C = Aᵀ·B over the batch (a weight gradient): loops when A is one column."""
    program = _program((N, m), (N, j), (m, j), True, False, dtype)
    source = _check(program,
                    lambda rng, n: {"a": rng.standard_normal((n, m)).astype(dtype),
                                    "b": rng.standard_normal((n, j)).astype(dtype)},
                    lambda a: a["a"].T @ a["b"], dtype)
    assert ("np.dot(" in source) == (m != 1)


def test_plan_keeps_blas_for_large_and_matrix_vector_products():
    assert product_plan(N, 64, 128, False, True) is None      # 8192 constant elements: BLAS
    assert product_plan(N, 16, 1, False, True) is None        # matrix-vector: BLAS measured faster
    assert product_plan(16, N, 16, True, False) is None       # outer with M > 1: BLAS
    assert product_plan(N, 32, 32, False, False) == "rows"    # 1024: the limit, inclusive


def test_transposed_weight_goes_through_preallocated_scratch():
    """No step allocates: the transposed copy goes to a scratch array passed in."""
    from codegen.numba_backend import kernel_source
    src = kernel_source(_program((N, 3), (10, 3), (N, 10), False, True, "float64"))
    assert "scratch_float64" in src.splitlines()[src.splitlines().index(next(
        line for line in src.splitlines() if line.startswith("def kernel")))]
    assert "np.empty" not in src and "np.zeros" not in src
