"""Symbolic reverse mode: closed forms computed by hand with numpy, conventions at kinks,
numerical stability, second derivatives, graph structure and derivation cost, and errors."""

import sys
import time

import numpy as np
import pytest
import scipy.special

import symbackprop as sb
from symbackprop.autodiff import backprop
from symbackprop.graph.scalar import N
from symbackprop.graph.traverse import topo_order
from tests.conftest import assert_rel, central, fd_grads

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _fresh_rng():
    """Each test draws from a freshly seeded generator: its data do not depend on which tests ran first."""
    global RNG
    RNG = np.random.default_rng(7)


def run(outputs, **feeds):
    """Compile with the numpy backend and call with the feeds the function takes (a derivative
    that is constant, like relu'' or ∂L/∂L, takes none)."""
    f = sb.compile(outputs, backend="numpy")
    return f(**{k: v for k, v in feeds.items() if k in f.arg_names})


# ---- closed forms --------------------------------------------------------------------------
def test_sigmoid_neuron_with_mse():
    x, y = sb.input("x", (None, 3)), sb.input("y", (None, 1))
    W, b = sb.param("W", (3, 1)), sb.param("b", (1,))
    yhat = sb.sigmoid(x @ W + b)
    L = sb.mean((yhat - y) ** 2) / 2
    g = sb.grad(L, [W, b])
    X, Y = RNG.normal(size=(8, 3)), RNG.uniform(size=(8, 1))
    W0, b0 = RNG.normal(size=(3, 1)), RNG.normal(size=1)
    loss, dW, db = run([L, g[W], g[b]], x=X, y=Y, W=W0, b=b0)
    yh = 1 / (1 + np.exp(-(X @ W0 + b0)))
    delta = (yh - Y) * yh * (1 - yh) / len(X)         # ∂L/∂z = (ŷ − y)·ŷ(1 − ŷ)/N
    assert_rel(loss, np.mean((yh - Y) ** 2) / 2, rtol=1e-13)
    assert_rel(dW, X.T @ delta, rtol=1e-12)              # ∂L/∂w = Σ (ŷ − y)·ŷ(1 − ŷ)·x / N
    assert_rel(db, delta.sum(axis=0), rtol=1e-12)


def test_a_map_whose_derivative_is_its_own_argument():
    # d(u**2/2)/du = u is sympy's IdentityFunction Lambda(_x, _x): its dummy must not leak
    import sympy as sp
    u = sp.Symbol("u")
    x = sb.input("x", (None, 2))
    g = sb.grad(sb.sum(sb.map(sp.Lambda(u, u ** 2 / 2), x)), x)
    X = RNG.normal(size=(4, 2))
    assert_rel(run(g, x=X), X, rtol=1e-14)


def test_single_sample_sigmoid_neuron_matches_the_textbook_formula():
    x, y = sb.input("x", (None, 2)), sb.input("y", (None, 1))
    w = sb.param("w", (2, 1))
    yhat = sb.sigmoid(x @ w)
    gw = sb.grad(sb.mean((yhat - y) ** 2) / 2, w)
    X, Y, w0 = np.array([[0.5, -1.5]]), np.array([[1.0]]), np.array([[0.3], [0.2]])
    yh = 1 / (1 + np.exp(-(X @ w0)))
    assert_rel(run(gw, x=X, y=Y, w=w0), ((yh - Y) * yh * (1 - yh) * X).T, rtol=1e-13)


