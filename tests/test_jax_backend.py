"""The jax backend: the same kernel programs traced into XLA, held to the numpy reference
backend at 1e-10 in float64 (every primitive, every layer, whole training runs with the
same seed and minibatch order), sharded over several devices with the numbers of one, and
optional (without JAX, ``backend="jax"`` says what to install: test_jax_optional.py).

Multi-device runs need ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` before jax is
imported, so they run in a subprocess (``_in_subprocess``)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symbackprop as sb
from tests.backend_zoo import feeds as zoo_feeds, zoo
from tests.conftest import assert_rel

ROOT = Path(__file__).resolve().parents[1]


jax = pytest.importorskip("jax", exc_type=ImportError)  # without JAX: test_jax_optional.py
rng = np.random.default_rng(17)


def test_every_op_of_the_zoo_matches_the_numpy_backend_to_1e_10():
    outs = zoo()
    feeds = zoo_feeds(n=9, seed=3)
    want = sb.compile(outs, backend="numpy")(**feeds)
    got = sb.compile(outs, backend="jax")(**feeds)
    for a, b, node in zip(got, want, outs):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.flags.writeable
        assert_rel(a, b, rtol=1e-10, atol=1e-14, what=f"jax {node.describe()}")


def test_float32_programs_run_in_float32_without_touching_the_x64_flag():
    outs = zoo("float32")
    feeds = zoo_feeds(n=5, seed=1, dtype="float32")
    want = sb.compile(outs, backend="numpy")(**feeds)
    got = sb.compile(outs, backend="jax")(**feeds)
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        assert_rel(a, b, rtol=1e-4, atol=1e-5)
    assert not jax.config.jax_enable_x64  # float64 calls switch x64 on for themselves only
    z = sb.input("z", (None,))
    assert sb.compile(sb.sum(z * 2), backend="jax")(z=np.ones(3)) == 6.0  # float64, x64 for this call only
    assert not jax.config.jax_enable_x64


def test_argument_checks_come_first():
    x = sb.input("x", (None, 2)); w = sb.param("w", (2,))
    f = sb.compile(sb.sum(x @ w), backend="jax")
    with pytest.raises(sb.ShapeError, match="input x: expected shape"):
        f(x=np.ones((3, 3)), w=np.ones(2))
    with pytest.raises(sb.DTypeError):
        f(x=np.ones((3, 2), dtype=np.float32), w=np.ones(2))
    with pytest.raises(sb.CompileError, match="missing argument"):
        f(x=np.ones((3, 2)))


def test_the_jax_function_is_a_pure_jittable_function_of_jax_arrays():
    import jax.numpy as jnp
    W = sb.param("W", (3, 1), "float32"); b = sb.param("b", (1,), "float32")
    x, y = sb.input("x", (None, 3), "float32"), sb.input("y", (None, 1), "float32")
    L = sb.mean((sb.sigmoid(x @ W + b) - y) ** 2) / 2
    g = sb.grad(L, [W, b])
    f = sb.compile([L, g[W], g[b]], backend="jax")
    feeds = {"x": rng.normal(size=(8, 3)).astype(np.float32), "y": rng.uniform(size=(8, 1)).astype(np.float32),
             "W": rng.normal(size=(3, 1)).astype(np.float32), "b": np.zeros(1, np.float32)}
    want = f(**feeds)

    @jax.jit
    def users_step(W, b, x, y):  # a symbackprop-derived gradient inside the user's own JAX program
        loss, dW, db = f.jax_function(x=x, y=y, W=W, b=b)
        return W - 0.1 * dW, b - 0.1 * db, loss

    W1, b1, loss = users_step(*(jnp.asarray(feeds[k]) for k in ("W", "b", "x", "y")))
    assert_rel(np.asarray(loss), want[0], rtol=1e-6)
    assert_rel(np.asarray(W1), feeds["W"] - 0.1 * want[1], rtol=1e-6)
    # JAX's own autodiff through our forward pass agrees with our derived gradient
    jg = jax.grad(lambda W: f.jax_function(**{**feeds, "W": W})[0])(jnp.asarray(feeds["W"]))
    assert_rel(np.asarray(jg), want[1], rtol=1e-5, atol=1e-7)
    with pytest.raises(sb.ShapeError, match="input x"):
        f.jax_function(**{**feeds, "x": feeds["x"][:, :2]})
    f64 = sb.compile(sb.sum(sb.input("z", (None,)) * 2), backend="jax")
    with pytest.raises(sb.CompileError, match="enable_x64"):
        f64.jax_function(z=jnp.ones(3))
    with jax.enable_x64(True):
        assert float(f64.jax_function(z=jnp.ones(3, dtype=jnp.float64))) == 6.0
    with pytest.raises(sb.CompileError, match='backend="jax"'):
        sb.compile(sb.sum(sb.input("z", (None,)) * 2), backend="numpy").jax_function


class LastStep(sb.nn.Module):
    """A recurrent layer, then Linear on its last state: (N, T, I) -> (N, out)."""

    def __init__(self, recurrent, hidden, out):
        super().__init__()
        self.recurrent, self.head = recurrent, sb.nn.Linear(hidden, out)

    def parameter_shapes(self, prefix=""):
        return self.recurrent.parameter_shapes(prefix + "rnn.") + self.head.parameter_shapes(prefix + "head.")

    def _init(self, rng, prefix):
        yield from self.recurrent._init(rng, prefix + "rnn.")
        yield from self.head._init(rng, prefix + "head.")

    def build(self, x, prefix=""):
        return self.head.build(self.recurrent.build(x, prefix + "rnn.")[:, -1], prefix + "head.")


def _mlp(act):
    return lambda: sb.nn.Sequential(sb.nn.Linear(3, 6), act(), sb.nn.Linear(6, 2))


#: every layer: (name, net maker, X maker, loss, optimizer)
LAYERS = [
    ("tanh-mse-sgd", _mlp(sb.nn.Tanh), (3,), "mse", lambda: sb.optim.SGD(lr=0.1)),
    ("relu-ce-momentum", _mlp(sb.nn.ReLU), (3,), "cross_entropy",
     lambda: sb.optim.SGD(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("sigmoid-bce-nesterov", lambda: sb.nn.Sequential(sb.nn.Linear(3, 5), sb.nn.Sigmoid(), sb.nn.Linear(5, 1)), (3,),
     "bce", lambda: sb.optim.SGD(lr=0.1, momentum=0.8, nesterov=True)),
    ("gelu-hinge-adam", lambda: sb.nn.Sequential(sb.nn.Linear(3, 5), sb.nn.GELU(), sb.nn.Linear(5, 1)), (3,),
     "hinge", lambda: sb.optim.Adam(lr=0.01)),
    ("softplus-leaky-adam", lambda: sb.nn.Sequential(sb.nn.Linear(3, 5), sb.nn.Softplus(), sb.nn.Linear(5, 5),
                                                     sb.nn.LeakyReLU(), sb.nn.Linear(5, 2)), (3,), "mse",
     lambda: sb.optim.Adam(lr=0.01)),
    ("conv2d-maxpool", lambda: sb.nn.Sequential(sb.nn.Conv2d(1, 3, 3, padding=1), sb.nn.ReLU(), sb.nn.MaxPool2d(2),
                                                sb.nn.Conv2d(3, 4, 2, stride=2), sb.nn.Tanh(), sb.nn.Flatten(),
                                                sb.nn.Linear(16, 3)), (1, 8, 8), "cross_entropy",
     lambda: sb.optim.SGD(lr=0.1, momentum=0.9)),
    ("conv1d-maxpool1d", lambda: sb.nn.Sequential(sb.nn.Conv1d(2, 3, 3, stride=2, padding=1), sb.nn.Tanh(),
                                                  sb.nn.MaxPool1d(2), sb.nn.Flatten(), sb.nn.Linear(9, 2)), (2, 12),
     "mse", lambda: sb.optim.Adam(lr=0.01)),
    ("avgpool1d", lambda: sb.nn.Sequential(sb.nn.AvgPool1d(2), sb.nn.Flatten(), sb.nn.Linear(12, 2)), (2, 12),
     "mse", lambda: sb.optim.SGD(lr=0.05)),
    ("conv2d-avgpool2d", lambda: sb.nn.Sequential(sb.nn.Conv2d(1, 2, 3), sb.nn.AvgPool2d(2), sb.nn.Flatten(),
                                                     sb.nn.Linear(2 * 3 * 3, 2)), (1, 8, 8), "mse",
     lambda: sb.optim.SGD(lr=0.05)),
    ("rnn", lambda: LastStep(sb.nn.RNN(2, 4), 4, 1), (5, 2), "mse", lambda: sb.optim.Adam(lr=0.01)),
    ("lstm-2-layers", lambda: LastStep(sb.nn.LSTM(2, 3, num_layers=2), 3, 2), (3, 2), "cross_entropy",
     lambda: sb.optim.SGD(lr=0.1, momentum=0.5)),
]


def _data(shape, loss, out, n=30):
    X = rng.normal(size=(n,) + shape)
    if loss == "cross_entropy":
        return X, rng.integers(0, out, size=n)
    if loss == "bce":
        return X, rng.integers(0, 2, size=(n, out)).astype(float)
    if loss == "hinge":
        return X, rng.choice([-1.0, 1.0], size=(n, out))
    return X, rng.normal(size=(n, out))


@pytest.mark.parametrize("name,make,shape,loss,optimizer", LAYERS, ids=[layer[0] for layer in LAYERS])
def test_training_every_layer_matches_the_numpy_backend_to_1e_10(name, make, shape, loss, optimizer):
    probe = sb.Trainer(make(), loss=loss, backend="numpy")
    X0 = rng.normal(size=(2,) + shape)
    out = probe.predict(X0).shape[1]
    X, Y = _data(shape, loss, out)
    results = {}
    for backend in ("numpy", "jax"):
        tr = sb.Trainer(make(), loss=loss, optimizer=optimizer(), backend=backend, seed=4)
        hist = tr.fit(X, Y, epochs=4, batch_size=8)  # 30 rows: three batches of 8, then one of 6
        loss_now, grads = tr.gradients(X, Y)
        results[backend] = (hist, tr.params, loss_now, grads)
    (h0, p0, l0, g0), (h1, p1, l1, g1) = results["numpy"], results["jax"]
    assert h1.steps == h0.steps == 16
    assert_rel(np.array(h1.loss), np.array(h0.loss), rtol=1e-10, what=f"{name}: loss per epoch")
    assert l1 == pytest.approx(l0, rel=1e-10)
    for k in p0:
        assert_rel(p1[k], p0[k], rtol=1e-10, atol=1e-14, what=f"{name}: {k} after 4 epochs")
        assert_rel(g1[k], g0[k], rtol=1e-10, atol=1e-14, what=f"{name}: ∂L/∂{k}")


def test_chunks_of_epochs_continue_the_same_run():
    """fit in pieces (each a call of the scan, padded to a power of two of epochs) = fit at once."""
    X, Y = _data((3,), "mse", 2, n=20)
    whole = sb.Trainer(_mlp(sb.nn.Tanh)(), optimizer=sb.optim.Adam(lr=0.01), backend="jax", seed=1)
    whole.fit(X, Y, epochs=7, batch_size=6)
    parts = sb.Trainer(_mlp(sb.nn.Tanh)(), optimizer=sb.optim.Adam(lr=0.01), backend="jax", seed=1)
    for count in (1, 2, 4):
        parts.fit(X, Y, epochs=count, batch_size=6)
    for k, v in whole.params.items():
        assert_rel(parts.params[k], v, rtol=1e-12, atol=1e-15, what=k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_masks_are_the_numpy_references_bit_for_bit_with_and_without_x64(dtype):
    """The ``DropoutMask`` step alone, with a seed and step numbers past 32 bits (float32
    programs run without x64: the 64-bit hash runs on uint32 pairs)."""
    from codegen.numpy_backend.random import dropout_mask, threshold
    from codegen.program import Buffer, DropoutMask, Program
    seed = (1 << 62) + 12345
    steps = tuple(DropoutMask(f"m{k}", "%seed", "h", k, threshold(p), 1 / (1 - p)) for k, p in enumerate((0.1, 0.5)))
    buffers = {"h": Buffer("h", (1,), "float64", "control"), "%seed": Buffer("%seed", (1,), "int64", "const"),
               "x": Buffer("x", (sb.graph.N,), dtype, "input"),  # gives the batch size
               **{s.out: Buffer(s.out, (sb.graph.N, 3, 5), dtype, "temp") for s in steps}}
    program = Program(buffers, steps, ("h", "x"), {"%seed": np.array([seed], dtype=np.int64)}, tuple(s.out for s in steps))
    f = __import__("codegen.jax_backend", fromlist=["build"]).build(program)
    assert f.x64 == (dtype == "float64")
    for t in (1, 7, (1 << 24) - 1) + (((1 << 40) + 3,) if dtype == "float64" else ()):
        got = f({"h": np.array([float(t)]), "x": np.zeros(11)}, 11)
        for s, mask in zip(steps, got):
            want = dropout_mask(seed, t, s.stream, 11 * 15, s.threshold, s.scale, dtype).reshape(11, 3, 5)
            assert mask.dtype == want.dtype
            np.testing.assert_array_equal(mask, want, err_msg=f"t={t} stream={s.stream}")


def test_a_diverging_run_stops_with_the_epoch_and_step_and_the_last_finite_params():
    """A linear model with too large a step grows geometrically until it overflows, over many
    epochs (linear growth keeps rounding differences relative, unlike a chaotic divergence);
    momentum, so optimizer state is replayed too."""
    local = np.random.default_rng(5)
    X, Y = local.normal(size=(40, 3)), local.normal(size=(40, 2))
    results = {}
    for backend in ("numpy", "jax"):
        tr = sb.Trainer(sb.nn.Linear(3, 2), optimizer=sb.optim.SGD(lr=3.0, momentum=0.5), backend=backend, seed=0)
        with pytest.raises(sb.TrainingDiverged) as info:
            tr.fit(X, Y, epochs=400, batch_size=8)  # overflows at epoch 112
        results[backend] = (info.value.epoch, info.value.step, tr.params)
    assert results["jax"][:2] == results["numpy"][:2]
    for k, v in results["numpy"][2].items():
        assert np.isfinite(results["jax"][2][k]).all()
        assert_rel(results["jax"][2][k], v, rtol=1e-9, what=k)


def test_the_trainer_lists_its_devices_and_refuses_too_many():
    tr = sb.Trainer(sb.nn.Linear(2, 1), backend="jax", devices=1)
    assert tr.devices == jax.devices()[:1]
    assert sb.Trainer(sb.nn.Linear(2, 1), backend="jax").devices == jax.devices()
    with pytest.raises(sb.ArgumentError, match="devices=64: JAX's cpu platform has"):
        sb.Trainer(sb.nn.Linear(2, 1), backend="jax", devices=64)
    with pytest.raises(sb.ArgumentError, match="list of JAX devices"):
        sb.Trainer(sb.nn.Linear(2, 1), backend="jax", devices=["cpu:0"])


def _in_subprocess(code, devices=4):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_four_devices_train_to_the_params_of_one_with_each_batch_sharded():
    """With BatchNorm (batch statistics summed over the devices), Dropout (the same masks),
    gradient-norm clipping and the recorded gradient norms."""
    result = _in_subprocess("""
        import json, numpy as np, jax, symbackprop as sb
        from codegen.jax_backend import training
        rng = np.random.default_rng(0)
        X = rng.normal(size=(70, 1, 6, 6)); Y = rng.integers(0, 3, size=70)
        def net():
            return sb.nn.Sequential(sb.nn.Conv2d(1, 2, 3, padding=1), sb.nn.ReLU(), sb.nn.MaxPool2d(2),
                                    sb.nn.Flatten(), sb.nn.Linear(18, 8, bias=False), sb.nn.BatchNorm1d(8), sb.nn.Tanh(),
                                    sb.nn.Dropout(0.2), sb.nn.Linear(8, 3))
        out = {"devices": len(jax.devices())}
        params = {}
        for k in (1, 4):
            training.SHARDING_PROBE = []
            tr = sb.Trainer(net(), loss="cross_entropy", optimizer=sb.optim.Adam(lr=0.01), backend="jax",
                            devices=k, seed=2, clip_grad_norm=1.0)
            hist = tr.fit(X, Y, epochs=3, batch_size=16)   # 4 batches of 16, then 6 (not divisible by 4)
            params[k] = {n: np.asarray(v, dtype=float) for n, v in tr.state_dict().items()}  # + running stats
            out[f"used{k}"] = [str(d) for d in tr.devices]
            out[f"loss{k}"] = hist.loss
            out[f"norms{k}"] = hist.grad_norms["0.weight"]
            out[f"probe{k}"] = sorted({(len(s.device_set), str(s.spec) if hasattr(s, "spec") else repr(s))
                                       for s in training.SHARDING_PROBE})
        out["errs"] = {n: float(np.max(np.abs(params[4][n] - params[1][n]) / (np.max(np.abs(params[1][n])) or 1)))
                       for n in params[1]}
        out["err"] = max(float(np.max(np.abs(params[4][n] - params[1][n]) / (np.max(np.abs(params[1][n])) or 1)))
                         for n in params[1])
        try:
            sb.Trainer(net(), loss="cross_entropy", backend="jax", devices=4).fit(X, Y, epochs=1, batch_size=10)
        except sb.ArgumentError as e:
            out["refused"] = str(e)
        print(json.dumps(out))
    """)
    assert result["devices"] == 4 and len(result["used4"]) == 4 and len(result["used1"]) == 1
    assert result["err"] < 1e-10, result
    assert_rel(np.array(result["loss4"]), np.array(result["loss1"]), rtol=1e-10)
    assert_rel(np.array(result["norms4"]), np.array(result["norms1"]), rtol=1e-10)
    # inside the 4-device step, the gathered minibatch (x and y) is split over the 4 devices along
    # the batch axis; the last batch of 6 rows is replicated (it does not divide by 4)
    specs = {tuple(p) for p in result["probe4"]}
    assert any(count == 4 and "batch" in spec for count, spec in specs), specs
    assert all(count == 4 for count, _ in specs), specs
    assert "batch_size=10 does not divide over the 4 devices" in result["refused"]


HOST = """
import json, sys
import numpy as np
import jax
pid, nproc, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc, process_id=pid)
from jax.experimental import multihost_utils
import symbackprop as sb
rng = np.random.default_rng(0)
X_all = rng.normal(size=(64, 3)); Y_all = np.sin(X_all[:, :1])
share = len(X_all) // nproc
X_local, Y_local = X_all[pid * share:(pid + 1) * share], Y_all[pid * share:(pid + 1) * share]  # this host's shard
with jax.enable_x64(True):  # float64 data stays float64 on its way through JAX
    X = np.asarray(multihost_utils.process_allgather(X_local, tiled=True))
    Y = np.asarray(multihost_utils.process_allgather(Y_local, tiled=True))
