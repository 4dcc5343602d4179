"""nn, losses, optimizers and Trainer: against a hand-written MLP, finite differences,
closed forms and (when installed) PyTorch."""

import numpy as np
import pytest

import symbackprop as sb
from tests.reference_mlp import mlp_loss_and_grads

ACT_MODULES = {"tanh": sb.nn.Tanh, "relu": sb.nn.ReLU, "sigmoid": sb.nn.Sigmoid, "leaky_relu": sb.nn.LeakyReLU,
               "softplus": sb.nn.Softplus, "gelu": sb.nn.GELU}


def make_net(sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(sb.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACT_MODULES[act]())
    return sb.nn.Sequential(*layers)


def make_data(kind, n, d_in, d_out, rng):
    X = rng.normal(size=(n, d_in))
    if kind == "cross_entropy":
        return X, rng.integers(0, d_out, size=n)
    if kind == "bce":
        return X, rng.uniform(0, 1, size=(n, d_out))
    if kind == "hinge":
        return X, rng.choice([-1.0, 1.0], size=(n, d_out))
    return X, rng.normal(size=(n, d_out))


CASES = [((3, 5, 2), "tanh", "mse"), ((4, 8, 8, 3), "relu", "cross_entropy"), ((2, 6, 1), "sigmoid", "bce"),
         ((3, 4, 4, 4, 1), "gelu", "hinge"), ((5, 7, 3), "leaky_relu", "mse"), ((2, 3, 2), "softplus", "cross_entropy"),
         ((6, 9, 9, 9, 9, 2), "tanh", "bce")]


@pytest.mark.parametrize("sizes,act,kind", CASES)
def test_gradients_match_hand_written_mlp(sizes, act, kind):
    rng = np.random.default_rng(hash((sizes, act, kind)) % 2 ** 32)
    tr = sb.Trainer(make_net(sizes, act), loss=kind, seed=3, backend="numpy")
    X, y = make_data(kind, 13, sizes[0], sizes[-1], rng)
    loss, grads = tr.gradients(X, y)
    ref_loss, ref_grads = mlp_loss_and_grads(tr.params, sizes, act, kind, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert set(grads) == set(ref_grads)
    for name in grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-9, atol=1e-13, err_msg=name)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    tr = sb.Trainer(make_net((3, 4, 2), "tanh"), loss="cross_entropy", seed=1, backend="numpy")
    X, y = make_data("cross_entropy", 7, 3, 2, rng)
    _, grads = tr.gradients(X, y)
    params = tr.params
    for name, p in params.items():
        fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            h = 1e-6
            for sign in (1, -1):
                q = {k: v.copy() for k, v in params.items()}
                q[name][idx] += sign * h
                tr.params = q
                fd[idx] += sign * tr.gradients(X, y)[0] / (2 * h)
        tr.params = params
        np.testing.assert_allclose(grads[name], fd, rtol=1e-6, atol=1e-9, err_msg=name)


def test_param_names_shapes_and_init_follow_pytorch():
    net = make_net((2, 16, 16, 1), "tanh")
    assert [n for n, _ in net.parameter_shapes()] == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    params = net.init_params(seed=0)
    assert params["0.weight"].shape == (16, 2) and params["2.bias"].shape == (16,)
    assert np.abs(params["0.weight"]).max() <= 1 / np.sqrt(2) and np.abs(params["2.weight"]).max() <= 1 / 4
    assert np.abs(params["2.weight"]).max() > 0.2  # really spread over ±1/√16, not a tiny range
    again = net.init_params(seed=0)
    assert all(np.array_equal(params[k], again[k]) for k in params)
    assert not np.array_equal(net.init_params(seed=1)["0.weight"], params["0.weight"])


def test_sgd_reaches_least_squares_solution():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)); w_true = np.array([[1.5, -2.0, 0.5]]); Y = X @ w_true.T + 0.3 + 0.01 * rng.normal(size=(64, 1))
    tr = sb.Trainer(sb.nn.Linear(3, 1), loss="mse", optimizer=sb.optim.SGD(lr=0.1, momentum=0.5), seed=0, backend="numpy")
    tr.fit(X, Y, epochs=300, batch_size=64)
    A = np.hstack([X, np.ones((64, 1))])
    sol = np.linalg.lstsq(A, Y, rcond=None)[0][:, 0]
    np.testing.assert_allclose(tr.params["weight"][0], sol[:3], atol=1e-8)
    assert tr.params["bias"][0] == pytest.approx(sol[3], abs=1e-8)


def test_fit_uses_partial_last_batch_and_is_seeded():
    rng = np.random.default_rng(0)
    X, Y = make_data("mse", 10, 2, 1, rng)
    runs = []
    for _ in range(2):
        tr = sb.Trainer(make_net((2, 3, 1), "tanh"), optimizer=sb.optim.SGD(lr=0.1), seed=7, backend="numpy")
        hist = tr.fit(X, Y, epochs=3, batch_size=4)
        runs.append((hist, tr.params))
    hist = runs[0][0]
    assert hist.steps == 9 and hist.epochs == 3 and len(hist.loss) == 3
    assert runs[0][0].loss == runs[1][0].loss
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    other = sb.Trainer(make_net((2, 3, 1), "tanh"), optimizer=sb.optim.SGD(lr=0.1), seed=8, backend="numpy")
    assert other.fit(X, Y, epochs=3, batch_size=4).loss != hist.loss


def test_epoch_loss_is_mean_over_samples_of_the_epoch():
    # with lr 0 the params never move, so each epoch's loss is the full-data loss
    rng = np.random.default_rng(2)
    X, Y = make_data("mse", 10, 2, 1, rng)
    tr = sb.Trainer(make_net((2, 3, 1), "tanh"), optimizer=sb.optim.SGD(lr=0.0), seed=0, backend="numpy")
    hist = tr.fit(X, Y, epochs=2, batch_size=3)
    full = tr.gradients(X, Y)[0]
    assert hist.loss == pytest.approx([full, full], rel=1e-12)


