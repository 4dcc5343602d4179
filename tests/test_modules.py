"""PyTorch-style modules: ``forward`` subclasses, attribute-path names, ``ModuleList``,
``sb.nn.init``, modules in derive/train/explain, and the errors of each."""

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.cli import main
from symbackprop.errors import SymbackpropError
from tests.conftest import optional_backends


class Block(sb.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = sb.nn.Linear(d, d)

    def forward(self, x):
        return x + sb.relu(self.fc(x))


class Net(sb.nn.Module):
    def __init__(self, depth=2):
        super().__init__()
        self.inp = sb.nn.Linear(3, 4)
        self.blocks = sb.nn.ModuleList([Block(4) for _ in range(depth)])
        self.head = sb.nn.Sequential(sb.nn.Tanh(), sb.nn.Linear(4, 2))

    def forward(self, x):
        x = self.inp(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def test_params_are_named_by_attribute_path_in_registration_order():
    names = [n for n, _ in Net().parameter_shapes()]
    assert names == ["inp.weight", "inp.bias", "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight",
                     "blocks.1.fc.bias", "head.1.weight", "head.1.bias"]
    assert [p for p, _ in Net().named_modules()][:4] == ["", "inp", "blocks", "blocks.0"]


def test_a_forward_module_inside_sequential_and_reassigned_attributes():
    seq = sb.nn.Sequential(sb.nn.Linear(2, 3), Block(3))
    assert [n for n, _ in seq.parameter_shapes()] == ["0.weight", "0.bias", "1.fc.weight", "1.fc.bias"]
    x = sb.input("x", (None, 2))
    from symbackprop.graph.traverse import leaves
    assert {n.name for n in leaves([seq(x)]) if n.op == "param"} == {"0.weight", "0.bias", "1.fc.weight", "1.fc.bias"}
    net = Net(depth=1)
    net.inp = sb.nn.Linear(3, 4, bias=False)  # keeps its place, as in PyTorch
    assert [n for n, _ in net.parameter_shapes()][:2] == ["inp.weight", "blocks.0.fc.weight"]
    net.head = None
    assert "head" not in dict(net.named_children())


def test_trainer_fits_a_module_and_the_residual_formula_passes_delta_through_the_skip():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    tr = sb.Trainer(Net(), loss="mse", optimizer=sb.optim.Adam(lr=0.01), backend="numpy", seed=0)
    hist = tr.fit(X, Y, epochs=30, batch_size=8)
    assert hist.loss[-1] < hist.loss[0]
    x, y = sb.input("x", (None, 3)), sb.input("y", (None, 2))
    text = str(sb.explain(sb.mse(Net(depth=1)(x), y)))
    # z₃ = a₂ + z₁ (the skip): δ₁ = δ₂ W₂ + δ₃, the block's output δ unchanged plus the branch
    assert "z₃ = a₂ + z₁" in text
    assert "δ₁ = ∂L/∂z₁ = δ₂ W₂ + δ₃" in text


class DropBNNet(Net):
    """Net's residual ModuleList with a BatchNorm and a Dropout in the head."""

    def __init__(self):
        super().__init__(depth=2)
        self.head = sb.nn.Sequential(sb.nn.BatchNorm1d(4), sb.nn.Tanh(), sb.nn.Dropout(0.3), sb.nn.Linear(4, 2))


@pytest.mark.parametrize("backend", optional_backends())
def test_a_module_with_batchnorm_and_dropout_trains_as_on_the_numpy_reference(backend):
    """Shuffled minibatches with a smaller last one: params and running statistics after fit
    are the numpy reference's.  The dropout masks are the same bit for bit (one differing
    mask would move the params far past the tolerance, which allows for Adam amplifying
    rounding differences)."""
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    states = {}
    for b in ("numpy", backend):
        tr = sb.Trainer(DropBNNet(), loss="mse", optimizer=sb.optim.Adam(lr=0.01), backend=b, seed=2)
        tr.fit(X, Y, epochs=3, batch_size=8)
        states[b] = tr.state_dict()
    for name, value in states["numpy"].items():
        np.testing.assert_allclose(np.asarray(states[backend][name]), np.asarray(value), rtol=1e-8, atol=1e-11,
                                   err_msg=name)


def test_explain_shows_batchnorm_in_textbook_form():
    x, y = sb.input("x", (None, 3)), sb.input("y", (None, 1))
    net = sb.nn.Sequential(sb.nn.Linear(3, 4), sb.nn.BatchNorm1d(4), sb.nn.Tanh(), sb.nn.Linear(4, 1))
    e = sb.explain(sb.mse(net(x), y))
    text = str(e)
    for line in ("μ₂ = Σₙ z₁/N", "σ²₂ = Σₙ (z₁ − μ₂)²/N", "x̂₂ = (z₁ − μ₂)/√(σ²₂ + 1e-05)", "z₂ = x̂₂ ⊙ γ₂ + β₂",
                 "∂L/∂β₂ = Σₙ δ₂", "∂L/∂γ₂ = Σₙ (x̂₂ ⊙ δ₂)"):
        assert line in text, line
    assert r"\hat{x}_{2}" in e.latex() and r"\sigma^{2}_{2}" in e.latex()
    # the compact input gradient, simplified from the graph (not written by hand)
    assert "δ₁ = ∂L/∂z₁ = ((N δ₂ − x̂₂ ⊙ (Σₙ (x̂₂ ⊙ δ₂)) − Σₙ δ₂) ⊙ γ₂)/(N √(σ²₂ + 1e-05))" in text


def test_explain_shows_batchnorm2d_compactly_over_batch_and_space():
    x, y = sb.input("x", (None, 1, 4, 4)), sb.input("y", (None, 1))
    net = sb.nn.Sequential(sb.nn.Conv2d(1, 2, 3), sb.nn.BatchNorm2d(2), sb.nn.ReLU(), sb.nn.Flatten(),
                           sb.nn.Linear(8, 1))
    text = str(sb.explain(sb.mse(net(x), y)))
    assert ("δ₁ = ∂L/∂z₁ = (4N(γ₂ ⊙ δ₂) − x̂₂ ⊙ (Σ[axis 0,2,3] (x̂₂ ⊙ δ₂)) ⊙ γ₂ − (Σ[axis 0,2,3] δ₂) ⊙ γ₂)/"
            "(4N √(σ²₂ + 1e-05))") in text


@pytest.mark.parametrize("norm,shape", [(lambda: sb.nn.BatchNorm1d(4), (3,)), (lambda: sb.nn.LayerNorm(4), (3,)),
                                        ("2d", (1, 4, 4))])
def test_explained_normalization_gradients_are_the_derived_values(norm, shape):
    """The formulas explain shows (sums rewritten for reading) compute the gradients autodiff derives."""
    from symbackprop.graph.traverse import leaves
    if norm == "2d":
        net = sb.nn.Sequential(sb.nn.Conv2d(1, 2, 3), sb.nn.BatchNorm2d(2), sb.nn.ReLU(), sb.nn.Flatten(),
                               sb.nn.Linear(8, 1))
    else:
        net = sb.nn.Sequential(sb.nn.Linear(3, 4), norm(), sb.nn.Tanh(), sb.nn.Linear(4, 1))
    x, y = sb.input("x", (None,) + shape), sb.input("y", (None, 1))
    loss = sb.mse(net(x), y)
    e = sb.explain(loss)
    params = [n for n in leaves([loss]) if n.op == "param"]
    g = sb.grad(loss, params)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.normal(size=(5,) + shape), "y": rng.normal(size=(5, 1))}
    feeds.update({p.name: rng.normal(size=p.shape) for p in params})
    want = sb.evaluate([g[p] for p in params], feeds)
    got = sb.evaluate([e.gradients[p] for p in params], feeds)
    for p, a, b in zip(params, got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=p.name)


def test_derive_and_train_accept_a_module_model_file(tmp_path, capsys):
    (tmp_path / "model.py").write_text(
        "class Net(sb.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc1 = sb.nn.Linear(2, 8)\n"
        "        self.bn = sb.nn.BatchNorm1d(8)\n"
        "        self.drop = sb.nn.Dropout(0.1)\n"
        "        self.fc2 = sb.nn.Linear(8, 2)\n"
        "    def forward(self, x):\n"
        "        return self.fc2(self.drop(sb.relu(self.bn(self.fc1(x)))))\n"
        "net = Net()\nloss = 'cross_entropy'\noptimizer = sb.optim.Adam(lr=0.02)\n")
    assert main(["derive", str(tmp_path / "model.py")]) == 0
    assert "∂L/∂γ₂ = Σₙ" in capsys.readouterr().out
    from symbackprop.datasets import two_moons
    X, y = two_moons(64, seed=0)
    np.savez(tmp_path / "moons.npz", X=X, y=y)
    assert main(["train", str(tmp_path / "model.py"), "--data", str(tmp_path / "moons.npz"), "--epochs", "3",
                 "--backend", "numpy", "--batch-size", "16", "--save", str(tmp_path / "w.npz")]) == 0
    assert "and 3 buffers" in capsys.readouterr().out
    with np.load(tmp_path / "w.npz") as saved:
        assert int(saved["bn.num_batches_tracked"]) == 12


# ---- sb.nn.init ----------------------------------------------------------------------------------
def test_init_schemes_follow_pytorch_formulas():
    rng = np.random.default_rng(0)
    a = sb.nn.init.kaiming_uniform_(np.empty((400, 300)), nonlinearity="relu", generator=rng)
    bound = np.sqrt(2.0) * np.sqrt(3.0 / 300)
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    b = sb.nn.init.xavier_normal_(np.empty((400, 300)), gain=2.0, generator=rng)
    assert b.std() == pytest.approx(2.0 * np.sqrt(2.0 / 700), rel=0.02)
    c = sb.nn.init.kaiming_normal_(np.empty((64, 8, 3, 3)), mode="fan_out", generator=rng)
    assert c.std() == pytest.approx(np.sqrt(2.0 / (1 + 0.01 ** 2)) / np.sqrt(64 * 9), rel=0.02)
    d = sb.nn.init.xavier_uniform_(np.empty((30, 20)), generator=rng)
    assert np.abs(d).max() <= np.sqrt(6.0 / 50)
    assert sb.nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(np.sqrt(2 / 1.04))
    np.testing.assert_array_equal(sb.nn.init.constant_(np.empty(3), val=0.5), [0.5] * 3)


def test_init_by_name_is_what_the_trainer_starts_from():
    net = Net()
    sb.nn.init.zeros_(net, "inp.bias")
    sb.nn.init.constant_(net.blocks[1].fc, "weight", val=0.25)
    for block in net.blocks:
        sb.nn.init.xavier_uniform_(block.fc, "weight", gain=0.5)
    sb.nn.init.ones_(net, "head.1.bias")
    p = sb.Trainer(net, backend="numpy", seed=4).params
    np.testing.assert_array_equal(p["inp.bias"], np.zeros(4))
    np.testing.assert_array_equal(p["head.1.bias"], np.ones(2))
    assert np.abs(p["blocks.1.fc.weight"]).max() <= 0.5 * np.sqrt(6 / 8)   # the later scheme wins
    again = sb.Trainer(net, backend="numpy", seed=4).params
    np.testing.assert_array_equal(again["blocks.0.fc.weight"], p["blocks.0.fc.weight"])  # seeded


# ---- errors --------------------------------------------------------------------------------------
class NoForward(sb.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = sb.nn.Linear(2, 2)


class EarlyAssign(sb.nn.Module):
    def __init__(self):
        self.fc = sb.nn.Linear(2, 2)
        super().__init__()


class Unregistered(sb.nn.Module):
    def forward(self, x):
        return sb.nn.Linear(2, 2)(x)


@pytest.mark.parametrize("make,message", [
    (lambda: NoForward()(sb.input("x", (None, 2))), "must define forward"),
    (lambda: EarlyAssign(), "before super().__init__()"),
    (lambda: Unregistered()(sb.input("x", (None, 2))), "not a submodule"),
    (lambda: sb.nn.ModuleList([sb.nn.Linear(2, 2)])(sb.input("x", (None, 2))), "iterate over it"),
    (lambda: sb.nn.ModuleList([3]), "not a module"),
    (lambda: sb.nn.BatchNorm1d(3)(sb.input("x", (None, 4))), "expects inputs (N, 3)"),
    (lambda: sb.nn.BatchNorm2d(3)(sb.input("x", (None, 3))), "(N, 3, …, …)"),
    (lambda: sb.nn.BatchNorm1d(0), "num_features must be a positive int"),
    (lambda: sb.nn.BatchNorm1d(3, momentum=None), "momentum"),
    (lambda: sb.nn.LayerNorm(5)(sb.input("x", (None, 4))), "ending in (5,)"),
    (lambda: sb.nn.Dropout(1.0), "p must be a probability in [0, 1)"),
    (lambda: sb.nn.Dropout(-0.1), "p must be a probability in [0, 1)"),
    (lambda: sb.nn.init.zeros_(Net(), "inp.gamma"), "no param named 'inp.gamma'"),
    (lambda: sb.nn.init.xavier_uniform_(sb.nn.Linear(2, 3), "bias"), "fewer than 2 dimensions"),
    (lambda: sb.nn.init.kaiming_normal_(np.empty((2, 2)), mode="fan"), "mode must be"),
    (lambda: sb.nn.init.calculate_gain("swish"), "unsupported nonlinearity"),
])
def test_bad_modules_raise_clear_errors(make, message):
    with pytest.raises(SymbackpropError, match=None) as info:
        make()
    assert message in str(info.value)


def test_bad_state_dicts_and_batches_of_one_are_refused():
    tr = sb.Trainer(sb.nn.Sequential(sb.nn.Linear(2, 3), sb.nn.BatchNorm1d(3)), backend="numpy")
    state = tr.state_dict()
    with pytest.raises(SymbackpropError, match="missing 1.running_var"):
        tr.load_state_dict({k: v for k, v in state.items() if k != "1.running_var"})
    with pytest.raises(SymbackpropError, match="expected shape"):
        tr.load_state_dict({**state, "0.bias": np.zeros(4)})
    tr.load_state_dict({k: v for k, v in state.items() if k != "1.running_var"}, strict=False)
    with pytest.raises(SymbackpropError, match="minibatch of 1 sample"):
        tr.fit(np.zeros((5, 2)), np.zeros((5, 3)), batch_size=2)


def test_explain_shows_dropout_as_a_mask_on_the_activation():
    x, y = sb.input("x", (None, 3)), sb.input("y", (None, 1))
    net = sb.nn.Sequential(sb.nn.Linear(3, 4), sb.nn.ReLU(), sb.nn.Dropout(0.5), sb.nn.Linear(4, 1))
    text = str(sb.explain(sb.mse(net(x), y)))
    for line in ("ã₁ = a₁ ⊙ m", "ŷ = ã₁ W₂ᵀ + b₂", "δ₁ = ∂L/∂z₁ = (δ₂ W₂) ⊙ m ⊙ 𝟙[z₁ > 0]", "∂L/∂W₂ = δ₂ᵀ ã₁"):
        assert line in text, line
    assert "ã₁" not in str(sb.explain(sb.mse(net.eval()(x), y)))  # evaluation mode: no mask