def softmax_np(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax_cross_entropy_gradient(scale):
    z, y = sb.input("z", (None, 4)), sb.input("y", (None,), dtype="int64")
    L = -sb.mean(sb.sum(sb.onehot(y, 4) * sb.log_softmax(z), axis=1))
    gz = sb.grad(L, z)
    Z = RNG.normal(size=(6, 4)) * scale
    Y = np.array([0, 3, 1, 1, 2, 3], dtype=np.int64)
    loss, got = run([L, gz], z=Z, y=Y)
    p = softmax_np(Z)
    onehot = np.eye(4)[Y]
    assert_rel(got, (p - onehot) / len(Z), rtol=1e-12, atol=1e-300)
    lse = Z.max(axis=1) + np.log(np.exp(Z - Z.max(axis=1, keepdims=True)).sum(axis=1))
    assert_rel(loss, np.mean(lse - Z[np.arange(6), Y]), rtol=1e-12)


def test_least_squares_by_gradient_descent_reaches_lstsq():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3))
    Y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=50)
    x, y = sb.input("x", (None, 3)), sb.input("y", (None,))
    w, b = sb.param("w", (3,)), sb.param("b", ())
    L = sb.mean((x @ w + b - y) ** 2) / 2
    g = sb.grad(L, [w, b])
    step = sb.compile([g[w], g[b]], backend="numpy")
    A = np.hstack([X, np.ones((50, 1))])
    lr = 1.0 / np.linalg.eigvalsh(A.T @ A / 50).max()
    w0, b0 = np.zeros(3), np.array(0.0)
    for _ in range(600):
        dw, db = step(x=X, y=Y, w=w0, b=b0)
        w0, b0 = w0 - lr * dw, b0 - lr * db
    solution = np.linalg.lstsq(A, Y, rcond=None)[0]
    assert_rel(np.append(w0, b0), solution, rtol=1e-9)


# ---- every activation's derivative against its textbook form ---------------------------------
Xa = RNG.normal(size=(5, 3))
Pa = RNG.uniform(0.2, 2.0, size=(5, 3))
Phi, phi = scipy.special.ndtr, lambda v: np.exp(-v * v / 2) / np.sqrt(2 * np.pi)
DERIVATIVES = [
    ("exp", sb.exp, np.exp, Xa),
    ("log", sb.log, lambda v: 1 / v, Pa),
    ("sqrt", sb.sqrt, lambda v: 0.5 / np.sqrt(v), Pa),
    ("abs", sb.abs, np.sign, Xa),
    ("tanh", sb.tanh, lambda v: 1 - np.tanh(v) ** 2, Xa),
    ("sin", sb.sin, np.cos, Xa),
    ("cos", sb.cos, lambda v: -np.sin(v), Xa),
    ("sigmoid", sb.sigmoid, lambda v: scipy.special.expit(v) * (1 - scipy.special.expit(v)), Xa),
    ("softplus", sb.softplus, scipy.special.expit, Xa),
    ("relu", sb.relu, lambda v: (v > 0).astype(float), Xa),
    ("leaky_relu", sb.leaky_relu, lambda v: np.where(v > 0, 1.0, 0.01), Xa),
    ("gelu", sb.gelu, lambda v: Phi(v) + v * phi(v), Xa),
    ("pow", lambda t: t ** 3, lambda v: 3 * v ** 2, Xa),
    ("rpow", lambda t: 2.5 ** t, lambda v: 2.5 ** v * np.log(2.5), Xa),
    ("reciprocal", lambda t: 1 / t, lambda v: -1 / v ** 2, Pa),
]


@pytest.mark.parametrize("name, fn, deriv, data", DERIVATIVES, ids=[d[0] for d in DERIVATIVES])
def test_elementwise_derivatives(name, fn, deriv, data):
    x = sb.input("x", (None, 3))
    gx = sb.grad(sb.sum(fn(x)), x)
    assert_rel(run(gx, x=data), deriv(data), rtol=1e-13, atol=1e-300, what=name)


def test_pow_with_a_node_exponent():
    a, e = sb.param("a", (3,)), sb.param("e", (3,))
    g = sb.grad(sb.sum(a ** e), [a, e])
    A, E = RNG.uniform(0.5, 2, size=3), RNG.normal(size=3)
    da, de = run([g[a], g[e]], a=A, e=E)
    assert_rel(da, E * A ** (E - 1), rtol=1e-13)
    assert_rel(de, A ** E * np.log(A), rtol=1e-13)


