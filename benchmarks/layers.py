#!/usr/bin/env python
"""Convolution and recurrence benchmarks: ``python benchmarks/layers.py`` (also
``symbackprop bench --workloads W4,W5`` forwards here).

- **W4**: LeNet-like on 28×28 images — Conv2d(1,8,3) ReLU MaxPool2d(2) Conv2d(8,16,3) ReLU
  MaxPool2d(2) Flatten Linear(400,10), softmax cross-entropy, SGD, batch 64;
- **W5**: RNN(16→64, tanh) over T=32 steps, then Linear(64,1) on the last state, MSE
  sequence regression, SGD, batch 64.

For each workload and dtype it measures in this one process, interleaved round by round (so
the machine's drift hits everyone alike), the time per training step of symbackprop's
``Trainer.fit`` on each backend, of PyTorch eager (the textbook ``zero_grad``/``backward``/
``step`` loop) and of JAX (``jit`` of a ``lax.scan`` over an epoch's minibatches) when they
are installed.  Every implementation starts from the same params and visits the same
minibatches; medians are printed with ratios against the best peer.  No baseline is
required: a missing library is reported and skipped.
"""

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

STEPS = 10  # minibatches per epoch


def lenet():
    import symbackprop as sb
    return sb.nn.Sequential(sb.nn.Conv2d(1, 8, 3), sb.nn.ReLU(), sb.nn.MaxPool2d(2), sb.nn.Conv2d(8, 16, 3),
                            sb.nn.ReLU(), sb.nn.MaxPool2d(2), sb.nn.Flatten(), sb.nn.Linear(400, 10))


class RNNRegressor:
    """RNN(16→64) then Linear(64, 1) on the last state (a Module of its own)."""

    def __new__(cls):
        import symbackprop as sb

        class Net(sb.nn.Module):
            def __init__(self):
                self.rnn, self.head = sb.nn.RNN(16, 64), sb.nn.Linear(64, 1)

            def parameter_shapes(self, prefix=""):
                return self.rnn.parameter_shapes(prefix + "rnn.") + self.head.parameter_shapes(prefix + "head.")

            def _init(self, rng, prefix):
                yield from self.rnn._init(rng, prefix + "rnn.")
                yield from self.head._init(rng, prefix + "head.")

            def build(self, x, prefix=""):
                return self.head.build(self.rnn.build(x, prefix + "rnn.")[:, -1], prefix + "head.")

        return Net()


WORKLOADS = {
    "W4": dict(title="W4 LeNet 28×28: Conv2d(1,8,3) ReLU MaxPool2d(2) Conv2d(8,16,3) ReLU MaxPool2d(2) "
                     "Flatten Linear(400,10), softmax-CE, batch 64", net=lenet, loss="cross_entropy", lr=0.05,
               batch=64, epochs=2),
    "W5": dict(title="W5 RNN(16→64, T=32) + Linear(64,1), MSE, batch 64", net=RNNRegressor, loss="mse", lr=0.01,
               batch=64, epochs=2),
}


def data(key, dtype):
    rng = np.random.default_rng(4 if key == "W4" else 5)
    n = 64 * STEPS
    if key == "W4":  # blurred random strokes; labels from a random linear teacher
        X = rng.normal(size=(n, 1, 28, 28))
        teacher = rng.normal(size=(28 * 28, 10))
        Y = np.argmax(X.reshape(n, -1) @ teacher, axis=1)
        return X.astype(dtype), Y.astype(np.int64)
    X = rng.normal(size=(n, 32, 16))
    Y = np.tanh(X[:, -8:, :4].sum(axis=(1, 2)) / 4)[:, None]
    return X.astype(dtype), Y.astype(dtype)


# ---- peers --------------------------------------------------------------------------------
def torch_impl(key, dtype, params, X, Y, rng, threads):
    import torch
    torch.set_num_threads(threads)
    td = {"float64": torch.float64, "float32": torch.float32}[dtype]
    if key == "W4":
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Flatten(), torch.nn.Linear(400, 10)).to(td)
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn, self.head = torch.nn.RNN(16, 64, batch_first=True), torch.nn.Linear(64, 1)

            def forward(self, x):
                return self.head(self.rnn(x)[0][:, -1])
        model = Net().to(td)
        loss_fn = torch.nn.MSELoss()
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(torch.from_numpy(np.asarray(params[k], dtype)))
    opt = torch.optim.SGD(model.parameters(), lr=WORKLOADS[key]["lr"])
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    bs = WORKLOADS[key]["batch"]

    def fit(epochs):
        for _ in range(epochs):
            perm = torch.from_numpy(rng.permutation(len(X)))
            for s in range(0, len(X), bs):
                idx = perm[s:s + bs]
                loss = loss_fn(model(Xt.index_select(0, idx)), Yt.index_select(0, idx))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return float(loss.detach())
    return fit


