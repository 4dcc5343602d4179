"""Convolution, pooling, flatten and the recurrent layers: gradients against PyTorch 2.13
(float64, 1e-10) and central finite differences on every backend, second derivatives,
training trajectories against PyTorch's SGD, the textbook formulas, scalar expansion and
the bad inputs.  PyTorch cross-checks are skipped when torch is absent; the finite-difference
and evaluator checks are not.
"""

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.graph.traverse import leaves
from tests.conftest import assert_rel, central, fd_grads, optional_backends

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()
rng = np.random.default_rng(7)

# odd sizes, several channels, stride and padding, overlapping and non-overlapping pools
X = sb.input("x", (None, 3, 9, 8))
W1 = sb.param("W1", (4, 3, 3, 2)); B1 = sb.param("b1", (4,))
W2 = sb.param("W2", (2, 4, 2, 2))
X1 = sb.input("s", (None, 2, 11))
K1 = sb.param("K1", (3, 2, 3))
PARAMS = ["W1", "b1", "W2", "K1"]


def _cnn_loss():
    """conv(stride (2,1), padding 1) + tanh + maxpool(2, stride 1) + conv + relu + avgpool(2)
    + flatten, and a 1-D conv + maxpool1d; a nonlinear scalar of all of it."""
    z1 = sb.conv2d(X, W1, B1, stride=(2, 1), padding=1)
    p1 = sb.max_pool2d(sb.tanh(z1), 2, stride=1)
    z2 = sb.conv2d(p1, W2, padding=(0, 1))
    p2 = sb.avg_pool2d(sb.sin(z2) + z2, 2)
    q = sb.max_pool1d(sb.tanh(sb.conv1d(X1, K1, stride=2, padding=1)), 2)
    return sb.mean(sb.flatten(p2) ** 2) + sb.sum(sb.flatten(q) * 0.1) + sb.mean(sb.cos(p1))


def _feeds(n=2):
    return {"x": rng.normal(size=(n, 3, 9, 8)), "W1": rng.normal(size=(4, 3, 3, 2)) * 0.5,
            "b1": rng.normal(size=4) * 0.5, "W2": rng.normal(size=(2, 4, 2, 2)) * 0.5,
            "s": rng.normal(size=(n, 2, 11)), "K1": rng.normal(size=(3, 2, 3)) * 0.5}


def _torch_loss(t):
    F = torch.nn.functional
    z1 = F.conv2d(t["x"], t["W1"], t["b1"], stride=(2, 1), padding=1)
    p1 = F.max_pool2d(torch.tanh(z1), 2, stride=1)
    z2 = F.conv2d(p1, t["W2"], padding=(0, 1))
    p2 = F.avg_pool2d(torch.sin(z2) + z2, 2)
    q = F.max_pool1d(torch.tanh(F.conv1d(t["s"], t["K1"], stride=2, padding=1)), 2)
    return (torch.flatten(p2, 1) ** 2).mean() + (torch.flatten(q, 1) * 0.1).sum() + torch.cos(p1).mean()


try:
    import torch
except ImportError:  # cross-checks need it; everything else does not
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed (optional cross-check)")


@pytest.fixture(scope="module")
def cnn():
    loss = _cnn_loss()
    nodes = {n.name: n for n in leaves([loss])}
    wrt = [nodes[k] for k in PARAMS + ["x", "s"]]
    g = sb.grad(loss, wrt)
    return loss, [g[w] for w in wrt], _feeds()


@pytest.fixture(scope="module", params=BACKENDS)
def compiled_cnn(request, cnn):
    loss, grads, feeds = cnn
    return request.param, sb.compile([loss] + grads, backend=request.param)


def test_cnn_gradients_match_finite_differences(cnn):
    loss, grads, feeds = cnn
    got = sb.evaluate(grads, feeds)
    # a small step: overlapping max-pool windows hold near-ties that a step of 1e-4 crosses
    fd = fd_grads(loss, feeds, PARAMS + ["x", "s"], h=1e-6)
    for name, g in zip(PARAMS + ["x", "s"], got):
        assert_rel(g, fd[name], rtol=1e-6, atol=1e-9, what=f"dL/d{name}")