# ---- conventions at kinks and numerical stability ------------------------------------------
def test_relu_derivative_at_zero_is_zero():
    t = sb.param("t", (3,))
    got = run(sb.grad(sb.sum(sb.relu(t)), t), t=np.array([-1.0, 0.0, 2.0]))
    assert got.tolist() == [0.0, 0.0, 1.0]  # PyTorch: relu'(0) = 0


def test_abs_derivative_at_zero_is_zero():
    t = sb.param("t", (3,))
    got = run(sb.grad(sb.sum(sb.abs(t)), t), t=np.array([-1.0, 0.0, 2.0]))
    assert got.tolist() == [-1.0, 0.0, 1.0]  # PyTorch: abs'(0) = sgn(0) = 0


def test_leaky_relu_derivative_at_zero_is_the_slope_as_in_pytorch():
    # torch.nn.functional.leaky_relu backward: x > 0 ? g : g·negative_slope, so at 0 it is the slope
    t = sb.param("t", (3,))
    got = run(sb.grad(sb.sum(sb.leaky_relu(t, 0.1)), t), t=np.array([-1.0, 0.0, 2.0]))
    assert got.tolist() == [0.1, 0.1, 1.0]


def test_max_shares_the_gradient_among_ties():
    v = sb.param("v", (2, 3))
    V = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    assert_rel(run(sb.grad(sb.max(v), v), v=V), [[0, 0.5, 0.5], [0, 0, 0]], rtol=0)
    assert_rel(run(sb.grad(sb.sum(sb.max(v, axis=1)), v), v=V), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]],
               rtol=1e-15)
    V2 = np.array([[1.0, 3.0, 3.0], [2.0, 3.0, 2.0]])
    assert_rel(run(sb.grad(sb.sum(sb.max(v, axis=0) * np.array([1.0, 2.0, 3.0])), v), v=V2),
               [[0, 1, 3], [1, 1, 0]], rtol=0)


def test_sigmoid_and_softplus_gradients_at_extremes():
    t = sb.param("t", (3,))
    T = np.array([-1000.0, 0.0, 1000.0])
    ds = run(sb.grad(sb.sum(sb.sigmoid(t)), t), t=T)
    assert ds.tolist() == [0.0, 0.25, 0.0]  # not nan
    sp_val, dsp = run([sb.softplus(t), sb.grad(sb.sum(sb.softplus(t)), t)], t=T)
    assert_rel(sp_val, [0.0, np.log(2), 1000.0], rtol=1e-15)
    assert dsp.tolist() == [0.0, 0.5, 1.0]


def test_logsumexp_and_softmax_are_stable_at_large_logits():
    z = sb.input("z", (None, 3))
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 999.0]])
    lse, p, lp = sb.logsumexp(z), sb.softmax(z), sb.log_softmax(z)
    L = sb.sum(lse) + sb.sum(lp * np.array([1.0, 2.0, 3.0]))
    gz = sb.grad(L, z)
    got = run([lse, p, lp, gz], z=Z)
    for arr in got:
        assert np.all(np.isfinite(arr))
    want_lse = scipy.special.logsumexp(Z, axis=1)
    assert_rel(got[0], want_lse, rtol=1e-15)
    P = softmax_np(Z)
    assert_rel(got[1], P, rtol=1e-13, atol=1e-300)
    assert_rel(got[2], Z - want_lse[:, None], rtol=1e-15)
    # ∂/∂z [lse + Σ c·(z − lse)] = p + c − Σc·p
    c = np.array([1.0, 2.0, 3.0])
    assert_rel(got[3], P + c - 6 * P, rtol=1e-13)
    for a, b in zip(got, sb.evaluate([lse, p, lp, gz], {"z": Z})):
        assert_rel(a, b, rtol=1e-15)


