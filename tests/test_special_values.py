"""Every backend gives numpy's answer on special values: ±0, ±inf, NaN, subnormals and the
overflow thresholds of exp, for every built-in elementwise function, its first and second
derivative, the arithmetic operators and the reductions.

One NaN semantics everywhere (README, "NaN and inf"): NaN propagates as in numpy (relu(NaN),
abs'(NaN), max over a row holding NaN are NaN), a comparison with NaN is false, and inf
behaves as IEEE arithmetic says.  Each backend compiles one kernel holding every case, shared
by the module's tests.
"""

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from tests.conftest import optional_backends
from symbackprop.graph.scalar import ARG, FUNCTIONS, derivative

X0, X1 = ARG[0], ARG[1]
SPECIAL64 = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 709.78, 709.79, 710.0, -745.1, -746.0,
             -708.4, 1e-308, 5e-324, -5e-324, 1e300, -1e300, 20.0, -20.0, 40.0, -40.0, 1e-8, 3.0]
SPECIAL32 = [0.0, -0.0, 1.0, -1.0, 0.5, np.inf, -np.inf, np.nan, 88.72, 88.73, 89.0, -103.9, -104.0, -87.3,
             1e-38, 1e-45, 3e38, -3e38, 9.0, -9.0, 10.0, 1e-4, 3.0]
BINARY = {"+": X0 + X1, "-": X0 - X1, "*": X0 * X1, "/": X0 / X1, "**": X0 ** X1, "square/": X0 / X1 ** 2,
          "cube": X0 ** 3 * X1, "recip3": X0 / X1 ** 3, "max": sp.Max(X0, X1), "min": sp.Min(X0, X1),
          "pw": sp.Piecewise((X0, X0 > X1), (X1 * 2, True))}
BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()


def _bodies():
    """(label, unary Lambda) for every built-in function and its first two derivatives."""
    out = []
    for name, body in sorted(FUNCTIONS.items()):
        d1 = derivative(body, 0)
        d2 = derivative(d1, 0)
        out += [(name, body), (f"{name}'", d1), (f"{name}''", d2)]
    return out


UNARY = _bodies()


def _graph(dtype):
    x = sb.input("x", (None,), dtype=dtype)
    y = sb.input("y", (None,), dtype=dtype)
    rows = sb.input("rows", (None, 3), dtype=dtype)
    outs, labels = [], []
    for label, body in UNARY:
        outs.append(sb.map(body, x))
        labels.append(label)
    for label, expr in BINARY.items():
        outs.append(sb.map(sp.Lambda((X0, X1), expr), x, y))
        labels.append(label)
    for kind in ("sum", "max", "logsumexp"):
        outs.append(sb.reduce(kind, rows, axis=1))
        labels.append(f"{kind} of rows")
    # gradients through the graph: the derived and simplified bodies, not only the table's
    for name in ("relu", "abs", "leaky_relu", "sigmoid", "softplus", "tanh"):
        outs.append(sb.grad(sb.sum(getattr(sb, name)(x)), x))
        labels.append(f"grad {name}")
    outs.append(sb.grad(sb.sum(sb.max(rows, axis=1)), rows))
    labels.append("grad max of rows")
    return outs, labels


def _feeds(dtype):
    special = np.array(SPECIAL64 if dtype == "float64" else SPECIAL32, dtype=dtype)
    xs, ys = np.meshgrid(special, special)  # every pair, for the binary operators
    x, y = xs.ravel(), ys.ravel()
    rows = np.stack([x, y, np.roll(x, 7)], axis=1)
    return {"x": x, "y": y, "rows": rows}


@pytest.fixture(scope="module", params=["float64", "float32"])
def cases(request):
    dtype = request.param
    outs, labels = _graph(dtype)
    feeds = _feeds(dtype)
    with np.errstate(all="ignore"):
        want = sb.evaluate(outs, feeds)
    return dtype, outs, labels, feeds, want


def assert_same_special(got, want, rtol, what, scale=None):
    """Same NaN places, same infinities (with sign), finite values within ``rtol`` relative.

    The absolute floor is a few ulp of the output's typical magnitude (capped at 1): a sum whose
    terms cancel (gelu'(−20) = ½ + ½erf(−14.1) + 1e-86) is 0 in one summation order and 1e-86
    in another, both correctly rounded evaluations of the same formula.
    """
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    finite = np.abs(want[np.isfinite(want)])
    eps = np.finfo(want.dtype).eps
    tiny = np.finfo(want.dtype).tiny + 8 * eps * min(1.0, float(finite.max(initial=0.0)))
    if scale is not None:  # a sum, reassociated for vectors, is exact to a few ulp of Σ|terms|
        tiny = tiny + 8 * eps * scale
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    bad = nan_g != nan_w
    both = ~nan_g & ~nan_w
    inf = both & (np.isinf(got) | np.isinf(want))
    bad |= inf & (got != want)
    fin = both & ~inf
    with np.errstate(invalid="ignore", over="ignore"):
        bad |= fin & (np.abs(got - want) > rtol * np.abs(want) + tiny)
    if bad.any():
        i = np.flatnonzero(bad.ravel())[:6]
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} differ; first at flat index {i.tolist()}: "
                             f"got {got.ravel()[i].tolist()}, want {want.ravel()[i].tolist()}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_function_derivative_and_operator_agrees_with_the_evaluator_on_special_values(cases, backend):
    dtype, outs, labels, feeds, want = cases
    if backend == "jax":  # XLA on CPU flushes subnormals to zero (JAX's choice): compare on flushed inputs
        feeds = {k: np.where(np.abs(v) < np.finfo(v.dtype).tiny, np.copysign(0, v).astype(v.dtype), v) for k, v in feeds.items()}
        with np.errstate(all="ignore"):
            want = sb.evaluate(outs, feeds)
    f = sb.compile(outs, backend=backend)
    with np.errstate(all="ignore"):
        got = f(**feeds)
    # float64 to 1e-10 (the contract); float32 within a few ulp of numpy's own float32 functions
    rtol = 1e-10 if dtype == "float64" else 2e-6
    for label, g, w in zip(labels, got, want):
        inputs = feeds["rows"] if "rows" in label else feeds["x"]
        scale = np.abs(feeds["rows"]).astype(np.float64).sum(axis=1) if label == "sum of rows" else None
        assert_same_special(g, w, rtol, f"{backend} {dtype} {label} (inputs {inputs.ravel()[:4]}...)", scale)


def test_nan_propagates_through_relu_abs_derivative_and_max_on_every_backend():
    """The cases that once differed: numba gave 0 or the max of the rest."""
    x = sb.input("x", (None,)); rows = sb.input("rows", (None, 3))
    outs = [sb.relu(x), sb.grad(sb.sum(sb.abs(x)), x), sb.max(rows, axis=1), sb.leaky_relu(x)]
    feeds = {"x": np.array([np.nan, 1.0]), "rows": np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])}
    for backend in BACKENDS:
        relu, dabs, mx, leaky = sb.compile(outs, backend=backend)(**feeds)
        assert np.isnan(relu[0]) and relu[1] == 1.0, backend
        assert np.isnan(dabs[0]) and dabs[1] == 1.0, backend
        assert np.isnan(mx[0]) and mx[1] == 3.0, backend
        assert np.isnan(leaky[0]), backend