net = sb.nn.Sequential(sb.nn.Linear(3, 8), sb.nn.Tanh(), sb.nn.Linear(8, 1))
tr = sb.Trainer(net, optimizer=sb.optim.Adam(lr=0.01), backend="jax", seed=0)
hist = tr.fit(X, Y, epochs=3, batch_size=16)
print(json.dumps({"pid": pid, "processes": jax.process_count(), "devices": [str(d) for d in tr.devices],
                  "loss": hist.loss, "params": {k: v.tolist() for k, v in tr.params.items()}}))
"""


@pytest.mark.slow
def test_two_processes_with_jax_distributed_train_as_one(tmp_path):
    """The multi-host recipe, with two processes of one machine as the hosts: each feeds its
    shard, the minibatches are sharded over both processes' devices, both end with the params
    of a single-process run on the whole data."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    script = tmp_path / "host.py"
    script.write_text(HOST)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    hosts = [subprocess.Popen([sys.executable, str(script), str(i), "2", port], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = []
    for h in hosts:
        out, err = h.communicate(timeout=300)
        assert h.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    rng0 = np.random.default_rng(0)
    X = rng0.normal(size=(64, 3)); Y = np.sin(X[:, :1])
    one = sb.Trainer(sb.nn.Sequential(sb.nn.Linear(3, 8), sb.nn.Tanh(), sb.nn.Linear(8, 1)),
                     optimizer=sb.optim.Adam(lr=0.01), backend="jax", seed=0, devices=1)
    hist = one.fit(X, Y, epochs=3, batch_size=16)
    for out in outs:
        assert out["processes"] == 2 and len(out["devices"]) == 2, out["devices"]
        assert_rel(np.array(out["loss"]), np.array(hist.loss), rtol=1e-10)
        for k, v in one.params.items():
            assert_rel(np.array(out["params"][k]), v, rtol=1e-10, atol=1e-14, what=f"process {out['pid']} {k}")


def test_the_demo_and_train_commands_take_the_jax_backend(tmp_path, capsys):
    from symbackprop.cli import main
    assert main(["demo", "--backend", "jax", "--no-plot", "--epochs", "30"]) == 0
    out = capsys.readouterr().out
    assert "jax backend" in out and "XLA compiled" in out
    (tmp_path / "model.py").write_text("net = sb.nn.Sequential(sb.nn.Linear(2, 4), sb.nn.Tanh(), sb.nn.Linear(4, 1))\n")
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(20, 2)), y=rng.normal(size=20))
    assert main(["train", str(tmp_path / "model.py"), "--data", str(tmp_path / "d.npz"), "--epochs", "2",
                 "--backend", "jax", "--devices", "1", "--batch-size", "5"]) == 0
    assert "devices: 1 (cpu:0)" in capsys.readouterr().out
    assert main(["train", str(tmp_path / "model.py"), "--data", str(tmp_path / "d.npz"), "--epochs", "2",
                 "--backend", "numpy", "--devices", "2"]) == 2
    assert "--devices is for --backend jax" in capsys.readouterr().err