# ---- second derivatives --------------------------------------------------------------------
def test_second_and_third_derivatives_of_scalars():
    t = sb.param("t", ())
    d1 = sb.grad(t ** 3 + sb.sin(t), t)
    d2 = sb.grad(d1, t)
    d3 = sb.grad(d2, t)
    T = 0.7
    got = run([d1, d2, d3], t=np.array(T))
    assert_rel(got, [3 * T ** 2 + np.cos(T), 6 * T - np.sin(T), 6 - np.cos(T)], rtol=1e-14)


def mlp_loss():
    x, y = sb.input("x", (None, 3)), sb.input("y", (None, 2))
    W1, b1 = sb.param("W1", (3, 4)), sb.param("b1", (4,))
    W2, b2 = sb.param("W2", (4, 2)), sb.param("b2", (2,))
    z1 = x @ W1 + b1
    a1 = sb.tanh(z1)
    z2 = a1 @ W2 + b2
    L = sb.mean((sb.sigmoid(z2) - y) ** 2) + sb.mean(sb.softplus(z1)) * 0.1
    feeds = dict(x=RNG.normal(size=(5, 3)), y=RNG.uniform(size=(5, 2)), W1=RNG.normal(size=(3, 4)),
                 b1=RNG.normal(size=4), W2=RNG.normal(size=(4, 2)), b2=RNG.normal(size=2))
    return L, (W1, b1, W2, b2), (z1, a1, z2), feeds


def test_hessian_vector_product_matches_finite_differences_of_the_gradient():
    L, params, _, feeds = mlp_loss()
    g = sb.grad(L, list(params))
    vs = {p: sb.input("v" + p.name, p.shape) for p in params}
    hv = sb.grad(sum(sb.sum(g[p] * vs[p]) for p in params), list(params))
    directions = {"v" + p.name: RNG.normal(size=p.shape) for p in params}
    got = run([hv[p] for p in params], **feeds, **directions)

    def grad_at(t):
        moved = {**feeds, **{p.name: feeds[p.name] + t * directions["v" + p.name] for p in params}}
        return sb.evaluate([g[p] for p in params], moved)

    want = [central(lambda t, i=i: grad_at(t)[i]) for i in range(len(params))]
    for p, a, b in zip(params, got, want):
        assert_rel(a, b, rtol=1e-6, atol=1e-10, what=f"(H v) for {p.name}")


def test_full_hessian_is_symmetric_and_matches_finite_differences():
    L, params, _, feeds = mlp_loss()
    W1 = params[0]
    g = sb.grad(L, W1)
    H = np.zeros((12, 12))
    for k in range(12):  # row k: ∂(∂L/∂W1[k])/∂W1
        e = np.zeros(12)
        e[k] = 1.0
        H[k] = run(sb.grad(sb.sum(g * e.reshape(3, 4)), W1), **feeds).ravel()
    fd = np.stack([fd_grads(sb.sum(g * np.eye(12)[k].reshape(3, 4)), feeds, ["W1"])["W1"].ravel()
                   for k in range(12)])
    assert_rel(H, fd, rtol=1e-6, atol=1e-10)
    assert_rel(H, H.T, rtol=1e-12)


def test_hessian_of_logsumexp_is_diag_p_minus_ppT():
    z = sb.param("z", (4,))
    Z = RNG.normal(size=4)
    g = sb.grad(sb.logsumexp(z), z)
    rows = [run(sb.grad(sb.sum(g * np.eye(4)[k]), z), z=Z) for k in range(4)]
    p = np.exp(Z - scipy.special.logsumexp(Z))
    assert_rel(np.stack(rows), np.diag(p) - np.outer(p, p), rtol=1e-13, atol=1e-16)


