"""Textbook rendering: str(expr), expr.latex(), names, listings."""

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.render.names import pretty


def logistic():
    x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1)); b = sb.param("b", (1,)); y = sb.input("y", (None, 1))
    return x, W, b, y, sb.bce(x @ W + b, y)


def test_logistic_regression_gradient_text_and_latex_golden():
    x, W, b, y, L = logistic()
    g = sb.grad(L, [W, b])
    assert str(g[W]) == "xᵀ ((ŷ − y)/N)\n  where ŷ = σ(z)\n        z = x W + b"
    assert str(g[b]) == "Σₙ ((ŷ − y)/N)\n  where ŷ = σ(z)\n        z = x W + b"
    assert g[W].latex() == r"x^{\top} \left(\frac{\hat{y} - y}{N}\right)"
    assert g[W]._repr_latex_() == "$" + g[W].latex() + "$"


def test_forward_formulas():
    x = sb.input("x", (None, 3)); W = sb.param("W1", (3, 2)); b = sb.param("b_1", (2,))
    assert str(sb.relu(x @ W + b)) == "max(z, 0)\n  where z = x W₁ + b₁"
    assert str(sb.mean(sb.exp(x) * 2 + 1)) == "Σ (2exp(x) + 1)/(3N)"
    assert str(sb.softmax(x)) == "softmax(x)"
    t = sb.input("t", (None,))
    assert str(sb.leaky_relu(t, 0.5) / t ** 2) == "[t if t > 0, t/2 otherwise]/t²"
    assert sb.sqrt(t).latex() == r"\sqrt{t}"


@pytest.mark.parametrize("act, name", [(sb.tanh, "tanh"), (sb.sigmoid, "σ")])
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_no_exp_in_tanh_or_sigmoid_backward_formulas(act, name, loss):
    x = sb.input("inp", (None, 3)); y = sb.input("target", (None, 2))
    W1 = sb.param("V", (3, 5)); c1 = sb.param("c", (5,)); W2 = sb.param("U", (5, 2)); c2 = sb.param("d", (2,))
    out = act(x @ W1 + c1) @ W2 + c2
    L = sb.mse(out, y) if loss == "mse" else sb.bce(out, y)
    g = sb.grad(L, [W1, c1, W2, c2])
    for p in (W1, c1, W2, c2):
        text = str(g[p])
        assert "exp" not in text, text
        head = text.split("\n")[0]
        assert f"{name}(" not in head, f"backward formula recomputes {name}: {text}"
    assert "a₁" in str(g[W1]).split("\n")[0]


def test_required_forms_on_unseen_models():
    # sigmoid + binary cross-entropy on logits, 3 features
    x = sb.input("features", (None, 3)); t = sb.input("y", (None, 1))
    w = sb.param("w", (3, 1)); c = sb.param("c", (1,))
    L = sb.bce(x @ w + c, t)
    assert "(ŷ − y)/N" in str(sb.grad(L, w))
    # written out by hand: -mean(y log ŷ + (1 − y) log(1 − ŷ))
    yhat = sb.sigmoid(x @ w + c)
    L2 = -sb.mean(t * sb.log(yhat) + (1 - t) * sb.log(1 - yhat))
    assert "(ŷ − y)/N" in str(sb.grad(L2, w))
    # softmax + cross-entropy, 5 classes
    labels = sb.input("y", (None,), "int64"); V = sb.param("V", (3, 5)); d = sb.param("d", (5,))
    L3 = sb.cross_entropy(x @ V + d, labels)
    assert "(softmax(z) − onehot(y))/N" in str(sb.grad(L3, V))
    # MSE with identity output, k = 4
    y3 = sb.input("y", (None, 3)); M = sb.param("M", (3, 3))
    assert "2(ŷ − y)/(3N)" in str(sb.grad(sb.mse(x @ M, y3), M))


def test_user_names_win_and_are_used_everywhere():
    x = sb.input("x", (None, 2)); W = sb.param("W", (2, 3)); V = sb.param("V", (3, 1)); y = sb.input("y", (None, 1))
    h = sb.name(sb.tanh(x @ W), "h")
    assert h.named("h") is h
    L = sb.mse(h @ V, y)
    g = sb.grad(L, W)
    text = str(g)
    assert "(1 − h²)" in text and "h = tanh(z₁)" in text, text
    assert "# h" in g.listing()
    ex = str(sb.explain(L, wrt=W))
    assert "h = tanh(z₁)" in ex


def test_nn_layers_name_their_values():
    net = sb.nn.Sequential(sb.nn.Linear(2, 3), sb.nn.Tanh(), sb.nn.Linear(3, 1))
    x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
    L = sb.mse(net(x), y)
    W1 = [n for n in sb._graph.traverse.leaves([L]) if n.name == "0.weight"][0]
    text = str(sb.grad(L, W1))
    assert text.startswith("(((2(ŷ − y)/N) W₂) ⊙ (1 − a₁²))ᵀ x"), text
    assert "z₁ = x W₁ᵀ + b₁" in text
    listing = L.listing()
    assert "# z₁" in listing and "# a₁" in listing and "# ŷ" in listing


def test_pretty_names():
    assert [str(pretty(n)) for n in ("W1", "w_11", "y_hat", "yhat2", "alpha", "0.weight", "x")] == \
        ["W₁", "w₁₁", "ŷ", "ŷ₂", "α", "0.weight", "x"]
    assert pretty("yhat").latex == r"\hat{y}" and pretty("W12").latex == "W_{12}" and pretty("theta").latex == r"\theta"


def test_name_rejects_bad_arguments():
    with pytest.raises(TypeError):
        sb.name(3, "x")
    with pytest.raises(ValueError):
        sb.name(sb.input("x", (2,)), "")


def test_huge_formula_falls_back_to_listing():
    t = sb.input("t", (3,))
    e = t
    for i in range(400):
        e = sb.tanh(e * sb.param(f"p{i}", (3,)))
    assert str(e).startswith("%0 = ")


def test_rendering_does_not_change_values():
    x, W, b, y, L = logistic()
    g = sb.grad(L, W)
    feeds = {"x": np.ones((3, 2)), "y": np.zeros((3, 1)), "W": np.full((2, 1), 0.5), "b": np.zeros(1)}
    before = sb.evaluate([g], feeds)[0]
    str(g); g.latex(); g.listing()
    assert np.array_equal(sb.evaluate([g], feeds)[0], before)


def test_latex_renders_in_mathtext():
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    x, W, b, y, L = logistic()
    t = sb.input("t", (None, 3))
    for e in [sb.grad(L, W), sb.grad(L, b), sb.relu(t) ** 3 / 2, sb.leaky_relu(t, 0.25), sb.abs(t), sb.sqrt(t),
              sb.grad(sb.mean(sb.relu(t)), t), sb.grad(sb.max(t), t), sb.logsumexp(t), sb.gelu(t)]:
        parser.parse("$" + e.latex() + "$")


def test_an_operand_printed_with_a_sign_is_never_doubled():
    from symbackprop.render import latex, text
    t = sb.input("t", (None, 3)); u = sb.input("u", (None, 3))
    minus_t = -t  # unsimplified, a separate node whose formula starts with a sign
    assert text(-minus_t, simplify=False) == "−(−t)"  # was −−t
    assert latex(-minus_t, simplify=False) == r"-\left(-t\right)"
    assert text(u + minus_t, simplify=False) == "u − t"  # was u + −t
    assert latex(u + minus_t, simplify=False) == "u - t"
    assert text(u * minus_t, simplify=False) == "u ⊙ (−t)"
