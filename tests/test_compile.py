"""sb.compile with the numpy backend: values against the direct evaluator, calling
conventions, argument checking with the offender named, and float32."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.graph.scalar import N
from tests.conftest import assert_rel

RNG = np.random.default_rng(11)


@pytest.fixture(autouse=True)
def _fresh_rng():
    """Each test draws from a freshly seeded generator: its data do not depend on which tests ran first."""
    global RNG
    RNG = np.random.default_rng(11)


def model(dtype="float64"):
    """A small net touching every activation, reductions, layout ops and onehot labels."""
    x = sb.input("x", (None, 3), dtype=dtype)
    y = sb.input("y", (None,), dtype="int64")
    W1, b1 = sb.param("W1", (3, 5), dtype=dtype), sb.param("b1", (5,), dtype=dtype)
    W2 = sb.param("W2", (5, 4), dtype=dtype)
    z1 = x @ W1 + b1
    acts = [sb.tanh(z1), sb.sigmoid(z1), sb.softplus(z1), sb.gelu(z1), sb.relu(z1), sb.leaky_relu(z1, 0.1),
            sb.sin(z1), sb.cos(z1), sb.abs(z1), sb.sqrt(z1 * z1 + 1), sb.log(sb.exp(z1 * 0.5) + 1)]
    h = acts[0]
    for a in acts[1:]:
        h = h + a * 0.1
    z2 = h @ W2
    ce = -sb.mean(sb.sum(sb.onehot(y, 4, dtype=dtype) * sb.log_softmax(z2), axis=1))
    extra = sb.mean(sb.max(z2, axis=1) - sb.logsumexp(z2.T, axis=0)) + sb.sum(sb.reshape(h, (-1,)) ** 2) * 1e-3
    loss = ce + extra
    params = [W1, b1, W2]
    return loss, params, sb.softmax(z2)


def feeds(n=6, dtype=np.float64, rng=None):
    rng = RNG if rng is None else rng
    return dict(x=rng.normal(size=(n, 3)).astype(dtype), y=rng.integers(0, 4, size=n).astype(np.int64),
                W1=rng.normal(size=(3, 5)).astype(dtype), b1=rng.normal(size=5).astype(dtype),
                W2=rng.normal(size=(5, 4)).astype(dtype))


# ---- values and calling conventions --------------------------------------------------------
def test_compiled_values_equal_the_evaluator():
    loss, params, probs = model()
    g = sb.grad(loss, params)
    outs = [loss, probs] + [g[p] for p in params]
    f = sb.compile(outs, backend="numpy")
    for n in (1, 4, 9):  # the batch size may change from call to call
        data = feeds(n)
        got = f(**data)
        want = sb.evaluate(outs, data)
        assert len(got) == len(outs)
        for a, b, node in zip(got, want, outs):
            assert a.shape == b.shape and a.dtype == np.float64
            assert_rel(a, b, rtol=1e-12, atol=1e-300, what=node.describe())
        assert got[1].shape == (n, 4)


def test_single_output_returns_an_array_and_a_list_returns_a_list():
    x = sb.input("x", (None, 2))
    X = RNG.normal(size=(3, 2))
    one = sb.compile(sb.tanh(x), backend="numpy")(x=X)
    assert isinstance(one, np.ndarray) and np.allclose(one, np.tanh(X), rtol=1e-15)
    lst = sb.compile([sb.tanh(x)], backend="numpy")(x=X)
    assert isinstance(lst, list) and len(lst) == 1
    assert sb.compile(sb.sum(x))(x=X).shape == ()  # "numpy" is the default backend


def test_leaves_constants_and_repeated_outputs():
    x, W = sb.input("x", (None, 2)), sb.param("W", (2, 2))
    c = sb.const(np.array([1.0, 2.0]))
    f = sb.compile([x, c, W.T, x @ W, x @ W, W.T @ W], backend="numpy")
    X, W0 = RNG.normal(size=(3, 2)), RNG.normal(size=(2, 2))
    got = f(x=X, W=W0)
    for a, b in zip(got, [X, [1.0, 2.0], W0.T, X @ W0, X @ W0, W0.T @ W0]):
        assert_rel(a, b, rtol=1e-15)
    assert got[3] is not got[4]


def test_outputs_are_fresh_arrays_and_inputs_are_not_touched():
    x, W = sb.input("x", (None, 2)), sb.param("W", (2, 3))
    h = sb.tanh(x @ W)
    L = sb.sum(h * h)
    f = sb.compile([x, h, L, sb.grad(L, W)], backend="numpy")
    X, W0 = RNG.normal(size=(4, 2)), RNG.normal(size=(2, 3))
    X_copy, W_copy = X.copy(), W0.copy()
    first = f(x=X, W=W0)
    assert np.array_equal(X, X_copy) and np.array_equal(W0, W_copy)
    kept = [a.copy() for a in first]
    for a in first:
        assert a.flags.writeable
        assert not np.shares_memory(a, X) and not np.shares_memory(a, W0)
    first[0][:] = 99.0
    first[1][:] = 99.0
    assert np.array_equal(X, X_copy)
    second = f(x=RNG.normal(size=(4, 2)), W=RNG.normal(size=(2, 3)))  # must not overwrite the first results
    for a, b in zip(first[2:], kept[2:]):
        assert np.array_equal(a, b)
    for a, b in zip(second, first):
        assert not np.shares_memory(a, b)


def test_gradient_descent_loop_reuses_one_compiled_function():
    x, y = sb.input("x", (None, 2)), sb.input("y", (None, 1))
    W, b = sb.param("W", (2, 1)), sb.param("b", (1,))
    L = sb.mean((sb.sigmoid(x @ W + b) - y) ** 2) / 2
    g = sb.grad(L, [W, b])
    f = sb.compile([L, g[W], g[b]], backend="numpy")
    X = RNG.normal(size=(20, 2))
    Y = (X[:, :1] + X[:, 1:] > 0).astype(float)
    W0, b0 = np.zeros((2, 1)), np.zeros(1)
    losses = []
    for _ in range(50):
        loss, dW, db = f(x=X, y=Y, W=W0, b=b0)
        want = sb.evaluate([L, g[W], g[b]], dict(x=X, y=Y, W=W0, b=b0))
        for a, e in zip((loss, dW, db), want):
            assert_rel(a, e, rtol=1e-12, atol=1e-300)
        losses.append(float(loss))
        W0, b0 = W0 - 2.0 * dW, b0 - 2.0 * db
    assert losses[-1] < 0.5 * losses[0]


def test_arg_names_are_the_inputs_and_params():
    loss, params, _ = model()
    f = sb.compile(loss, backend="numpy")
    assert sorted(f.arg_names) == ["W1", "W2", "b1", "x", "y"]


# ---- argument errors -----------------------------------------------------------------------
@pytest.fixture
def f_and_feeds():
    loss, params, _ = model()
    return sb.compile([loss] + list(sb.grad(loss, params).values()), backend="numpy"), feeds(5)


def test_missing_argument(f_and_feeds):
    f, data = f_and_feeds
    del data["W2"]
    with pytest.raises(sb.CompileError, match="missing") as e:
        f(**data)
    assert "W2" in str(e.value)


def test_unexpected_argument(f_and_feeds):
    f, data = f_and_feeds
    with pytest.raises(sb.CompileError, match="unexpected") as e:
        f(**data, W3=np.zeros((2, 2)))
    assert "W3" in str(e.value)


def test_wrong_shape_names_the_argument_and_both_shapes(f_and_feeds):
    f, data = f_and_feeds
    with pytest.raises(sb.ShapeError) as e:
        f(**{**data, "W1": np.zeros((5, 3))})
    msg = str(e.value)
    assert "W1" in msg and "(3, 5)" in msg and "(5, 3)" in msg
    with pytest.raises(sb.ShapeError) as e:
        f(**{**data, "x": np.zeros((5, 4))})
    msg = str(e.value)
    assert "x" in msg and "(N, 3)" in msg and "(5, 4)" in msg
    with pytest.raises(sb.ShapeError) as e:
        f(**{**data, "b1": np.zeros((1, 5))})
    assert "b1" in str(e.value) and "(5,)" in str(e.value) and "(1, 5)" in str(e.value)


def test_float32_array_to_a_float64_input_is_a_dtype_error(f_and_feeds):
    f, data = f_and_feeds
    with pytest.raises(sb.DTypeError) as e:
        f(**{**data, "x": data["x"].astype(np.float32)})
    msg = str(e.value)
    assert "x" in msg and "float32" in msg and "float64" in msg
    with pytest.raises(sb.DTypeError) as e:
        f(**{**data, "W2": data["W2"].astype(np.float32)})
    assert "W2" in str(e.value)


def test_labels_of_the_wrong_dtype(f_and_feeds):
    f, data = f_and_feeds
    for bad in (data["y"].astype(np.int32), data["y"].astype(np.float64)):
        with pytest.raises(sb.DTypeError) as e:
            f(**{**data, "y": bad})
        assert "y" in str(e.value) and "int64" in str(e.value) and str(bad.dtype) in str(e.value)


def test_batch_size_mismatch_between_two_inputs(f_and_feeds):
    f, data = f_and_feeds
    with pytest.raises(sb.ShapeError) as e:
        f(**{**data, "y": np.zeros(4, dtype=np.int64)})
    msg = str(e.value)
    assert "x" in msg and "y" in msg and "4" in msg and "5" in msg


def test_empty_batch(f_and_feeds):
    f, data = f_and_feeds
    with pytest.raises(sb.ShapeError, match="empty"):
        f(**{**data, "x": np.zeros((0, 3)), "y": np.zeros(0, dtype=np.int64)})


def test_two_leaves_with_the_same_name():
    a, b = sb.input("w", (None, 2)), sb.param("w", (2,))
    with pytest.raises(sb.CompileError) as e:
        sb.compile(sb.sum(a * b), backend="numpy")
    assert "'w'" in str(e.value)
    c = sb.param("w", (3,))
    with pytest.raises(sb.CompileError, match="'w'"):
        sb.compile([sb.sum(b), sb.sum(c)], backend="numpy")


def test_bad_compile_calls():
    x = sb.input("x", (2,))
    with pytest.raises(sb.CompileError, match="backend"):
        sb.compile(x * 2, backend="no-such-backend")
    with pytest.raises(sb.CompileError):
        sb.compile([], backend="numpy")
    with pytest.raises(sb.CompileError):
        sb.compile([x * 2, np.ones(2)], backend="numpy")


def test_all_errors_are_symbackprop_errors(f_and_feeds):
    f, data = f_and_feeds
    for bad in ({**data, "x": data["x"][:, :2]}, {**data, "x": data["x"].astype(np.float32)}, {"x": data["x"]}):
        with pytest.raises(sb.SymbackpropError):
            f(**bad)


def test_gradient_wrt_an_intermediate_compiled_alone_knows_the_batch_size():
    # ∂mean(z)/∂z = 1/(N·2) everywhere: its graph reads no input, so nothing fixes N.  Compiling it
    # must either refuse or take the batch size from somewhere; returning shape (1, 2) is wrong.
    x, W = sb.input("x", (None, 3)), sb.param("W", (3, 2))
    z = x @ W
    gz = sb.grad(sb.mean(z), z)
    assert gz.shape == (N, 2)
    try:
        f = sb.compile(gz, backend="numpy")
    except sb.CompileError:
        return
    data = dict(x=np.ones((4, 3)), W=np.ones((3, 2)))
    out = f(**{k: v for k, v in data.items() if k in f.arg_names})
    assert out.shape == (4, 2)
    assert_rel(out, np.full((4, 2), 1 / 8), rtol=1e-15)


# ---- float32 -------------------------------------------------------------------------------
def test_program_mixing_float32_and_float64_compiles():
    # run in a subprocess with a time limit: lowering such a program has been seen to loop forever
    code = textwrap.dedent("""
        import numpy as np, symbackprop as sb
        x = sb.input("x", (None, 2), dtype="float32")
        b = sb.param("b", (2,))
        f = sb.compile([sb.tanh(x) * 2, sb.exp(b) + 1], backend="numpy")
        u, v = f(x=np.ones((3, 2), dtype=np.float32), b=np.zeros(2))
        assert u.dtype == np.float32 and v.dtype == np.float64, (u.dtype, v.dtype)
        assert np.allclose(u, 2 * np.tanh(1.0)) and np.allclose(v, 2.0)
        print("ok")
    """)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except subprocess.TimeoutExpired:
        pytest.fail("sb.compile of a program with float32 and float64 steps did not finish in 30 s")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_float32_graph_runs_in_float32_and_agrees_with_float64():
    loss64, params64, probs64 = model("float64")
    loss32, params32, probs32 = model("float32")
    assert loss32.dtype == "float32" and probs32.dtype == "float32"
    g64, g32 = sb.grad(loss64, params64), sb.grad(loss32, params32)
    outs32 = [loss32, probs32] + [g32[p] for p in params32]
    outs64 = [loss64, probs64] + [g64[p] for p in params64]
    for node in outs32:
        assert node.dtype == "float32", node.describe()
    data32 = feeds(7, np.float32)
    data64 = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in data32.items()}
    got = sb.compile(outs32, backend="numpy")(**data32)
    ev32 = sb.evaluate(outs32, data32)
    want = sb.compile(outs64, backend="numpy")(**data64)
    for a, e, b, node in zip(got, ev32, want, outs64):
        assert a.dtype == np.float32 and e.dtype == np.float32
        assert_rel(a, b, rtol=1e-5, atol=1e-7, what=f"float32 vs float64: {node.describe()}")
        assert_rel(a, e, rtol=1e-5, atol=1e-7, what=f"float32 compile vs evaluate: {node.describe()}")


def test_float32_gradient_of_a_mean_is_float32():
    # ∂mean(x)/∂x is a map of no operands (1/(2N)) broadcast to x's shape: it must stay float32
    x = sb.input("x", (None, 2), dtype="float32")
    g = sb.grad(sb.mean(x), x)
    assert g.dtype == "float32"
    out, _ = sb.compile([g, x], backend="numpy")(x=np.ones((3, 2), dtype=np.float32))
    assert out.dtype == np.float32
    assert_rel(out, np.full((3, 2), 1 / 6), rtol=1e-7)


def test_float32_function_rejects_float64_arrays():
    loss, params, _ = model("float32")
    f = sb.compile(loss, backend="numpy")
    data = feeds(3, np.float32)
    assert f(**data).dtype == np.float32
    with pytest.raises(sb.DTypeError) as e:
        f(**{**data, "W1": data["W1"].astype(np.float64)})
    assert "W1" in str(e.value) and "float32" in str(e.value) and "float64" in str(e.value)
