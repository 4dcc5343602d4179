"""BatchNorm, LayerNorm and Dropout: PyTorch float64 parity of loss, gradients, params after
SGD and Adam steps, running statistics and eval-mode outputs on every backend; finite
differences as a second oracle; dropout masks statistically and for reproducibility."""

import numpy as np
import pytest

import symbackprop as sb
from codegen.numpy_backend.random import dropout_mask, threshold
from symbackprop.graph.traverse import leaves
from tests.conftest import fd_grads, optional_backends

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()  # jax when it imports


class ResNet(sb.nn.Module):
    """Linear (no bias: BatchNorm follows) → BatchNorm → tanh, a residual LayerNorm branch, a head."""

    def __init__(self):
        super().__init__()
        self.fc1 = sb.nn.Linear(3, 5, bias=False)
        self.bn = sb.nn.BatchNorm1d(5, momentum=0.2)
        self.ln = sb.nn.LayerNorm(5)
        self.fc2 = sb.nn.Linear(5, 2)

    def forward(self, x):
        h = sb.tanh(self.bn(self.fc1(x)))
        return self.fc2(self.ln(h) + h)


def make_data(n=20):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)) * 2 + 1, rng.normal(size=(n, 2))


def test_init_params_are_pytorch_defaults():
    net = ResNet()
    p, b = net.init_params(seed=0), net.init_buffers()
    np.testing.assert_array_equal(p["bn.weight"], np.ones(5))
    np.testing.assert_array_equal(p["ln.bias"], np.zeros(5))
    np.testing.assert_array_equal(b["bn.running_var"], np.ones(5))
    assert b["bn.num_batches_tracked"].dtype == np.int64


def test_batchnorm_and_layernorm_gradients_match_finite_differences():
    x, y = sb.input("x", (None, 3)), sb.input("y", (None, 2))
    loss = sb.mse(ResNet()(x), y)
    X, Y = make_data(6)
    rng = np.random.default_rng(1)
    feeds = {"x": X, "y": Y, "fc1.weight": rng.normal(size=(5, 3)), "bn.weight": rng.normal(size=5),
             "bn.bias": rng.normal(size=5), "ln.weight": rng.normal(size=5), "ln.bias": rng.normal(size=5),
             "fc2.weight": rng.normal(size=(2, 5)), "fc2.bias": rng.normal(size=2)}
    names = [k for k in feeds if k not in ("y",)]
    params = {n.name: n for n in leaves([loss]) if n.name in names}
    g = sb.grad(loss, list(params.values()))
    got = sb.evaluate([g[params[n]] for n in names], feeds)
    want = fd_grads(loss, feeds, names)
    for name, a in zip(names, got):
        np.testing.assert_allclose(a, want[name], rtol=1e-6, atol=1e-8, err_msg=name)


# ---- PyTorch parity ----------------------------------------------------------------------------
torch = pytest.importorskip("torch")


class TorchResNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 5, bias=False)
        self.bn = torch.nn.BatchNorm1d(5, momentum=0.2)
        self.ln = torch.nn.LayerNorm(5)
        self.fc2 = torch.nn.Linear(5, 2)

    def forward(self, x):
        h = torch.tanh(self.bn(self.fc1(x)))
        return self.fc2(self.ln(h) + h)


