"""Training that meets NaN or inf stops with the epoch, the step and what went non-finite, and
leaves the params at their last finite values, on every backend.

A step commits only when its loss, every gradient and every updated value are finite, so a
diverging run never hands back a model full of NaN.  Three ways to diverge: the loss overflows,
a gradient is NaN while the loss is finite, and the update itself overflows (finite loss and
gradients, a huge learning rate).
"""

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from tests.conftest import optional_backends

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()


def _trainer(backend, lr, loss="mse", dtype="float64", net=None):
    net = net or sb.nn.Sequential(sb.nn.Linear(3, 8), sb.nn.Linear(8, 1))
    return sb.Trainer(net, loss=loss, optimizer=sb.optim.SGD(lr=lr), backend=backend, dtype=dtype, seed=0)


def test_a_diverging_loss_stops_every_backend_at_the_same_step_with_the_same_finite_params():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)); Y = X @ np.array([[1.0], [2.0], [3.0]])
    results = {}
    for backend in BACKENDS:
        tr = _trainer(backend, lr=5.0)
        with pytest.raises(sb.TrainingDiverged) as info:
            tr.fit(X, Y, epochs=50, batch_size=16, verbose=False)
        e = info.value
        assert "the loss" in str(e) and e.param is None and "last finite values" in str(e)
        results[backend] = (e.epoch, e.step, tr.params)
    epoch, step, want = results["numpy"]
    for backend, (ep, st, got) in results.items():
        assert (ep, st) == (epoch, step), backend
        for name in want:
            assert np.isfinite(got[name]).all(), (backend, name)
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, err_msg=f"{backend} {name}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_gradient_under_a_finite_loss_names_the_param_and_changes_nothing(backend):
    # L = mean(sqrt(|ŷ − y|)): finite (0) at ŷ = y, its derivative sign(u)/(2√|u|) is 0/0 there
    yhat, y = sb.input("yhat", (None, 1)), sb.input("y", (None, 1))
    loss = sb.mean(sb.sqrt(sb.abs(yhat - y)))
    tr = _trainer(backend, lr=0.1, loss=loss, net=sb.nn.Linear(3, 1))
    X, Y = np.zeros((8, 3)), np.zeros((8, 1))
    tr.params = {"weight": np.zeros((1, 3)), "bias": np.zeros(1)}
    with pytest.raises(sb.TrainingDiverged) as info:
        tr.fit(X, Y, epochs=3, batch_size=4, verbose=False)
    e = info.value
    assert (e.epoch, e.step) == (1, 1)
    assert e.param in ("weight", "bias") and f"the gradient of {e.param}" in str(e)
    assert all((v == 0).all() for v in tr.params.values())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_update_that_overflows_is_not_applied(backend, dtype):
    # finite loss and gradients, but p − lr·g overflows: the step must not be committed
    lr = 1e307 if dtype == "float64" else 1e38  # |g| ~ 20: lr·g overflows, lr itself does not
    rng = np.random.default_rng(1)
    X = rng.normal(size=(16, 3)); Y = rng.normal(size=(16, 1)) + 10
    tr = _trainer(backend, lr=lr, dtype=dtype)
    before = tr.params
    with pytest.raises(sb.TrainingDiverged) as info:
        tr.fit(X, Y, epochs=2, batch_size=16, verbose=False)
    e = info.value
    assert (e.epoch, e.step) == (1, 1)
    assert "updated value" in str(e) and e.param is not None
    after = tr.params
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=f"{backend} {name}")