def test_second_derivative_through_kinks_is_zero_almost_everywhere():
    t = sb.param("t", (4,))
    T = np.array([-1.0, -0.5, 0.5, 2.0])
    for f in (sb.relu, sb.abs, lambda u: sb.leaky_relu(u, 0.2)):
        d2 = sb.grad(sb.sum(sb.grad(sb.sum(f(t) * 3.0), t)), t)
        assert run(d2, t=T).tolist() == [0.0, 0.0, 0.0, 0.0]
    v = sb.param("v", (2, 2))
    d2 = sb.grad(sb.sum(sb.grad(sb.max(v) ** 2, v)), v)
    assert_rel(run(d2, v=np.array([[1.0, 3.0], [0.0, 2.0]])), [[0, 2.0], [0, 0]], rtol=0)


# ---- structure -----------------------------------------------------------------------------
def test_a_5000_node_chain_differentiates_compiles_and_evaluates():
    assert sys.getrecursionlimit() < 5000
    x = sb.param("x", (2,))
    h = x
    for _ in range(5000):
        h = sb.sin(h)
    L = sb.sum(h)
    g = sb.grad(L, x)
    assert len(topo_order([g])) > 10000
    X = np.array([0.3, 1.2])
    loss, dx = run([L, g], x=X)
    ev_loss, ev_dx = sb.evaluate([L, g], {"x": X})
    v, d = X.copy(), np.ones(2)
    for _ in range(5000):
        d = d * np.cos(v)
        v = np.sin(v)
    assert_rel(loss, v.sum(), rtol=1e-12)
    assert_rel(dx, d, rtol=1e-9)
    assert_rel(ev_loss, loss, rtol=1e-14)
    assert_rel(ev_dx, dx, rtol=1e-14)


def test_grad_of_an_unused_param_is_zeros():
    x, W, V = sb.input("x", (None, 2)), sb.param("W", (2, 3)), sb.param("V", (4, 5))
    V32 = sb.param("V32", (2,), dtype="float32")
    L = sb.sum(sb.tanh(x @ W))
    g = sb.grad(L, [W, V, V32])
    _, gV, gV32 = run([L, g[V], g[V32]], x=np.ones((3, 2)), W=np.ones((2, 3)))
    assert gV.shape == (4, 5) and gV.dtype == np.float64 and not gV.any()
    assert gV32.shape == (2,) and gV32.dtype == np.float32 and not gV32.any()


def test_grad_of_an_unused_batch_input_has_the_batch_shape():
    # the zeros for x are built from a constant, so nothing in the gradient's graph carries the batch
    # size: compiled alone (or evaluated), it comes out with N = 1 instead of the batch size
    x, W = sb.input("x", (None, 2)), sb.param("W", (2, 3))
    gx = sb.grad(sb.sum(W * W), x)
    assert gx.shape == (N, 2)
    try:
        f = sb.compile(gx, backend="numpy")
    except sb.CompileError:
        return  # refusing to compile is acceptable; a (1, 2) array is not
    feeds = dict(x=np.ones((4, 2)), W=np.ones((2, 3)))
    out = f(**{k: v for k, v in feeds.items() if k in f.arg_names})
    assert out.shape == (4, 2)


def test_grad_of_the_loss_itself_is_one():
    t = sb.param("t", (3,))
    L = sb.sum(t ** 2)
    assert float(run(sb.grad(L, L), t=np.ones(3))) == 1.0


def test_grad_returns_a_node_for_a_node_and_a_dict_for_a_list():
    t, u = sb.param("t", (3,)), sb.param("u", (3,))
    L = sb.sum(t * u)
    assert isinstance(sb.grad(L, t), sb.Expr)
    g = sb.grad(L, [t, u])
    assert isinstance(g, dict) and list(g) == [t, u]
    assert sb.grad(L, (u,))[u] is sb.grad(L, u)