def test_every_backend_agrees_with_the_evaluator(cnn, compiled_cnn):
    loss, grads, feeds = cnn
    backend, f = compiled_cnn
    want = sb.evaluate([loss] + grads, feeds)
    for k, (a, b) in enumerate(zip(f(**feeds), want)):
        assert_rel(a, b, rtol=1e-10, atol=1e-13, what=f"{backend} output {k}")


@needs_torch
def test_every_backend_matches_pytorch(cnn, compiled_cnn):
    loss, grads, feeds = cnn
    backend, f = compiled_cnn
    t = {k: torch.tensor(v, requires_grad=True) for k, v in feeds.items()}
    tl = _torch_loss(t)
    tl.backward()
    got = f(**feeds)
    assert_rel(got[0], tl.item(), rtol=1e-10, what=f"{backend} loss")
    for name, g in zip(PARAMS + ["x", "s"], got[1:]):
        assert_rel(g, t[name].grad.numpy(), rtol=1e-10, atol=1e-13, what=f"{backend} dL/d{name} vs PyTorch")


def test_second_derivatives_through_conv_and_pool(cnn):
    """Hessian-vector products: the VJPs of conv_input, conv_weight, unpool and pool_pick."""
    loss, grads, feeds = cnn
    names = PARAMS + ["x", "s"]
    nodes = {n.name: n for n in leaves([loss])}
    dirs = {k: rng.normal(size=np.shape(feeds[k])) for k in names}
    vs = {k: sb.input(f"d_{k}", nodes[k].shape) for k in names}
    hv = sb.grad(sum(sb.sum(g * vs[k]) for k, g in zip(names, grads)), [nodes[k] for k in names])
    outs = [hv[nodes[k]] for k in names]
    all_feeds = {**feeds, **{f"d_{k}": d for k, d in dirs.items()}}
    got = sb.evaluate(outs, all_feeds)

    def grad_at(t):
        return np.concatenate([a.ravel() for a in sb.evaluate(grads, {k: feeds[k] + t * dirs[k] for k in names})])

    assert_rel(np.concatenate([a.ravel() for a in got]), central(grad_at, h=1e-6), rtol=1e-5, atol=1e-7,
               what="Hessian-vector product")
    f = sb.compile(outs, backend="llvm")
    for k, a, b in zip(names, f(**{k: all_feeds[k] for k in f.arg_names}), got):
        assert_rel(a, b, rtol=1e-10, atol=1e-12, what=f"llvm Hessian-vector product for {k}")


def test_max_pool_routes_to_the_first_maximum_like_pytorch():
    """Ties (a ReLU's zeros) go to the first maximum of each window, in row-major order."""
    x = sb.input("x", (None, 1, 4, 4))
    L = sb.sum(sb.max_pool2d(sb.relu(x), 2) * np.arange(1.0, 5.0).reshape(1, 1, 2, 2))
    g = sb.grad(L, x)
    X = np.zeros((1, 1, 4, 4)); X[0, 0, 1, 1] = X[0, 0, 0, 3] = 1.0; X[0, 0, 3, 2] = X[0, 0, 3, 3] = 2.0
    want = np.zeros((1, 1, 4, 4)); want[0, 0, 1, 1] = 1; want[0, 0, 0, 3] = 2; want[0, 0, 2, 0] = 3
    want[0, 0, 3, 2] = 4
    want[0, 0, 2, 0] = 0  # window 3 is all zeros: relu'(0) = 0 takes it away again
    for backend in BACKENDS:
        (got,) = sb.compile([g], backend=backend)(x=X)
        np.testing.assert_array_equal(got, want, err_msg=backend)
    (route,) = sb.evaluate([sb.grad(sb.sum(sb.max_pool2d(x, 2)), x)], {"x": np.zeros((1, 1, 4, 4))})
    assert route[0, 0].tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def _rnn_model(kind, T=5, I=3, H=4):
    layer = {"rnn": sb.nn.RNN(I, H), "relu": sb.nn.RNN(I, H, nonlinearity="relu"), "lstm": sb.nn.LSTM(I, H),
             "deep": sb.nn.RNN(I, H, num_layers=2)}[kind]
    head = sb.nn.Linear(H, 2)
    x = sb.input("x", (None, T, I))
    out = layer.build(x, "rnn.")
    yhat = head.build(out[:, -1], "head.")
    L = sb.mean(yhat ** 2) + sb.mean(sb.sin(out))
    return layer, head, L


