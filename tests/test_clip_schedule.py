"""Gradient clipping, learning-rate schedules and the per-epoch gradient norms of ``fit``:
each against PyTorch float64 (loss curve, params, gradient norms) on every backend, in the
fused training loop; plus the bad arguments they refuse."""

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.errors import ArgumentError, SymbackpropError
from tests.conftest import optional_backends
from tests.test_train import make_data, make_net

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()  # jax when it imports
SIZES = (3, 6, 5, 2)
ROWS, BATCH, FITS = 24, 8, (5, 4)  # two fits: the schedule's epoch counts on across them

# (name, our optimizer, options, torch optimizer, torch scheduler, clip)
CONFIGS = {
    "sgd-momentum clip_grad_norm StepLR": (
        lambda: sb.optim.SGD(lr=0.2, momentum=0.9, weight_decay=0.01),
        lambda: dict(clip_grad_norm=0.4, lr_scheduler=sb.optim.lr_scheduler.StepLR(step_size=3, gamma=0.5)),
        lambda torch, p: torch.optim.SGD(p, lr=0.2, momentum=0.9, weight_decay=0.01),
        lambda torch, o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        ("norm", 0.4)),
    "adam clip_grad_value CosineAnnealingLR": (
        lambda: sb.optim.Adam(lr=0.05, weight_decay=0.1),
        lambda: dict(clip_grad_value=0.03,
                     lr_scheduler=sb.optim.lr_scheduler.CosineAnnealingLR(T_max=4, eta_min=0.005)),
        lambda torch, p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1),
        lambda torch, o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.005),
        ("value", 0.03)),
    "adam clip_grad_norm": (
        lambda: sb.optim.Adam(lr=0.03),
        lambda: dict(clip_grad_norm=0.2),
        lambda torch, p: torch.optim.Adam(p, lr=0.03),
        None,
        ("norm", 0.2)),
    "sgd plain": (
        lambda: sb.optim.SGD(lr=0.3), dict,
        lambda torch, p: torch.optim.SGD(p, lr=0.3), None, None),
}


def data():
    return make_data("cross_entropy", ROWS, SIZES[0], SIZES[-1], np.random.default_rng(3))


def torch_reference(config, params):
    """(per-epoch mean loss, per-epoch mean gradient norm per param, final params) of the same
    training in PyTorch float64: minibatches in order, clip, step; the scheduler steps once
    after each epoch."""
    torch = pytest.importorskip("torch")
    from tests.test_torch_crosscheck import torch_net
    _, _, make_opt, make_sched, clip = CONFIGS[config]
    X, y = data()
    net = torch_net(SIZES, "tanh", params)
    opt = make_opt(torch, net.parameters())
    sched = make_sched(torch, opt) if make_sched else None
    losses, norms = [], []
    for _ in range(sum(FITS)):
        total, epoch_norms, steps = 0.0, {n: 0.0 for n, _ in net.named_parameters()}, 0
        for start in range(0, ROWS, BATCH):
            xb, yb = torch.tensor(X[start:start + BATCH]), torch.tensor(y[start:start + BATCH])
            opt.zero_grad()
            loss = torch.nn.CrossEntropyLoss()(net(xb), yb)
            loss.backward()
            total += loss.item() * len(xb)
            for n, p in net.named_parameters():
                epoch_norms[n] += float(torch.linalg.vector_norm(p.grad))
            steps += 1
            if clip and clip[0] == "norm":
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip[1])
            elif clip:
                torch.nn.utils.clip_grad_value_(net.parameters(), clip[1])
            opt.step()
        if sched is not None:
            sched.step()
        losses.append(total / ROWS)
        norms.append({n: v / steps for n, v in epoch_norms.items()})
    final = {n: p.detach().numpy().copy() for n, p in net.named_parameters()}
    return losses, {n: [e[n] for e in norms] for n in final}, final


@pytest.fixture(scope="module", params=[(c, b) for c in CONFIGS for b in BACKENDS], ids=lambda p: f"{p[1]}-{p[0]}")
def trained(request):
    """One training per (config, backend), shared by the tests below (numba and llvm compile
    each program once)."""
    config, backend = request.param
    ours, options, *_ = CONFIGS[config]
    tr = sb.Trainer(make_net(SIZES, "tanh"), loss="cross_entropy", optimizer=ours(), backend=backend, seed=1,
                    **options())
    start = tr.params
    X, y = data()
    hists = [tr.fit(X, y, epochs=e, batch_size=BATCH, shuffle=False) for e in FITS]
    return config, start, tr, hists


