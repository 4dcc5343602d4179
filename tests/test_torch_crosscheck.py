"""Cross-checks against PyTorch (skipped when torch is not installed): the same network,
loss and optimizer give the same numbers, step for step, in float64."""

import numpy as np
import pytest

import symbackprop as sb
from tests.test_train import make_data, make_net

torch = pytest.importorskip("torch")

TORCH_ACTS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
              "leaky_relu": torch.nn.LeakyReLU, "softplus": torch.nn.Softplus, "gelu": torch.nn.GELU}
TORCH_LOSSES = {"mse": torch.nn.MSELoss(), "bce": torch.nn.BCEWithLogitsLoss(),
                "cross_entropy": torch.nn.CrossEntropyLoss(),
                "hinge": lambda out, y: torch.relu(1 - y * out).mean()}


def torch_net(sizes, act, params):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]).double())
        if i < len(sizes) - 2:
            layers.append(TORCH_ACTS[act]())
    net = torch.nn.Sequential(*layers)
    net.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    return net


def torch_target(kind, y):
    return torch.tensor(y, dtype=torch.long) if kind == "cross_entropy" else torch.tensor(y, dtype=torch.float64)


@pytest.mark.parametrize("sizes,act,kind", [((3, 5, 2), "tanh", "mse"), ((4, 8, 8, 3), "relu", "cross_entropy"),
                                            ((2, 6, 1), "sigmoid", "bce"), ((3, 4, 4, 1), "gelu", "hinge"),
                                            ((2, 5, 3), "softplus", "cross_entropy"),
                                            ((2, 5, 1), "leaky_relu", "bce")])
def test_loss_and_gradients_match_torch(sizes, act, kind):
    rng = np.random.default_rng(len(sizes) * 31 + len(act))
    tr = sb.Trainer(make_net(sizes, act), loss=kind, seed=5, backend="numpy")
    X, y = make_data(kind, 11, sizes[0], sizes[-1], rng)
    X[0] *= 40  # large logits: the stable bce / cross-entropy forms must hold up
    loss, grads = tr.gradients(X, y)
    net = torch_net(sizes, act, tr.params)
    out = net(torch.tensor(X))
    t_loss = TORCH_LOSSES[kind](out, torch_target(kind, y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    state = dict(net.named_parameters())
    assert set(state) == set(grads)
    for name, g in grads.items():
        np.testing.assert_allclose(g, state[name].grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("ours,theirs", [
    (lambda: sb.optim.SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (lambda: sb.optim.SGD(lr=0.05, momentum=0.9, weight_decay=0.01),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01)),
    (lambda: sb.optim.SGD(lr=0.05, momentum=0.8, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    (lambda: sb.optim.Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda: sb.optim.Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
])
def test_optimizer_trajectory_matches_torch(ours, theirs):
    rng = np.random.default_rng(0)
    sizes = (3, 6, 2)
    X, y = make_data("cross_entropy", 12, 3, 2, rng)
    tr = sb.Trainer(make_net(sizes, "tanh"), loss="cross_entropy", optimizer=ours(), seed=0, backend="numpy")
    net = torch_net(sizes, "tanh", tr.params)
    opt = theirs(net.parameters())
    tr.fit(X, y, epochs=15, batch_size=12, shuffle=False)
    for _ in range(15):
        opt.zero_grad()
        torch.nn.CrossEntropyLoss()(net(torch.tensor(X)), torch.tensor(y)).backward()
        opt.step()
    for name, p in net.named_parameters():
        np.testing.assert_allclose(tr.params[name], p.detach().numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
