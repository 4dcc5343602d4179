"""Compiled functions are safe to call from many threads at once (thread pools, web servers).

Each thread calls one shared compiled gradient function with its own data and batch size; every
result must equal the one computed alone.  The kernels release the GIL (ctypes calls; numba's
``nogil=True``), so the threads really overlap: with one shared arena this failed about one
call in ten.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import symbackprop as sb
from tests.conftest import optional_backends

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()


@pytest.fixture(scope="module")
def mlp():
    """A 64-64-1 tanh MLP's loss and gradients, as in the report that found the race."""
    x = sb.input("x", (None, 64)); y = sb.input("y", (None, 1))
    W1 = sb.param("W1", (64, 64)); b1 = sb.param("b1", (64,))
    W2 = sb.param("W2", (64, 1)); b2 = sb.param("b2", (1,))
    L = sb.mse(sb.tanh(x @ W1 + b1) @ W2 + b2, y)
    g = sb.grad(L, [W1, b1, W2, b2])
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(0, 0.2, (64, 64)), "b1": rng.normal(0, 0.1, 64),
              "W2": rng.normal(0, 0.2, (64, 1)), "b2": np.zeros(1)}
    return [L, g[W1], g[b1], g[W2], g[b2]], params


def _jobs(count, sizes=(2000, 2000, 700, 31)):
    rng = np.random.default_rng(1)
    out = []
    for i in range(count):
        n = sizes[i % len(sizes)]
        out.append({"x": rng.normal(size=(n, 64)), "y": rng.normal(size=(n, 1))})
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_calls_of_one_compiled_function_each_get_their_own_answer(mlp, backend):
    outputs, params = mlp
    f = sb.compile(outputs, backend=backend)
    jobs = _jobs(48)
    alone = [f(**job, **params) for job in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda job: f(**job, **params), jobs))
    for i, (a, b) in enumerate(zip(alone, together)):
        for k, (u, v) in enumerate(zip(a, b)):
            np.testing.assert_allclose(v, u, rtol=1e-12, atol=1e-15,
                                       err_msg=f"{backend}: job {i} (batch {len(jobs[i]['x'])}), output {k}")


@pytest.mark.parametrize("backend", ["numba", "llvm"])
def test_two_trainers_training_at_once_end_where_each_ends_alone(backend):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3)); Y = np.sin(X.sum(axis=1, keepdims=True))

    def train(seed):
        net = sb.nn.Sequential(sb.nn.Linear(3, 16), sb.nn.Tanh(), sb.nn.Linear(16, 1))
        tr = sb.Trainer(net, loss="mse", optimizer=sb.optim.Adam(lr=0.01), backend=backend, seed=seed)
        tr.fit(X, Y, epochs=30, batch_size=32, verbose=False)
        return tr.params

    alone = [train(s) for s in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(train, range(4)))
    for a, b in zip(alone, together):
        for name in a:
            np.testing.assert_array_equal(b[name], a[name], err_msg=f"{backend}: {name}")