def test_params_and_loss_curve_match_torch(trained):
    config, start, tr, hists = trained
    losses, _, final = torch_reference(config, start)
    np.testing.assert_allclose(hists[0].loss + hists[1].loss, losses, rtol=1e-10, atol=1e-12)
    for name, value in final.items():
        np.testing.assert_allclose(tr.params[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


def test_grad_norms_are_each_epochs_mean_gradient_norm_as_torch_computes_it(trained):
    config, start, tr, hists = trained
    _, norms, _ = torch_reference(config, start)
    assert list(hists[0].grad_norms) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    for name, values in norms.items():
        got = hists[0].grad_norms[name] + hists[1].grad_norms[name]
        np.testing.assert_allclose(got, values, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy"])
def test_full_batch_grad_norms_are_the_norms_of_the_gradients_at_each_epochs_start(backend):
    """Without torch: one step per epoch, so each epoch's record is ‖∂L/∂p‖ at the params the
    epoch started from (``Trainer.gradients``, a separately compiled function)."""
    X, y = data()
    tr = sb.Trainer(make_net(SIZES, "tanh"), loss="cross_entropy", optimizer=sb.optim.SGD(lr=0.5), backend=backend)
    expected = {}
    for _ in range(3):
        _, grads = tr.gradients(X, y)
        for name, g in grads.items():
            expected.setdefault(name, []).append(float(np.linalg.norm(g)))
        tr.fit(X, y, epochs=1)
    tr2 = sb.Trainer(make_net(SIZES, "tanh"), loss="cross_entropy", optimizer=sb.optim.SGD(lr=0.5), backend=backend)
    hist = tr2.fit(X, y, epochs=3)
    for name, values in expected.items():
        np.testing.assert_allclose(hist.grad_norms[name], values, rtol=1e-12, err_msg=name)


def test_clipping_by_norm_bounds_each_update():
    """With SGD (no momentum), each step moves the params by lr·(clipped g): at most lr·max_norm."""
    X, y = data()
    tr = sb.Trainer(make_net(SIZES, "tanh"), loss="cross_entropy", optimizer=sb.optim.SGD(lr=1.0),
                    backend="numpy", clip_grad_norm=1e-3)
    before = tr.params
    tr.fit(X, y, epochs=1)
    moved = np.sqrt(sum(np.sum((tr.params[k] - before[k]) ** 2) for k in before))
    assert moved <= 1e-3 and moved == pytest.approx(1e-3, rel=1e-4)  # max_norm / (norm + 1e-6) · norm


def test_schedule_values_follow_torch_schedulers():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(sb.optim.StepLR(step_size=3, gamma=0.3), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.3)),
                         (sb.optim.CosineAnnealingLR(T_max=5, eta_min=0.01),
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5, 0.01))]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
        sched = theirs(opt)
        for epoch in range(13):  # past T_max: the cosine comes back up, as PyTorch's does
            assert ours.value(0.2, epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
            opt.step()
            sched.step()


@pytest.mark.parametrize("kwargs,message", [
    (dict(clip_grad_norm=-1.0), "clip_grad_norm must be > 0"),
    (dict(clip_grad_norm=0), "clip_grad_norm must be > 0"),
    (dict(clip_grad_value=float("nan")), "clip_grad_value must be a positive finite number"),
    (dict(clip_grad_value="1"), "clip_grad_value must be a positive finite number"),
    (dict(clip_grad_norm=1.0, clip_grad_value=1.0), "not both"),
    (dict(lr_scheduler="step"), "lr_scheduler must be an sb.optim.lr_scheduler schedule"),
])
def test_bad_training_options_are_refused(kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        sb.Trainer(make_net((2, 1), "tanh"), **kwargs)


@pytest.mark.parametrize("make,message", [
    (lambda: sb.optim.StepLR(step_size=0), "step_size must be >= 1"),
    (lambda: sb.optim.StepLR(step_size=2.5), "step_size must be an integer"),
    (lambda: sb.optim.StepLR(step_size=2, gamma=-0.5), "gamma must be > 0"),
    (lambda: sb.optim.CosineAnnealingLR(T_max=0), "T_max must be >= 1"),
    (lambda: sb.optim.CosineAnnealingLR(T_max=10, eta_min=-1e-3), "eta_min must be >= 0"),
    (lambda: sb.optim.lr_scheduler.CosineAnnealingLR(T_max=True), "T_max must be an integer"),
])
def test_bad_schedules_are_refused(make, message):
    with pytest.raises(SymbackpropError, match=message):
        make()


# ---- the gradient-flow figure and table --------------------------------------------------------

def test_gradient_flow_figure_renders_without_a_screen(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = data()
    tr = sb.Trainer(make_net(SIZES, "tanh"), loss="cross_entropy", optimizer=sb.optim.SGD(lr=0.3), backend="numpy")
    hist = tr.fit(X, y, epochs=4, batch_size=BATCH)
    path = sb.plot.gradient_flow(hist, tmp_path / "flow.png")
    assert path.stat().st_size > 5000 and path.read_bytes()[:4] == b"\x89PNG"
    fig = sb.plot.gradient_flow(hist.grad_norms, params=["0.bias", "4.bias"])
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["0.bias", "4.bias"]
    import matplotlib.pyplot as plt
    plt.close(fig)
    with pytest.raises(ArgumentError, match="no gradient norms for"):
        sb.plot.gradient_flow(hist, params=["9.weight"])
    with pytest.raises(ArgumentError, match="give a History"):
        sb.plot.gradient_flow(sb.History())


def test_train_cli_prints_the_gradient_norm_table(tmp_path, capsys):
    from symbackprop.cli import main
    X, y = data()
    (tmp_path / "model.py").write_text("net = sb.nn.Sequential(sb.nn.Linear(3, 6), sb.nn.Sigmoid(), "
                                       "sb.nn.Linear(6, 6), sb.nn.Sigmoid(), sb.nn.Linear(6, 2))\n"
                                       "loss = 'cross_entropy'\n")
    np.savez(tmp_path / "d.npz", X=X, y=y)
    assert main(["train", str(tmp_path / "model.py"), "--data", str(tmp_path / "d.npz"), "--epochs", "5",
                 "--backend", "numpy", "--grad-norms"]) == 0
    out = capsys.readouterr().out
    table = out.split("gradient L2 norm (mean over each epoch's steps)\n")[1].splitlines()
    assert table[0].split() == ["param", "epoch", "1", "epoch", "3", "epoch", "5", "last/max"]
    assert [row.split()[0] for row in table[1:7]] == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight",
                                                      "4.bias"]
    assert all(float(v) > 0 for row in table[1:7] for v in row.split()[1:])


@pytest.mark.parametrize("backend", ["numba", "llvm"] + optional_backends())
def test_thresholds_and_schedule_parameters_are_runtime_values(backend):
    """Another max_norm, step size and gamma reuse the compiled loop: nothing is baked in."""
    X, y = data()
    runs = []
    for max_norm, step_size, gamma in ((0.4, 3, 0.5), (0.7, 2, 0.9)):
        tr = sb.Trainer(make_net(SIZES, "tanh"), loss="cross_entropy",
                        optimizer=sb.optim.SGD(lr=0.2, momentum=0.9, weight_decay=0.01), backend=backend, seed=1,
                        clip_grad_norm=max_norm, lr_scheduler=sb.optim.StepLR(step_size=step_size, gamma=gamma))
        runs.append(tr.compile(X, y)[1])
    assert runs[1] is True


@pytest.mark.parametrize("backend", ["numba", "llvm"] + optional_backends())
def test_float32_training_with_clipping_and_a_schedule_follows_the_numpy_reference(backend):
    X, y = data()
    results = []
    for b in ("numpy", backend):
        tr = sb.Trainer(make_net(SIZES, "tanh"), loss="cross_entropy", optimizer=sb.optim.Adam(lr=0.05),
                        backend=b, dtype="float32", seed=1, clip_grad_value=0.03,
                        lr_scheduler=sb.optim.CosineAnnealingLR(T_max=4))
        hist = tr.fit(X, y, epochs=6, batch_size=BATCH, shuffle=False)
        results.append((hist, tr.params))
    (h0, p0), (h1, p1) = results
    np.testing.assert_allclose(h1.loss, h0.loss, rtol=1e-4)
    for name in p0:
        assert p1[name].dtype == np.float32
        np.testing.assert_allclose(p1[name], p0[name], rtol=1e-3, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(h1.grad_norms[name], h0.grad_norms[name], rtol=1e-3, atol=1e-6, err_msg=name)


def test_divergence_under_a_schedule_stops_at_the_same_step_with_the_same_params_on_every_backend():
    """The replay of the finite steps after a failure runs at the same epochs' rates."""
    rng = np.random.default_rng(5)
    X = rng.uniform(-3, 3, size=(64, 1))
    Y = 20 * np.sin(X) + X ** 2
    outcomes = []
    for backend in BACKENDS:
        net = sb.nn.Sequential(sb.nn.Linear(1, 16), sb.nn.ReLU(), sb.nn.Linear(16, 16), sb.nn.ReLU(),
                               sb.nn.Linear(16, 1))
        tr = sb.Trainer(net, loss="mse", optimizer=sb.optim.SGD(lr=0.02, momentum=0.9), backend=backend, seed=0,
                        lr_scheduler=sb.optim.StepLR(step_size=1, gamma=1.5))
        tr.fit(X, Y, epochs=1, batch_size=16, shuffle=False)  # the schedule's epoch counts on from 1
        with pytest.raises(sb.TrainingDiverged) as failed:
            tr.fit(X, Y, epochs=50, batch_size=16, shuffle=False)
        outcomes.append(((failed.value.epoch, failed.value.step), tr.params))
    for (where, params), backend in zip(outcomes[1:], BACKENDS[1:]):
        assert where == outcomes[0][0], backend
        for name, value in params.items():
            assert np.all(np.isfinite(value))
            np.testing.assert_allclose(value, outcomes[0][1][name], rtol=1e-8, err_msg=f"{backend} {name}")