def jax_impl(key, dtype, params, X, Y, rng, threads):
    import jax
    import jax.numpy as jnp
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    lr, bs = WORKLOADS[key]["lr"], WORKLOADS[key]["batch"]
    p0 = {k: jnp.asarray(v, dtype) for k, v in params.items()}

    def forward(p, x):
        if key == "W4":
            dn = ("NCHW", "OIHW", "NCHW")
            h = x
            for i in ("0", "3"):
                h = jax.lax.conv_general_dilated(h, p[f"{i}.weight"], (1, 1), "VALID", dimension_numbers=dn)
                h = jax.nn.relu(h + p[f"{i}.bias"][None, :, None, None])
                h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            return h.reshape(h.shape[0], -1) @ p["7.weight"].T + p["7.bias"]

        def cell(h, xt):
            h = jnp.tanh(xt @ p["rnn.weight_ih_l0"].T + p["rnn.bias_ih_l0"] + h @ p["rnn.weight_hh_l0"].T
                         + p["rnn.bias_hh_l0"])
            return h, None
        h, _ = jax.lax.scan(cell, jnp.zeros((x.shape[0], 64), x.dtype), jnp.swapaxes(x, 0, 1))
        return h @ p["head.weight"].T + p["head.bias"]

    def loss_fn(p, x, y):
        out = forward(p, x)
        if key == "W4":
            return jnp.mean(jax.nn.logsumexp(out, axis=1) - jnp.take_along_axis(out, y[:, None], axis=1)[:, 0])
        return jnp.mean((out - y) ** 2)

    @jax.jit
    def epoch(p, xb, yb):
        def step(p, batch):
            loss, g = jax.value_and_grad(loss_fn)(p, *batch)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), loss
        return jax.lax.scan(step, p, (xb, yb))

    state = {"p": p0}

    def fit(epochs):
        for _ in range(epochs):
            perm = rng.permutation(len(X))
            xb = jnp.asarray(X[perm].reshape((STEPS, bs) + X.shape[1:]))
            yb = jnp.asarray(Y[perm].reshape((STEPS, bs) + Y.shape[1:]))
            state["p"], losses = epoch(state["p"], xb, yb)
        return float(losses[-1])
    return fit


def ours(key, dtype, backend):
    import symbackprop as sb
    w = WORKLOADS[key]
    tr = sb.Trainer(w["net"](), loss=w["loss"], optimizer=sb.optim.SGD(lr=w["lr"]), backend=backend, dtype=dtype,
                    seed=0)
    return tr


def run(keys, dtypes, backends, peers, repeats, threads, log=print):
    from benchmarks.threads import limit
    limit(threads)
    results = {}
    for key in keys:
        w = WORKLOADS[key]
        for dtype in dtypes:
            X, Y = data(key, dtype)
            impls = {}
            t0 = time.perf_counter()
            for backend in backends:
                tr = ours(key, dtype, backend)
                params = tr.params
                rng = copy.deepcopy(tr._rng)
                tr.fit(X, Y, epochs=1, batch_size=w["batch"], verbose=False)  # compiles
                impls[f"symbackprop {backend}"] = (lambda tr=tr: tr.fit(X, Y, epochs=w["epochs"], batch_size=w["batch"],
                                                                        verbose=False))
            log(f"{key} {dtype}: compiled {', '.join(backends)} in {time.perf_counter() - t0:.1f} s")
            for peer in peers:
                try:
                    make = {"torch": torch_impl, "jax": jax_impl}[peer]
                    fit = make(key, dtype, params, X, Y, copy.deepcopy(rng), threads)
                    fit(1)  # warm up (JAX compiles)
                    impls[{"torch": "PyTorch eager", "jax": "JAX jit+scan"}[peer]] = \
                        (lambda fit=fit: fit(w["epochs"]))
                except ImportError as e:
                    log(f"{key} {dtype}: {peer} skipped ({e})")
            times = {name: [] for name in impls}
            for _ in range(repeats):
                for name, fit in impls.items():
                    t = time.perf_counter()
                    fit()
                    times[name].append((time.perf_counter() - t) / (w["epochs"] * STEPS))
            results[(key, dtype)] = {name: statistics.median(v) for name, v in times.items()}
            log(table(key, dtype, results[(key, dtype)]))
    return results


def table(key, dtype, medians):
    peers = {k: v for k, v in medians.items() if not k.startswith("symbackprop")}
    best = min(peers.values()) if peers else None
    lines = [f"\n{WORKLOADS[key]['title']} — {dtype}, median time per step"]
    for name, t in sorted(medians.items(), key=lambda kv: kv[1]):
        ratio = f"   {best / t:5.2f}× the best peer's speed" if best and name.startswith("symbackprop") else ""
        lines.append(f"  {name:<22} {t * 1e3:9.3f} ms{ratio}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default="W4,W5")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--backends", default="llvm,numba")
    ap.add_argument("--peers", default="torch,jax")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="threads for every implementation (default 1)")
    a = ap.parse_args(argv)
    split = lambda s: [t for t in s.split(",") if t and t != "none"]  # noqa: E731
    run(split(a.workloads), split(a.dtypes), split(a.backends), split(a.peers), a.repeats, a.threads)


if __name__ == "__main__":
    main()
