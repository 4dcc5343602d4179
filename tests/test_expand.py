"""sb.expand: per-element formulas match hand derivations; sizes that blow up are refused."""

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.graph.scalar import sigmoid as σ

R = dict(real=True)


def net_221():
    x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
    W1 = sb.param("W1", (2, 2)); b1 = sb.param("b1", (2,)); W2 = sb.param("W2", (2, 1)); b2 = sb.param("b2", (1,))
    yhat = sb.sigmoid(sb.sigmoid(x @ W1 + b1) @ W2 + b2)
    L = sb.sum((yhat - y) ** 2) / 2
    return L, (W1, b1, W2, b2)


def hand_221():
    """The textbook's scalar backprop for one sample: h_j = σ(Σ_i x_i W1_ij + b1_j),
    ŷ = σ(Σ_j h_j W2_j + b2), L = (ŷ − y)²/2."""
    x = sp.symbols("x_1 x_2", **R); y = sp.Symbol("y", **R)
    W1 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"W1_{i + 1}{j + 1}", **R))
    b1 = sp.symbols("b1_1 b1_2", **R); W2 = sp.symbols("W2_1 W2_2", **R); b2 = sp.Symbol("b2", **R)
    h = [σ(x[0] * W1[0, j] + x[1] * W1[1, j] + b1[j]) for j in range(2)]
    yhat = σ(h[0] * W2[0] + h[1] * W2[1] + b2)
    d2 = (yhat - y) * yhat * (1 - yhat)                     # δ at the output
    dW2 = [d2 * h[j] for j in range(2)]
    dW1 = sp.Matrix(2, 2, lambda i, j: d2 * W2[j] * h[j] * (1 - h[j]) * x[i])
    return dW1, dW2


def test_221_sigmoid_network_matches_the_hand_derivation():
    L, (W1, b1, W2, b2) = net_221()
    g = sb.grad(L, [W1, W2])
    dW1, dW2 = hand_221()
    got1 = sb.expand(g[W1], sizes={"N": 1})
    got2 = sb.expand(g[W2], sizes={"N": 1})
    assert got1.shape == (2, 2) and got2.shape == (2, 1)
    for i in range(2):
        assert sp.expand(got2[i] - dW2[i]) == 0
        for j in range(2):
            assert sp.expand(got1[i, j] - dW1[i, j]) == 0, (got1[i, j], dW1[i, j])


def test_closed_form_writes_sigmoid_with_exp():
    L, (W1, b1, W2, b2) = net_221()
    e = sb.expand(sb.grad(L, W2), sizes={"N": 1}, closed_form=True)
    assert not e.has(σ) and e.has(sp.exp)
    _, dW2 = hand_221()
    vals = {s: 0.1 * (k + 1) for k, s in enumerate(sorted(e.free_symbols | dW2[0].free_symbols, key=str))}
    assert abs(float(e[0].subs(vals)) - float(dW2[0].subs(vals))) < 1e-12


def test_expansion_evaluates_like_the_graph():
    x = sb.input("x", (None, 2)); labels = sb.input("y", (None,), "int64")
    W = sb.param("W", (2, 3)); b = sb.param("b", (3,))
    L = sb.cross_entropy(x @ W + b, labels)
    g = sb.grad(L, W)
    e = sb.expand(g, sizes={"N": 2})
    rng = np.random.default_rng(0)
    X, Wv, bv, Y = rng.normal(size=(2, 2)), rng.normal(size=(2, 3)), rng.normal(size=3), np.array([2, 0])
    subs = {sp.Symbol(f"x_{n + 1}{i + 1}", **R): X[n, i] for n in range(2) for i in range(2)}
    subs.update({sp.Symbol(f"W_{i + 1}{j + 1}", **R): Wv[i, j] for i in range(2) for j in range(3)})
    subs.update({sp.Symbol(f"b_{j + 1}", **R): bv[j] for j in range(3)})
    subs.update({sp.Symbol(f"y_{n + 1}{c + 1}", **R): float(Y[n] == c) for n in range(2) for c in range(3)})
    got = np.array(e.subs(subs).evalf(), dtype=float)
    want = sb.evaluate([g], {"x": X, "W": Wv, "b": bv, "y": Y})[0]
    assert np.allclose(got, want, atol=1e-12)


def test_scalar_and_naming():
    t = sb.param("t", ()); v = sb.param("v", (12,))
    assert sb.expand(sb.grad(t ** 3, t)) == 3 * sp.Symbol("t", **R) ** 2
    e = sb.expand(sb.sum(v * v))
    assert sp.Symbol("v_10", **R) in e.free_symbols


def test_sizes_that_blow_up_are_refused_with_the_limit():
    x = sb.input("x", (None, 2)); W = sb.param("W", (2, 300))
    with pytest.raises(sb.SymbackpropError, match="limit of 256 elements"):
        sb.expand(sb.sum(x @ W), sizes={"N": 1})
    with pytest.raises(sb.SymbackpropError, match="limit of 16"):
        sb.expand(sb.sum(x), sizes={"N": 100})
    with pytest.raises(sb.SymbackpropError, match="only the batch size 'N'"):
        sb.expand(sb.sum(x), sizes={"M": 2})
    with pytest.raises(sb.SymbackpropError, match="positive int"):
        sb.expand(sb.sum(x), sizes={"N": 0})
    with pytest.raises(sb.SymbackpropError):
        sb.expand("x")


def test_nn_221_gradient_is_the_derivative_of_the_expanded_loss():
    net = sb.nn.Sequential(sb.nn.Linear(2, 2), sb.nn.Sigmoid(), sb.nn.Linear(2, 1), sb.nn.Sigmoid())
    x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
    L = sb.mse(net(x), y) / 2
    params = {n.name: n for n in sb._graph.traverse.leaves([L]) if n.op == "param"}
    scalar_L = sb.expand(L, sizes={"N": 1})
    for name, shape in (("0.weight", (2, 2)), ("2.weight", (1, 2))):
        got = sb.expand(sb.grad(L, params[name]), sizes={"N": 1})
        base = "W1" if name == "0.weight" else "W2"
        for i in range(shape[0]):
            for j in range(shape[1]):
                idx = "".join(str(k + 1) for k, d in zip((i, j), shape) if d != 1)
                w = sp.Symbol(f"{base}_{idx}", real=True)
                assert w in scalar_L.free_symbols
                assert sp.expand(sp.diff(scalar_L, w) - got[i, j]) == 0
