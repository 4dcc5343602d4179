"""sb.explain: golden derivations of five textbook models (examples/formulas), each read once against
the textbook derivation and frozen here; LaTeX renders in matplotlib's mathtext."""

import pathlib
import runpy

import numpy as np
import pytest

import symbackprop as sb

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples" / "formulas"


def load(name):
    env = runpy.run_path(str(EXAMPLES / f"{name}.py"))
    return env["loss"], env.get("wrt")


GOLDEN_TEXT = {
    "linear_regression": """\
ŷ = x W + b
L = Σ (ŷ − y)²/N
δ = ∂L/∂ŷ = 2(ŷ − y)/N    from L = Σ (ŷ − y)²/N
∂L/∂W = xᵀ δ              from ŷ = x W + b
∂L/∂b = Σₙ δ              from ŷ = x W + b""",
    "logistic_regression": """\
z = x W + b
ŷ = σ(z)
L = Σ (softplus(z) − y ⊙ z)/N
δ = ∂L/∂z = (ŷ − y)/N    from L = Σ (softplus(z) − y ⊙ z)/N
∂L/∂W = xᵀ δ             from z = x W + b
∂L/∂b = Σₙ δ             from z = x W + b""",
    "sigmoid_mlp": """\
z₁ = x W₁ᵀ + b₁
a₁ = σ(z₁)
z₂ = a₁ W₂ᵀ + b₂
ŷ = σ(z₂)
L = Σ (ŷ − y)²/(2N)
δ₂ = ∂L/∂z₂ = ((ŷ − y) ⊙ ŷ ⊙ (1 − ŷ))/N    from L = Σ (ŷ − y)²/(2N),  ŷ = σ(z₂)
δ₁ = ∂L/∂z₁ = (δ₂ W₂) ⊙ a₁ ⊙ (1 − a₁)      from z₂ = a₁ W₂ᵀ + b₂,  a₁ = σ(z₁)
∂L/∂W₁ = δ₁ᵀ x                             from z₁ = x W₁ᵀ + b₁
∂L/∂b₁ = Σₙ δ₁                             from z₁ = x W₁ᵀ + b₁
∂L/∂W₂ = δ₂ᵀ a₁                            from z₂ = a₁ W₂ᵀ + b₂
∂L/∂b₂ = Σₙ δ₂                             from z₂ = a₁ W₂ᵀ + b₂""",
    "softmax_classifier": """\
z = x W + b
L = Σ (logsumexp(z) − Σ[axis 1] (onehot(y) ⊙ z))/N
δ = ∂L/∂z = (softmax(z) − onehot(y))/N    from L = Σ (logsumexp(z) − Σ[axis 1] (onehot(y) ⊙ z))/N
∂L/∂W = xᵀ δ                              from z = x W + b
∂L/∂b = Σₙ δ                              from z = x W + b""",
    "tanh_mlp": """\
z₁ = x W₁ᵀ + b₁
a₁ = tanh(z₁)
z₂ = a₁ W₂ᵀ + b₂
a₂ = tanh(z₂)
ŷ = a₂ W₃ᵀ + b₃
L = Σ (ŷ − y)²/N
δ₃ = ∂L/∂ŷ = 2(ŷ − y)/N              from L = Σ (ŷ − y)²/N
δ₂ = ∂L/∂z₂ = (δ₃ W₃) ⊙ (1 − a₂²)    from ŷ = a₂ W₃ᵀ + b₃,  a₂ = tanh(z₂)
δ₁ = ∂L/∂z₁ = (δ₂ W₂) ⊙ (1 − a₁²)    from z₂ = a₁ W₂ᵀ + b₂,  a₁ = tanh(z₁)
∂L/∂W₁ = δ₁ᵀ x                       from z₁ = x W₁ᵀ + b₁
∂L/∂b₁ = Σₙ δ₁                       from z₁ = x W₁ᵀ + b₁
∂L/∂W₂ = δ₂ᵀ a₁                      from z₂ = a₁ W₂ᵀ + b₂
∂L/∂b₂ = Σₙ δ₂                       from z₂ = a₁ W₂ᵀ + b₂
∂L/∂W₃ = δ₃ᵀ a₂                      from ŷ = a₂ W₃ᵀ + b₃
∂L/∂b₃ = Σₙ δ₃                       from ŷ = a₂ W₃ᵀ + b₃""",
}

