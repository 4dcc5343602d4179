"""Accuracy of the numba backend's vectorisable math against numpy, in float64 and float32.

Each function is compiled twice: plainly, and with the kernels' fast-math flags (how the
generated kernels inline it), since reassociation could undo a compensated step.
"""

import re

import numpy as np
import pytest
import scipy.special

numba = pytest.importorskip("numba")
from codegen.numba_backend import mathfns  # noqa: E402

#: name -> (numpy reference, max ulps from it, sweep range)
FUNCS = {"fexp": (np.exp, 1, (-745, 709.7)), "ftanh": (np.tanh, 3, (-40, 40)),
         "fsigmoid": (lambda x: 1 / (1 + np.exp(-x)), 4, (-40, 40)),
         "fsoftplus": (lambda x: np.logaddexp(0, x), 4, (-40, 40))}
#: float32: the reference is numpy's float32 result; the second bound is against the exact
#: value (float64 rounded), which numpy's own float32 functions miss by up to 2.5 ulp (tanh:
#: the llvm backend's, 2.1 ulp from the exact value, so 3 from numpy's on the far side)
FUNCS32 = {"fexp32": (np.exp, 3, 1, (-104, 88.8)), "ftanh32": (np.tanh, 3, 3, (-12, 12)), "fsigmoid32": (scipy.special.expit, 4, 3, (-40, 40)),
           "fsoftplus32": (lambda x: np.logaddexp(x.dtype.type(0), x), 2, 2, (-40, 40))}
KERNEL_FLAGS = {"fastmath": {"reassoc", "contract"}}  # as codegen.numba_backend.JIT_OPTIONS


def vectorised(name, **flags):
    fn = getattr(mathfns, name)

    @numba.njit(error_model="numpy", **flags)
    def apply(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    def call(x):
        out = np.empty_like(x)
        apply(x, out)
        return out

    return call


def sweep(lo, hi, dtype, dense=400_001):
    x = np.concatenate([np.linspace(lo, hi, dense), np.linspace(-1, 1, 100_001), np.linspace(-1e-4, 1e-4, 20_001),
                        np.random.default_rng(0).normal(scale=5, size=100_000)])
    return x.astype(dtype)


def ulps(got, ref, dtype):
    """|got − ref| in units of the spacing of ``dtype`` at ref; equal values (infs too) are 0."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got - ref) / np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    err[got == ref] = 0
    err[np.isinf(got) & (np.abs(ref) > np.finfo(dtype).max)] = 0  # overflowed where the exact value does
    return err


def _id(param):
    return "-".join(param)


@pytest.fixture(scope="module", params=[(n, f) for n in sorted(FUNCS) for f in ("plain", "kernel")], ids=_id)
def case(request):
    name, flags = request.param
    return name, vectorised(name, **(KERNEL_FLAGS if flags == "kernel" else {}))


@pytest.fixture(scope="module", params=[(n, f) for n in sorted(FUNCS32) for f in ("plain", "kernel")], ids=_id)
def case32(request):
    name, flags = request.param
    return name, vectorised(name, **(KERNEL_FLAGS if flags == "kernel" else {}))


def test_dense_sweep_within_stated_ulps(case):
    name, fn = case
    ref_fn, bound, (lo, hi) = FUNCS[name]
    x = sweep(lo, hi, np.float64)
    with np.errstate(all="ignore"):
        ref = ref_fn(x)
    assert ulps(fn(x), ref, np.float64).max() <= bound


def test_edges(case):
    name, fn = case
    ref_fn = FUNCS[name][0]
    x = np.array([0.0, -0.0, np.inf, -np.inf, 709.78, 709.79, -745.13, -745.14, -708.4, 1e-300, -1e-300, 5e-324,
                  40.0, -40.0, 800.0, -800.0])
    with np.errstate(all="ignore"):
        ref = ref_fn(x)
    got = fn(x)
    with np.errstate(invalid="ignore"):  # inf − inf where both sides are inf
        same = (got == ref) | (np.abs(got - ref) <= 4 * np.spacing(np.abs(ref)))
    assert same.all(), list(zip(x[~same], got[~same], ref[~same]))
    assert np.isnan(fn(np.array([np.nan])))[0]
    if name == "ftanh":
        assert np.signbit(fn(np.array([-0.0]))[0])  # sign of zero kept


def test_float32_dense_sweep_within_stated_ulps(case32):
    name, fn = case32
    ref_fn, bound, exact_bound, (lo, hi) = FUNCS32[name]
    x = sweep(lo, hi, np.float32, dense=2_000_001)
    got = fn(x)
    assert got.dtype == np.float32
    with np.errstate(all="ignore"):
        ref32, exact = ref_fn(x), ref_fn(x.astype(np.float64))
    assert ulps(got, ref32, np.float32).max() <= bound
    assert ulps(got, exact, np.float32).max() <= exact_bound


def test_float32_edges(case32):
    name, fn = case32
    ref_fn = FUNCS32[name][0]
    f32 = np.finfo(np.float32)
    # overflow (88.72284) and underflow (−87.33655 to subnormal, −103.97208 to zero) thresholds,
    # the smallest subnormal, tanh's rounding to 1 (9.0109), the clamps of the reduction
    x = np.array([0.0, -0.0, np.inf, -np.inf, 88.72283, 88.72284, -87.33654, -87.33656, -103.97207, -103.9721,
                  -104.5, f32.smallest_subnormal, -f32.smallest_subnormal, f32.tiny, 1e-30, -1e-30, 9.0, 9.02,
                  -9.02, 10.0, 20.0, -20.0, 89.0, -89.0, 200.0, -200.0, f32.max, -f32.max], dtype=np.float32)
    with np.errstate(all="ignore"):
        ref = ref_fn(x.astype(np.float64))  # exact: numpy's float32 expit flushes σ(−89) to 0
    got = fn(x)
    err = ulps(got, ref, np.float32)
    assert (err <= 2).all(), list(zip(x[err > 2], got[err > 2], ref[err > 2]))
    assert np.isnan(fn(np.array([np.nan], np.float32)))[0]
    assert np.array_equal(np.signbit(got[:2]), np.signbit(ref_fn(x[:2])))  # the sign of ±0 kept as numpy's


@pytest.mark.parametrize("name", sorted(FUNCS32))
def test_float32_loop_vectorises_without_float64(name):
    """A loop of a float32 function compiles (as in a kernel) to vector float32 code with no
    double in it: one float64 constant would promote the chain and halve the SIMD width."""
    fn = getattr(mathfns, name)

    @numba.njit(error_model="numpy", **KERNEL_FLAGS)
    def apply(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    x = np.linspace(-3, 3, 64, dtype=np.float32)
    apply(x, np.empty_like(x))
    ir = "\n".join(apply.inspect_llvm().values())
    assert re.search(r"<\d+ x float>", ir), "the loop did not vectorise"
    assert "double" not in ir