def test_grad_wrt_intermediate_nodes_is_the_backprop_cotangent():
    L, (W1, b1, W2, b2), (z1, a1, z2), feeds = mlp_loss()
    g = sb.grad(L, [z2, a1, z1, W1])
    cot = backprop(L, [W1])
    for node in (z2, a1, z1, W1):
        assert g[node] is cot[node]
    x, y = feeds["x"], feeds["y"]
    Z1 = x @ feeds["W1"] + feeds["b1"]
    A1 = np.tanh(Z1)
    Z2 = A1 @ feeds["W2"] + feeds["b2"]
    S = scipy.special.expit(Z2)
    n = len(x)
    dZ2 = 2 * (S - y) * S * (1 - S) / (n * 2)
    dA1 = dZ2 @ feeds["W2"].T
    dZ1 = dA1 * (1 - A1 ** 2) + 0.1 * scipy.special.expit(Z1) / (n * 4)
    got = run([L, g[z2], g[a1], g[z1], g[W1]], **feeds)[1:]
    for a, b in zip(got, [dZ2, dA1, dZ1, x.T @ dZ1]):
        assert_rel(a, b, rtol=1e-12)


def test_cotangents_of_a_reused_node_are_summed():
    W = sb.param("W", (3, 3))
    h = sb.tanh(W)
    L = sb.sum(h @ h) + sb.sum(h * W)
    M = RNG.normal(size=(3, 3))
    H = np.tanh(M)
    one = np.ones((3, 3))
    dH = one @ H.T + H.T @ one + M
    want = dH * (1 - H ** 2) + H
    assert_rel(run(sb.grad(L, W), W=M), want, rtol=1e-13)


def test_mlp_gradient_matches_a_hand_written_backprop():
    L, (W1, b1, W2, b2), _, feeds = mlp_loss()
    got = run(list(sb.grad(L, [W1, b1, W2, b2]).values()), **feeds)
    fd = fd_grads(L, feeds, ["W1", "b1", "W2", "b2"])
    for a, name in zip(got, ["W1", "b1", "W2", "b2"]):
        assert_rel(a, fd[name], rtol=1e-8, atol=1e-12, what=name)


def deep_mlp(width, depth=10):
    x, y = sb.input("x", (None, width)), sb.input("y", (None, 1))
    h, params = x, []
    for i in range(depth):
        out = 1 if i == depth - 1 else width
        W, b = sb.param(f"W{i}", (h.shape[1], out)), sb.param(f"b{i}", (out,))
        params += [W, b]
        h = h @ W + b
        if i < depth - 1:
            h = sb.tanh(h)
    return sb.mean((h - y) ** 2), params


def test_deriving_a_10_layer_mlp_is_fast_and_independent_of_width():
    counts, times = {}, {}
    for width in (16, 1024):
        L, params = deep_mlp(width)
        start = time.process_time()  # CPU time: other work on the machine does not fail the test
        g = sb.grad(L, params)
        times[width] = time.process_time() - start
        counts[width] = len(topo_order(list(g.values())))
    assert counts[16] == counts[1024]
    assert counts[16] < 400
    assert times[16] < 1.0 and times[1024] < 2.0, times


# ---- errors --------------------------------------------------------------------------------
def test_non_scalar_loss_is_a_derivation_error():
    x, W = sb.input("x", (None, 2)), sb.param("W", (2, 3))
    with pytest.raises(sb.DerivationError) as e:
        sb.grad(x @ W, W)
    assert "scalar" in str(e.value) and "(N, 3)" in str(e.value)
    assert isinstance(e.value, sb.SymbackpropError)


def test_grad_wrt_an_int_input_is_a_derivation_error():
    y = sb.input("labels", (None,), dtype="int64")
    z = sb.input("z", (None, 3))
    L = sb.sum(sb.onehot(y, 3) * z)
    with pytest.raises(sb.DerivationError) as e:
        sb.grad(L, [z, y])
    assert "labels" in str(e.value) and "int64" in str(e.value)


def test_grad_of_non_nodes_is_a_derivation_error():
    t = sb.param("t", ())
    with pytest.raises(sb.DerivationError):
        sb.grad(1.0, t)
    with pytest.raises(sb.DerivationError):
        sb.grad(t * 2, ["t"])