GOLDEN_LATEX = {
    "sigmoid_mlp": [
        r"z_{1} = x W_{1}^{\top} + b_{1}",
        r"a_{1} = \sigma\left(z_{1}\right)",
        r"z_{2} = a_{1} W_{2}^{\top} + b_{2}",
        r"\hat{y} = \sigma\left(z_{2}\right)",
        r"L = \frac{\sum \left(\hat{y} - y\right)^{2}}{2 N}",
        r"\delta_{2} = \frac{\partial L}{\partial z_{2}} = \frac{\left(\hat{y} - y\right) \odot \hat{y} \odot \left(1 - \hat{y}\right)}{N}",
        r"\delta_{1} = \frac{\partial L}{\partial z_{1}} = \left(\delta_{2} W_{2}\right) \odot a_{1} \odot \left(1 - a_{1}\right)",
        r"\frac{\partial L}{\partial W_{1}} = \delta_{1}^{\top} x",
        r"\frac{\partial L}{\partial b_{1}} = \sum_{n} \delta_{1}",
        r"\frac{\partial L}{\partial W_{2}} = \delta_{2}^{\top} a_{1}",
        r"\frac{\partial L}{\partial b_{2}} = \sum_{n} \delta_{2}",
    ],
    "softmax_classifier": [
        r"z = x W + b",
        r"L = \frac{\sum \left(\mathrm{logsumexp}\left(z\right) - \sum_{\mathrm{axis}\ 1} \left(\mathrm{onehot}\left(y\right) \odot z\right)\right)}{N}",
        r"\delta = \frac{\partial L}{\partial z} = \frac{\mathrm{softmax}\left(z\right) - \mathrm{onehot}\left(y\right)}{N}",
        r"\frac{\partial L}{\partial W} = x^{\top} \delta",
        r"\frac{\partial L}{\partial b} = \sum_{n} \delta",
    ],
}


@pytest.mark.parametrize("name", sorted(GOLDEN_TEXT))
def test_explain_text_golden(name):
    loss, wrt = load(name)
    assert str(sb.explain(loss, wrt=wrt)) == GOLDEN_TEXT[name]


@pytest.mark.parametrize("name", sorted(GOLDEN_LATEX))
def test_explain_latex_golden(name):
    loss, wrt = load(name)
    assert sb.explain(loss, wrt=wrt).latex_lines() == GOLDEN_LATEX[name]


@pytest.mark.parametrize("name", sorted(GOLDEN_TEXT))
def test_explain_latex_renders_in_mathtext(name):
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    loss, wrt = load(name)
    ex = sb.explain(loss, wrt=wrt)
    for line in ex.latex_lines():
        parser.parse("$" + line + "$")
    block = ex.latex()
    assert block.startswith("\\begin{aligned}") and block.count("\\\\") == len(ex.steps) - 1
    assert ex._repr_latex_() == "$$" + block + "$$"


@pytest.mark.parametrize("name", sorted(GOLDEN_TEXT))
def test_explained_gradients_equal_the_derived_ones(name):
    loss, wrt = load(name)
    ex = sb.explain(loss, wrt=wrt)
    params = list(ex.gradients)
    g = sb.grad(loss, params)
    rng = np.random.default_rng(0)
    feeds = {}
    for leaf in sb._graph.traverse.leaves([loss]):
        if leaf.op == "const":
            continue
        shape = tuple(4 if not isinstance(d, int) else d for d in leaf.shape)
        feeds[leaf.name] = (rng.integers(0, 3, shape) if leaf.dtype == "int64" else rng.normal(size=shape))
    want = sb.evaluate([g[p] for p in params], feeds)
    got = sb.evaluate([ex.gradients[p] for p in params], feeds)
    for w, v in zip(want, got):
        assert np.allclose(v, w, rtol=0, atol=1e-12)
    deltas = [s for s in ex.steps if s.kind == "delta"]
    assert deltas and all(s.lhs.startswith("δ") for s in deltas)


def test_explain_defaults_to_every_param_and_takes_one_node():
    loss, _ = load("tanh_mlp")
    ex = sb.explain(loss)
    assert len(ex.gradients) == 6
    W = next(iter(ex.gradients))
    one = sb.explain(loss, wrt=W)
    assert list(one.gradients) == [W]
    assert str(one).splitlines()[-1].startswith("∂L/∂W₁ = δ₁ᵀ x")


def test_explain_rejects_a_non_node():
    with pytest.raises(sb.DerivationError):
        sb.explain(3.0)


def test_explain_with_no_layers():
    t = sb.param("t", ())
    ex = sb.explain(t ** 3, wrt=t)
    assert str(ex).splitlines()[-1] == "∂L/∂t = 3t²"