def test_training_diverged_names_epoch_and_step():
    rng = np.random.default_rng(0)
    X, Y = make_data("mse", 20, 2, 1, rng)
    tr = sb.Trainer(make_net((2, 8, 1), "relu"), optimizer=sb.optim.SGD(lr=1e6), seed=0, backend="numpy")
    with pytest.raises(sb.TrainingDiverged) as e:
        tr.fit(X, Y * 1e3, epochs=50, batch_size=5)
    assert e.value.epoch >= 1 and e.value.step >= 1
    assert f"epoch {e.value.epoch}, step {e.value.step}" in str(e.value)


@pytest.mark.parametrize("kind,X,Y,match", [
    ("mse", [[np.nan, 1.0]], [[0.0]], "non-finite"),
    ("cross_entropy", [[1.0, 2.0]], [3], r"\[0, 2\)"),
    ("cross_entropy", [[1.0, 2.0]], [0.5], "integer"),
    ("hinge", [[1.0, 2.0]], [[0.0]], "-1 and \\+1"),
    ("bce", [[1.0, 2.0]], [[2.0]], r"\[0, 1\]"),
])
def test_bad_data_raises_data_error(kind, X, Y, match):
    out = 2 if kind == "cross_entropy" else 1
    tr = sb.Trainer(make_net((2, 3, out), "tanh"), loss=kind, backend="numpy")
    with pytest.raises(sb.DataError, match=match):
        tr.fit(np.array(X), np.array(Y))


def test_bad_shapes_and_arguments():
    tr = sb.Trainer(make_net((2, 3, 1), "tanh"), backend="numpy")
    with pytest.raises(sb.ShapeError, match="Linear\\(2, 3\\)"):
        tr.fit(np.zeros((4, 5)), np.zeros((4, 1)))
    with pytest.raises(sb.ShapeError, match="4 samples but Y has 3"):
        tr.fit(np.zeros((4, 2)), np.zeros((3, 1)))
    with pytest.raises(sb.ShapeError, match=r"targets must have shape \(n, 1\)"):
        tr.fit(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="unknown loss"):
        sb.Trainer(make_net((2, 1), "tanh"), loss="l1", backend="numpy")
    with pytest.raises(sb.DTypeError):
        sb.Trainer(make_net((2, 1), "tanh"), dtype="float16", backend="numpy")
    with pytest.raises(sb.CompileError, match="unknown backend"):
        sb.Trainer(make_net((2, 1), "tanh"), backend="cuda").fit(np.zeros((2, 2)), np.zeros((2, 1)))
    with pytest.raises(sb.ShapeError, match="mse: prediction"):
        sb.mse(sb.input("p", (None, 2)), sb.input("t", (None, 1)))
    with pytest.raises(KeyError, match="no param named"):
        tr.params = {"9.weight": np.zeros((1, 1))}


def test_custom_losses_callable_and_expr_agree_with_builtin():
    rng = np.random.default_rng(4)
    X, Y = make_data("mse", 9, 2, 1, rng)
    yhat, y = sb.input("yhat", (None, 1)), sb.input("y", (None, 1))
    results = []
    for loss in ("mse", lambda p, t: sb.mean((p - t) ** 2), sb.mean((yhat - y) ** 2)):
        tr = sb.Trainer(make_net((2, 4, 1), "tanh"), loss=loss, seed=2, backend="numpy")
        results.append(tr.gradients(X, Y))
    for loss, grads in results[1:]:
        assert loss == pytest.approx(results[0][0], rel=1e-14)
        for k in grads:
            np.testing.assert_allclose(grads[k], results[0][1][k], rtol=1e-13)


def test_l2_gradient_is_weight_times_param_and_matches_weight_decay():
    W = sb.param("W", (2, 3))
    g = sb.grad(sb.l2([W], weight=0.1), W)
    w0 = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(sb.compile(g, backend="numpy")(W=w0), 0.1 * w0)
    rng = np.random.default_rng(0)
    X, Y = make_data("mse", 8, 2, 1, rng)
    a = sb.Trainer(sb.nn.Linear(2, 1), optimizer=sb.optim.SGD(lr=0.1, weight_decay=0.1), seed=0, backend="numpy")
    w = sb.param("weight", (1, 2)); b = sb.param("bias", (1,))
    b_tr = sb.Trainer(sb.nn.Linear(2, 1), loss=lambda p, t: sb.mse(p, t) + sb.l2([w, b], 0.1),
                      optimizer=sb.optim.SGD(lr=0.1), seed=0, backend="numpy")
    a.fit(X, Y, epochs=5); b_tr.fit(X, Y, epochs=5)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b_tr.params[k], rtol=1e-12)


def test_float32_training_runs_in_float32():
    rng = np.random.default_rng(0)
    X, Y = make_data("mse", 16, 2, 1, rng)
    tr = sb.Trainer(make_net((2, 4, 1), "tanh"), dtype="float32", optimizer=sb.optim.Adam(lr=0.01), backend="numpy")
    hist = tr.fit(X, Y, epochs=20, batch_size=8)
    assert all(v.dtype == np.float32 for v in tr.params.values())
    assert tr.predict(X).dtype == np.float32
    assert hist.loss[-1] < hist.loss[0]


def test_demo_command_runs(capsys):
    from symbackprop.cli import main
    assert main(["demo", "--epochs", "50"]) == 0
    out = capsys.readouterr().out
    assert "training accuracy" in out and "µs/step" in out