@needs_torch
@pytest.mark.parametrize("kind", ["rnn", "relu", "lstm", "deep"])
def test_recurrent_layers_match_pytorch(kind):
    T, I, H = 5, 3, 4
    layer, head, L = _rnn_model(kind, T, I, H)
    params = {**layer.init_params(seed=1, prefix="rnn."), **head.init_params(seed=2, prefix="head.")} \
        if "prefix" in layer.init_params.__code__.co_varnames else None
    if params is None:
        params = {f"rnn.{k}": v for k, v in layer.init_params(seed=1).items()}
        params.update({f"head.{k}": v for k, v in head.init_params(seed=2).items()})
    X = rng.normal(size=(3, T, I))
    nodes = {n.name: n for n in leaves([L]) if n.op == "param"}
    names = sorted(nodes)
    g = sb.grad(L, [nodes[k] for k in names])
    tmod = {"rnn": lambda: torch.nn.RNN(I, H, batch_first=True),
            "relu": lambda: torch.nn.RNN(I, H, nonlinearity="relu", batch_first=True),
            "lstm": lambda: torch.nn.LSTM(I, H, batch_first=True),
            "deep": lambda: torch.nn.RNN(I, H, num_layers=2, batch_first=True)}[kind]().double()
    thead = torch.nn.Linear(H, 2).double()
    with torch.no_grad():
        for k, p in tmod.named_parameters():
            p.copy_(torch.tensor(params[f"rnn.{k}"]))
        for k, p in thead.named_parameters():
            p.copy_(torch.tensor(params[f"head.{k}"]))
    out, _ = tmod(torch.tensor(X))
    tl = (thead(out[:, -1]) ** 2).mean() + torch.sin(out).mean()
    tl.backward()
    want = {f"rnn.{k}": p.grad.numpy() for k, p in tmod.named_parameters()}
    want.update({f"head.{k}": p.grad.numpy() for k, p in thead.named_parameters()})
    assert set(want) == set(names)
    for backend in BACKENDS:
        got = sb.compile([L] + [g[nodes[k]] for k in names], backend=backend)(x=X, **params)
        assert_rel(got[0], tl.item(), rtol=1e-10, what=f"{backend} {kind} loss")
        for k, a in zip(names, got[1:]):
            assert_rel(a, want[k], rtol=1e-10, atol=1e-13, what=f"{backend} {kind} dL/d{k}")


def test_recurrent_gradients_match_finite_differences():
    layer, head, L = _rnn_model("lstm", T=3)
    nodes = {n.name: n for n in leaves([L]) if n.op == "param"}
    feeds = {k: rng.normal(size=n.shape) * 0.5 for k, n in nodes.items()}
    feeds["x"] = rng.normal(size=(2, 3, 3))
    names = sorted(nodes)
    g = sb.grad(L, [nodes[k] for k in names])
    fd = fd_grads(L, feeds, names)
    for k, a in zip(names, sb.evaluate([g[nodes[k]] for k in names], feeds)):
        assert_rel(a, fd[k], rtol=1e-6, atol=1e-9, what=f"dL/d{k}")


LENET = lambda: sb.nn.Sequential(sb.nn.Conv2d(1, 3, 3, padding=1), sb.nn.ReLU(), sb.nn.MaxPool2d(2),  # noqa: E731
                                 sb.nn.Conv2d(3, 4, 2, stride=2), sb.nn.Tanh(), sb.nn.Flatten(),
                                 sb.nn.Linear(4 * 2 * 2, 3))