OPTIMIZERS = {"sgd": (lambda: sb.optim.SGD(lr=0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
              "adam": (lambda: sb.optim.Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01))}


def torch_train(tnet, opt, X, Y, epochs, bs, masks=None):
    """Minibatches in order, as ``fit(shuffle=False)``; mean loss per epoch."""
    losses = []
    for _ in range(epochs):
        total = 0.0
        for s in range(0, len(X), bs):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(tnet(torch.tensor(X[s:s + bs])), torch.tensor(Y[s:s + bs]))
            loss.backward()
            opt.step()
            total += loss.item() * len(X[s:s + bs])
        losses.append(total / len(X))
    return losses


@pytest.fixture(scope="module", params=[(b, o) for b in BACKENDS for o in OPTIMIZERS], ids=lambda p: f"{p[0]}-{p[1]}")
def trained(request):
    """(trainer, torch net, its losses, ours) after 3 epochs of batches 7, 7, 6 (one compile per backend and optimizer)."""
    backend, opt = request.param
    X, Y = make_data()
    tr = sb.Trainer(ResNet(), loss="mse", optimizer=OPTIMIZERS[opt][0](), backend=backend, seed=3)
    tnet = TorchResNet().double()
    tnet.load_state_dict(tr.state_dict())
    loss0, grads0 = tr.gradients(X, Y)
    tnet.train()
    t_loss0 = torch.nn.functional.mse_loss(tnet(torch.tensor(X)), torch.tensor(Y))
    t_loss0.backward()
    t_grads0 = {k: p.grad.numpy().copy() for k, p in tnet.named_parameters()}
    tnet.zero_grad()
    # gradients() computes with batch statistics and updates nothing: running stats are untouched in both
    with torch.no_grad():
        tnet.bn.running_mean.zero_(), tnet.bn.running_var.fill_(1.0), tnet.bn.num_batches_tracked.zero_()
    hist = tr.fit(X, Y, epochs=3, batch_size=7, shuffle=False)
    t_losses = torch_train(tnet, OPTIMIZERS[opt][1](tnet.parameters()), X, Y, 3, 7)
    return tr, tnet, (loss0, grads0, t_loss0.item(), t_grads0), (hist.loss, t_losses)


def test_loss_and_gradients_match_torch(trained):
    _, _, (loss, grads, t_loss, t_grads), _ = trained
    assert loss == pytest.approx(t_loss, rel=1e-12)
    assert set(grads) == set(t_grads)
    for name, g in grads.items():
        np.testing.assert_allclose(g, t_grads[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_params_and_running_statistics_after_training_match_torch(trained):
    tr, tnet, _, (losses, t_losses) = trained
    np.testing.assert_allclose(losses, t_losses, rtol=1e-10)
    ours, theirs = tr.state_dict(), tnet.state_dict()
    assert list(ours) == list(theirs)
    for name, value in ours.items():
        np.testing.assert_allclose(np.asarray(value), theirs[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    assert int(ours["bn.num_batches_tracked"]) == 9


def test_eval_mode_output_uses_running_statistics_like_torch(trained):
    tr, tnet, _, _ = trained
    X, _ = make_data()
    tnet.eval()
    want = tnet(torch.tensor(X)).detach().numpy()
    tnet.train()
    np.testing.assert_allclose(tr.predict(X), want, rtol=1e-10, atol=1e-12)


def test_state_dict_round_trips_through_torch(trained):
    tr, _, _, _ = trained
    tnet = TorchResNet().double()
    tnet.load_state_dict(tr.state_dict())          # strict: every name and buffer present
    other = sb.Trainer(ResNet(), backend="numpy", seed=99)
    other.load_state_dict(tnet.state_dict())       # tensors in
    for name, value in tr.state_dict().items():
        np.testing.assert_array_equal(np.asarray(other.state_dict()[name]), np.asarray(value), err_msg=name)


class ConvBN(sb.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = sb.nn.Conv2d(1, 2, 3, bias=False)
        self.bn = sb.nn.BatchNorm2d(2)
        self.fc = sb.nn.Linear(2 * 4 * 4, 1)

    def forward(self, x):
        return self.fc(sb.nn.Flatten()(sb.relu(self.bn(self.conv(x)))))


class TorchConvBN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(2 * 4 * 4, 1)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm2d_training_and_eval_match_torch(backend):
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(8, 1, 6, 6)), rng.normal(size=(8, 1))
    tr = sb.Trainer(ConvBN(), loss="mse", optimizer=sb.optim.SGD(lr=0.05), backend=backend, seed=0)
    tnet = TorchConvBN().double()
    tnet.load_state_dict(tr.state_dict())
    tr.fit(X, Y, epochs=2, batch_size=4, shuffle=False)
    torch_train(tnet, torch.optim.SGD(tnet.parameters(), lr=0.05), X, Y, 2, 4)
    theirs = tnet.state_dict()
    for name, value in tr.state_dict().items():
        np.testing.assert_allclose(np.asarray(value), theirs[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    tnet.eval()
    np.testing.assert_allclose(tr.predict(X), tnet(torch.tensor(X)).detach().numpy(), rtol=1e-10, atol=1e-12)


# ---- dropout -----------------------------------------------------------------------------------
class DropNet(sb.nn.Module):
    def __init__(self, p=0.3):
        super().__init__()
        self.fc1 = sb.nn.Linear(3, 16)
        self.drop = sb.nn.Dropout(p)
        self.fc2 = sb.nn.Linear(16, 2)

    def forward(self, x):
        return self.fc2(self.drop(sb.relu(self.fc1(x))))


def test_dropout_mask_has_the_right_zero_fraction_and_scale():
    for p in (0.1, 0.5, 0.8):
        m = dropout_mask(seed=7, t=3, stream=1, size=200_000, threshold=threshold(p), scale=1 / (1 - p))
        assert abs((m == 0).mean() - p) < 4 * np.sqrt(p * (1 - p) / m.size)
        assert set(np.unique(m)) == {0.0, 1 / (1 - p)}
        assert abs(m.mean() - 1) < 0.02
    a = dropout_mask(7, 3, 0, 1000, threshold(0.5), 2.0)
    assert not np.array_equal(a, dropout_mask(7, 4, 0, 1000, threshold(0.5), 2.0))  # another step
    assert not np.array_equal(a, dropout_mask(7, 3, 1, 1000, threshold(0.5), 2.0))  # another layer
    assert not np.array_equal(a, dropout_mask(8, 3, 0, 1000, threshold(0.5), 2.0))  # another seed
    np.testing.assert_array_equal(a, dropout_mask(7, 3, 0, 1000, threshold(0.5), 2.0))


def test_dropout_mask_is_the_documented_hash():
    """``codegen.program.DropoutMask``'s docstring, written out with Python ints (what another
    backend implements), against the numpy reference, and pinned values."""
    M, G = (1 << 64) - 1, 0x9E3779B97F4A7C15

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        return z ^ (z >> 31)

    seed, t, stream, p = 12345, 7, 2, 0.3
    key = mix((mix((seed + G * (stream + 1)) & M) + G * t) & M)
    th = int(np.ceil(p * 2.0 ** 53))
    want = [1 / (1 - p) if (mix((key + G * (i + 1)) & M) >> 11) >= th else 0.0 for i in range(257)]
    np.testing.assert_array_equal(dropout_mask(seed, t, stream, 257, threshold(p), 1 / (1 - p)), want)
    np.testing.assert_array_equal(dropout_mask(12345, 7, 2, 16, threshold(0.5), 2.0),
                                  [0, 0, 0, 2, 0, 2, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0])


@pytest.fixture(scope="module")
def dropout_runs():
    """{backend: trainer} after 2 epochs of batches of 10 from the same seed."""
    X, Y = make_data(30)
    runs = {}
    for backend in BACKENDS:
        tr = sb.Trainer(DropNet(), loss="mse", optimizer=sb.optim.SGD(lr=0.1), backend=backend, seed=11)
        tr.fit(X, Y, epochs=2, batch_size=10, shuffle=False)
        runs[backend] = tr
    return runs


def test_dropout_training_is_the_same_on_every_backend(dropout_runs):
    ref = dropout_runs["numpy"].params
    for backend, tr in dropout_runs.items():
        for name, value in tr.params.items():
            np.testing.assert_allclose(value, ref[name], rtol=1e-12, atol=1e-14, err_msg=f"{backend} {name}")


def test_dropout_training_is_reproducible_and_follows_the_seed():
    X, Y = make_data(30)
    runs, start = [], sb.Trainer(DropNet(), backend="numpy", seed=0).params
    for seed in (11, 11, 12):
        tr = sb.Trainer(DropNet(), loss="mse", optimizer=sb.optim.SGD(lr=0.1), backend="numpy", seed=seed)
        tr.params = start  # the same start: only the masks (and the shuffles) follow the seed
        tr.fit(X, Y, epochs=2, batch_size=10)
        runs.append(tr.params["fc1.weight"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_dropout_training_matches_torch_given_the_same_masks(dropout_runs):
    X, Y = make_data(30)
    fresh = sb.Trainer(DropNet(), loss="mse", optimizer=sb.optim.SGD(lr=0.1), backend="numpy", seed=11)
    fresh.build((3,))
    tnet = torch.nn.ModuleDict({"fc1": torch.nn.Linear(3, 16), "fc2": torch.nn.Linear(16, 2)}).double()
    tnet.load_state_dict(fresh.state_dict())
    opt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    t = 0
    for _ in range(2):
        for s in range(0, 30, 10):
            t += 1
            (mask,) = fresh.dropout_masks(10, t=t).values()
            opt.zero_grad()
            h = torch.relu(tnet["fc1"](torch.tensor(X[s:s + 10]))) * torch.tensor(mask)
            torch.nn.functional.mse_loss(tnet["fc2"](h), torch.tensor(Y[s:s + 10])).backward()
            opt.step()
    theirs = tnet.state_dict()
    for name, value in dropout_runs["llvm"].params.items():
        np.testing.assert_allclose(value, theirs[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_dropout_is_the_identity_in_predict(dropout_runs):
    tr = dropout_runs["numba"]
    X, _ = make_data(5)
    p = tr.params
    want = np.maximum(X @ p["fc1.weight"].T + p["fc1.bias"], 0) @ p["fc2.weight"].T + p["fc2.bias"]
    np.testing.assert_allclose(tr.predict(X), want, rtol=1e-12)


class BNDropNet(sb.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = sb.nn.Linear(3, 8, bias=False)
        self.bn = sb.nn.BatchNorm1d(8)
        self.drop = sb.nn.Dropout(0.25)
        self.fc2 = sb.nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.drop(sb.relu(self.bn(self.fc1(x)))))


@pytest.mark.parametrize("backend", ["numba", "llvm"] + optional_backends())
def test_float32_batchnorm_with_dropout_trains_like_the_numpy_reference(backend):
    X, Y = make_data(30)
    runs = {}
    for b in ("numpy", backend):
        tr = sb.Trainer(BNDropNet(), loss="mse", optimizer=sb.optim.Adam(lr=0.01), backend=b, dtype="float32", seed=5)
        tr.fit(X.astype(np.float32), Y.astype(np.float32), epochs=3, batch_size=8)  # shuffled, a last batch of 6
        runs[b] = tr.state_dict()
    for name, value in runs["numpy"].items():
        assert runs[backend][name].dtype == value.dtype, name
        np.testing.assert_allclose(np.asarray(runs[backend][name]), np.asarray(value), rtol=2e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("ours,theirs", [
    (lambda: sb.nn.BatchNorm1d(4, affine=False), lambda: torch.nn.BatchNorm1d(4, affine=False)),
    (lambda: sb.nn.BatchNorm1d(4, track_running_stats=False), lambda: torch.nn.BatchNorm1d(4, track_running_stats=False)),
    (lambda: sb.nn.BatchNorm1d(4, eps=1e-3, momentum=0.5), lambda: torch.nn.BatchNorm1d(4, eps=1e-3, momentum=0.5)),
    (lambda: sb.nn.LayerNorm(4, elementwise_affine=False), lambda: torch.nn.LayerNorm(4, elementwise_affine=False)),
], ids=["bn-no-affine", "bn-no-running-stats", "bn-eps-momentum", "ln-no-affine"])
def test_normalization_options_match_torch(ours, theirs):
    X, Y = make_data(12)
    net = sb.nn.Sequential(sb.nn.Linear(3, 4), ours(), sb.nn.Tanh(), sb.nn.Linear(4, 2))
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), theirs(), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    tr = sb.Trainer(net, loss="mse", optimizer=sb.optim.SGD(lr=0.1), backend="numpy", seed=2)
    tnet.load_state_dict(tr.state_dict())
    tr.fit(X, Y, epochs=2, batch_size=4, shuffle=False)
    torch_train(tnet, torch.optim.SGD(tnet.parameters(), lr=0.1), X, Y, 2, 4)
    theirs_state = tnet.state_dict()
    assert list(tr.state_dict()) == list(theirs_state)
    for name, value in tr.state_dict().items():
        np.testing.assert_allclose(np.asarray(value), theirs_state[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    tnet.eval()
    np.testing.assert_allclose(tr.predict(X), tnet(torch.tensor(X)).detach().numpy(), rtol=1e-10, atol=1e-12)
