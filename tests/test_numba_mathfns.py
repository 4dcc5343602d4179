"""Accuracy of the numba backend's vectorisable math against numpy's libm, in float64."""

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from codegen.numba_backend import mathfns  # noqa: E402

FUNCS = {"fexp": (np.exp, 1), "fexpm1": (np.expm1, 2), "ftanh": (np.tanh, 3),
         "fsigmoid": (lambda x: 1 / (1 + np.exp(-x)), 4), "fsoftplus": (lambda x: np.logaddexp(0, x), 4)}


def vectorised(name):
    fn = getattr(mathfns, name)

    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    def call(x):
        out = np.empty_like(x)
        apply(x, out)
        return out

    return call


@pytest.fixture(scope="module", params=sorted(FUNCS))
def case(request):
    return request.param, vectorised(request.param)


def ulps(got, ref):
    err = np.abs(got - ref) / np.spacing(np.abs(ref))
    err[(got == ref)] = 0
    return err


def test_dense_sweep_within_stated_ulps(case):
    name, fn = case
    ref_fn, bound = FUNCS[name]
    lo, hi = {"fexp": (-745, 709.7), "fexpm1": (-40, 709)}.get(name, (-40, 40))
    x = np.concatenate([np.linspace(lo, hi, 400_001), np.linspace(-1, 1, 100_001), np.linspace(-1e-4, 1e-4, 20_001),
                        np.random.default_rng(0).normal(scale=5, size=100_000)])
    with np.errstate(all="ignore"):
        ref = ref_fn(x)
    assert ulps(fn(x), ref).max() <= bound


def test_edges(case):
    name, fn = case
    ref_fn, _ = FUNCS[name]
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