@needs_torch
@pytest.mark.parametrize("backend", BACKENDS)
def test_cnn_training_follows_pytorch_sgd(backend):
    net = LENET()
    X = rng.normal(size=(24, 1, 8, 8)); Y = rng.integers(0, 3, size=24)
    tr = sb.Trainer(net, loss="cross_entropy", optimizer=sb.optim.SGD(lr=0.1), backend=backend, seed=3)
    start = tr.params
    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Conv2d(3, 4, 2, stride=2), torch.nn.Tanh(), torch.nn.Flatten(),
                               torch.nn.Linear(16, 3)).double()
    with torch.no_grad():
        for k, p in tnet.named_parameters():
            p.copy_(torch.tensor(start[k]))
    opt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    hist = tr.fit(X, Y, epochs=3, batch_size=24, shuffle=False)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tnet(torch.tensor(X)), torch.tensor(Y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert_rel(np.array(hist.loss), np.array(losses), rtol=1e-10, what=f"{backend} loss per epoch")
    for k, p in tnet.named_parameters():
        assert_rel(tr.params[k], p.detach().numpy(), rtol=1e-10, atol=1e-13, what=f"{backend} {k} after 3 epochs")


def test_a_cnn_trains_on_images_of_any_rank():
    X = rng.normal(size=(40, 1, 8, 8)); Y = (X[:, 0, :4].sum(axis=(1, 2)) > 0).astype(np.int64)
    tr = sb.Trainer(LENET(), loss="cross_entropy", optimizer=sb.optim.SGD(lr=0.2), backend="llvm", seed=0)
    hist = tr.fit(X, Y, epochs=30, batch_size=8)
    assert hist.loss[-1] < hist.loss[0] * 0.7
    assert tr.predict(X).shape == (40, 3)


def test_formulas_read_as_convolutions():
    net = sb.nn.Sequential(sb.nn.Conv2d(1, 2, 2), sb.nn.ReLU(), sb.nn.MaxPool2d(2), sb.nn.Flatten(),
                           sb.nn.Linear(8, 3))
    x, y = sb.input("x", (None, 1, 5, 5)), sb.input("y", (None,), "int64")
    L = sb.cross_entropy(net(x), y)
    nodes = {n.name: n for n in leaves([L]) if n.op == "param"}
    text = str(sb.explain(L, wrt=[nodes["0.weight"], nodes["0.bias"]]))
    assert "z₁ = x ⋆ W₁ + b₁" in text
    assert "p₁ = maxpool[2×2](a₁)" in text
    assert "route[2×2](δ₂ W₂ → argmax a₁) ⊙ 𝟙[z₁ > 0]" in text  # max pooling routes δ to the argmax
    assert "∂L/∂W₁ = x ⋆ δ₁" in text                           # the weight gradient: input ⋆ δ
    dx = sb.grad(L, x)
    assert "∗ W₁" in str(dx)                                    # the input gradient: δ ∗ W (full convolution)
    assert r"\star" in sb.grad(L, nodes["0.weight"]).latex()
    avg = sb.grad(sb.sum(sb.avg_pool2d(x, 2, 1) ** 2), x)
    assert "spread[2×2/1,1]" in str(avg)
    conv = sb.conv2d(x, nodes["0.weight"], stride=2, padding=1)
    assert "⋆[s=2,p=1]" in str(conv) and r"\star_{s=2,\,p=1}" in conv.latex()


def test_backpropagation_through_time_reads_as_a_recursion():
    rnn, head = sb.nn.RNN(2, 3), sb.nn.Linear(3, 1)
    x, y = sb.input("x", (None, 3, 2)), sb.input("y", (None, 1))
    L = sb.mse(head(rnn(x)[:, -1]), y)
    nodes = {n.name: n for n in leaves([L]) if n.op == "param"}
    text = str(sb.explain(L, wrt=nodes["weight_hh_l0"]))
    assert "h₂ = tanh(z₂)" in text
    assert "δ₂ = ∂L/∂z₂ = (δ₃ W_hh) ⊙ (1 − h₂²)" in text
    assert "δ₁ = ∂L/∂z₁ = (δ₂ W_hh) ⊙ (1 − h₁²)" in text


def test_expand_a_tiny_convolution_by_hand():
    x = sb.input("x", (1, 1, 3, 3)); w = sb.param("w", (1, 1, 2, 2))
    out = sb.expand(sb.conv2d(x, w))
    assert out.shape == (1, 1, 2, 2)
    assert str(out[0, 0, 0, 1]) in ("w_11*x_12 + w_12*x_13 + w_21*x_22 + w_22*x_23",)
    g = sb.expand(sb.grad(sb.sum(sb.conv2d(x, w)), w))
    assert str(g[0, 0, 1, 1]) == "x_22 + x_23 + x_32 + x_33"
    gx = sb.expand(sb.grad(sb.sum(sb.conv2d(x, w)), x))
    assert str(gx[0, 0, 1, 1]) == "w_11 + w_12 + w_21 + w_22" and str(gx[0, 0, 0, 0]) == "w_11"
    m = sb.expand(sb.max_pool2d(x[:, :, :2, :2], 2))
    assert str(m[0, 0, 0, 0]) == "Max(x_11, x_12, x_21, x_22)"


@pytest.mark.parametrize("make, fragment", [
    (lambda: sb.conv2d(X, sb.param("K", (4, 2, 3, 3))), "the input has 3 channels but the kernel expects 2"),
    (lambda: sb.conv2d(X, sb.param("K", (4, 3, 10, 3))), "does not fit the spatial size"),
    (lambda: sb.conv2d(X, W1, stride=0), "stride must be an int ≥ 1"),
    (lambda: sb.conv2d(X, W1, padding=(1, 2, 3)), "padding must be an int ≥ 0 or 2 of them"),
    (lambda: sb.conv2d(X, W1, b=sb.param("bb", (3,))), "the bias must have shape (4,)"),
    (lambda: sb.conv2d(X1, W1), "needs an input (N, C, …, …) of 4 axes"),
    (lambda: sb.conv1d(X, K1), "needs an input (N, C, …) of 3 axes"),
    (lambda: sb.conv2d(X, sb.param("K", (3, 3))), "the kernel must be (out_channels, in_channels, kh, kw)"),
    (lambda: sb.max_pool2d(X, 10), "does not fit the spatial size"),
    (lambda: sb.max_pool2d(X, 0), "kernel_size must be an int ≥ 1"),
    (lambda: sb.flatten(X, 0), "cannot merge the batch axis"),
    (lambda: sb.nn.Conv2d(0, 2, 3), "in_channels must be a positive int"),
    (lambda: sb.nn.Conv2d(2, 2, 3)(X), "expects inputs (N, 2, …, …)"),
    (lambda: sb.nn.RNN(3, 4, batch_first=False), "only batch_first=True"),
    (lambda: sb.nn.RNN(3, 4, nonlinearity="sigmoid"), "nonlinearity must be 'tanh' or 'relu'"),
    (lambda: sb.nn.LSTM(2, 4)(X1), "expects inputs (N, T, 2)"),
])
def test_bad_inputs_name_what_was_wrong(make, fragment):
    with pytest.raises(sb.SymbackpropError) as e:
        make()
    assert fragment in str(e.value)


def test_the_train_command_reads_images_from_npz(tmp_path):
    import subprocess
    import sys
    X = rng.normal(size=(60, 1, 6, 6)); y = (X[:, 0, :3].sum(axis=(1, 2)) > 0).astype(np.int64)
    np.savez(tmp_path / "images.npz", X=X, y=y)
    (tmp_path / "cnn.py").write_text("net = sb.nn.Sequential(sb.nn.Conv2d(1, 2, 3), sb.nn.ReLU(), sb.nn.MaxPool2d(2),\n"
                                     "                       sb.nn.Flatten(), sb.nn.Linear(8, 2))\n"
                                     "loss = 'cross_entropy'\n")
    done = subprocess.run([sys.executable, "-m", "symbackprop", "train", "cnn.py", "--data", "images.npz",
                           "--epochs", "3", "--backend", "numpy"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "60 samples, each of shape (1, 6, 6)" in done.stdout
