"""How compile cost grows with the network: ``python benchmarks/compile_scaling.py``.

Two families, each timed in a fresh process (so nothing is warm but the operating system's
file cache):

- a width-32 tanh MLP of depth 4 … 128 (8 inputs, 1 output, MSE, SGD, batch 64 of 256
  rows): seconds from ``Trainer(...)`` to the end of one epoch, **cold** (an empty kernel
  cache directory) and **cached** (a second process on the same directory), per backend,
  beside JAX's ``jit`` of the same training loop (``lax.scan`` over minibatches, value and
  grad, SGD) measured the same way;
- an elementwise chain of ``n`` graph nodes (``v = sin(v) + v`` and ``v = tanh(v)/2 + v``
  alternately, then a sum): seconds to derive the gradient, compile the loss and gradient,
  and run them once.

For each series it prints the exponent ``k`` of the least-squares fit ``seconds ∝ depth^k``
over the depths measured (1 is linear growth).  Each process also reports its CPU
seconds: on a busy machine they say more than the wall clock.

    python benchmarks/compile_scaling.py --depths 4,8,16,32,64 --backends llvm --chain 1000,5000
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MLP = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import symbackprop as sb
depth, backend = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(256, 8)), rng.normal(size=(256, 1))
layers = [sb.nn.Linear(8, 32), sb.nn.Tanh()]
for _ in range(depth - 2):
    layers += [sb.nn.Linear(32, 32), sb.nn.Tanh()]
layers += [sb.nn.Linear(32, 1)]
start, cpu = time.perf_counter(), time.process_time()
tr = sb.Trainer(sb.nn.Sequential(*layers), loss="mse", optimizer=sb.optim.SGD(lr=0.01), backend=backend)
tr.fit(X, Y, epochs=1, batch_size=64, verbose=False)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "import": start - t0}))
"""

JAX_MLP = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import jax, jax.numpy as jnp
from jax import lax
jax.config.update("jax_enable_x64", True)
depth = int(sys.argv[1])
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(256, 8)), rng.normal(size=(256, 1))
sizes = [8] + [32] * (depth - 1) + [1]
params = [(rng.normal(size=(o, i)) / np.sqrt(i), np.zeros(o)) for i, o in zip(sizes, sizes[1:])]
start, cpu = time.perf_counter(), time.process_time()

def loss_fn(p, xb, yb):
    h = xb
    for k, (W, b) in enumerate(p):
        h = h @ W.T + b
        if k < len(p) - 1:
            h = jnp.tanh(h)
    return jnp.mean((h - yb) ** 2)

grad_fn = jax.value_and_grad(loss_fn)

def step(carry, idx):
    p, X_, Y_ = carry
    loss, g = grad_fn(p, X_[idx], Y_[idx])
    p = jax.tree_util.tree_map(lambda a, b: a - 0.01 * b, p, g)
    return (p, X_, Y_), loss

@jax.jit
def fit(p, X_, Y_, order):
    (p, _, _), losses = lax.scan(step, (p, X_, Y_), order)
    return p, losses

order = jnp.asarray(rng.permutation(256).reshape(4, 64))
p, losses = fit(params, jnp.asarray(X), jnp.asarray(Y), order)
np.asarray(losses)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "import": start - t0}))
"""

CHAIN = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import symbackprop as sb
n, backend = int(sys.argv[1]), sys.argv[2]
start, cpu = time.perf_counter(), time.process_time()
x = sb.input("x", (None, 3)); v = x
for i in range(n // 2):
    v = sb.sin(v) + v if i % 2 == 0 else sb.tanh(v) * 0.5 + v
L = sb.sum(v)
g = sb.grad(L, x)
derived = time.perf_counter()
f = sb.compile([L, g], backend=backend)
f(x=np.full((4, 3), 0.1))
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "derive": derived - start, "import": start - t0}))
"""


def run(script, args, cache, timeout):
    """One fresh process: its JSON line, or {"error": ...}."""
    env = dict(os.environ, SYMBACKPROP_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def exponent(points):
    """Least-squares slope of log(seconds) against log(size): seconds ∝ size^k."""
    pts = [(math.log(s), math.log(t)) for s, t in points if t and t > 0]
    if len(pts) < 2:
        return float("nan")
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else float("nan")


def cell(r, key="seconds"):
    return r.get("error", "") if "error" in r else f"{r[key]:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depths", default="4,8,16,32,64,128")
    ap.add_argument("--backends", default="llvm,numba")
    ap.add_argument("--chain", default="1000,5000", help="chain lengths in nodes ('' for none)")
    ap.add_argument("--chain-backends", default="numpy,llvm")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",") if d]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"compile scaling, load average {load:.2f} on {os.cpu_count()} cores; seconds (CPU seconds)")
    series = {}
    rows = [b for b in args.backends.split(",") if b]
    for backend in rows:
        for depth in depths:
            with tempfile.TemporaryDirectory() as cache:
                cold = run(MLP, [depth, backend], cache, args.timeout)
                cached = run(MLP, [depth, backend], cache, args.timeout)
            series.setdefault(f"{backend} cold", []).append((depth, cold))
            series.setdefault(f"{backend} cached", []).append((depth, cached))
            print(f"  mlp depth {depth:4d} {backend:6s} cold {cell(cold):>7} ({cell(cold, 'cpu')})  "
                  f"cached {cell(cached):>6} ({cell(cached, 'cpu')})", flush=True)
    if not args.no_jax:
        try:
            import jax  # noqa: F401
            for depth in depths:
                r = run(JAX_MLP, [depth], tempfile.gettempdir(), args.timeout)
                series.setdefault("jax jit+scan", []).append((depth, r))
                print(f"  mlp depth {depth:4d} jax    jit  {cell(r):>7} ({cell(r, 'cpu')})", flush=True)
        except ImportError:
            print("  jax: not installed (pip install jax)")
    print("\nmlp seconds by depth" + "".join(f"{d:>9}" for d in depths) + "   exponent")
    for name, pts in series.items():
        values = {d: r for d, r in pts}
        k = exponent([(d, r.get("seconds")) for d, r in pts if "error" not in r])
        print(f"  {name:18s}" + "".join(f"{cell(values[d]) if d in values else '':>9}" for d in depths) +
              f"   {k:8.2f}")
    lengths = [int(n) for n in args.chain.split(",") if n]
    if lengths:
        print("\nelementwise chain: derive + compile + one run")
        for backend in [b for b in args.chain_backends.split(",") if b]:
            pts = []
            for n in lengths:
                with tempfile.TemporaryDirectory() as cache:
                    r = run(CHAIN, [n, backend], cache, args.timeout)
                pts.append((n, r.get("seconds")) if "error" not in r else (n, None))
                derive = f", derive {r['derive']:.2f}" if "derive" in r else ""
                print(f"  {n:6d} nodes {backend:6s} {cell(r):>7} ({cell(r, 'cpu')} CPU{derive})", flush=True)
            print(f"  exponent {exponent([p for p in pts if p[1]]):.2f}")
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    sys.exit(code)
