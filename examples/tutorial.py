"""symbackprop's design, told as a program: graph → grad → formulas → lowering → code → training.

Each step prints what the corresponding part of the code base produces, on the smallest
model that has every part: logistic regression, ŷ = σ(x W + b), binary cross-entropy.
Read it top to bottom; the comments name the package doing the work.

    python examples/tutorial.py
"""

import numpy as np

import symbackprop as sb


def step(title):
    print(f"\n{'═' * 4} {title} {'═' * max(0, 70 - len(title))}")


# ---------------------------------------------------------------------------------------------
step("1. the graph (symbackprop/graph): immutable, interned nodes with static shapes")
x = sb.input("x", (None, 2))          # None is the batch axis: the symbol N in shapes
y = sb.input("y", (None, 1))
W = sb.param("W", (2, 1))
b = sb.param("b", (1,))
z = x @ W + b
L = sb.bce(z, y)                      # mean binary cross-entropy on the logit z
print("z:", z.describe() if hasattr(z, "describe") else z.shape)
print("building x @ W + b again gives the same node:", (x @ W + b) is z)
print("L as an SSA listing, one op a line (sigmoid, softplus, +, * are all `map`s):")
print(L.listing())

# ---------------------------------------------------------------------------------------------
step("2. gradients (symbackprop/autodiff): new graph nodes, one VJP rule per op")
g = sb.grad(L, [W, b])                # {param: Expr}; not numbers
print("∂L/∂W is a node of shape", g[W].shape, "whose listing is:")
print(g[W].listing())

# ---------------------------------------------------------------------------------------------
step("3. formulas (symbackprop/simplify, symbackprop/render): what a textbook prints")
print("print(g[W]):")
print(g[W])
print("\ng[W].latex():", g[W].latex())
print("\nsb.explain(L): the chain, each step with the forward line it comes from")
print(sb.explain(L, wrt=[W, b]))
if hasattr(sb, "expand"):  # scalar expansion of small nets
    print("\nsb.expand(g[W], sizes={'N': 1}):", sb.expand(g[W], sizes={"N": 1}))

# ---------------------------------------------------------------------------------------------
step("4. lowering (symbackprop/lower): a kernel program of buffers and steps")
from symbackprop.lower import lower, prepare  # noqa: E402

program = lower(prepare([L, g[W], g[b]]))
print("elementwise chains fused into one sympy body each; xᵀ·δ as a product with a transpose flag:")
print(program.describe())

# ---------------------------------------------------------------------------------------------
step("5. backends (codegen/): one program, several translations, one oracle")
rng = np.random.default_rng(0)
feeds = {"x": rng.normal(size=(8, 2)), "y": rng.integers(0, 2, size=(8, 1)).astype(float),
         "W": rng.normal(size=(2, 1)), "b": rng.normal(size=1)}
oracle = sb.evaluate([L, g[W], g[b]], feeds)          # node by node in numpy: no lowering at all
for backend in ("numpy", "numba"):
    f = sb.compile([L, g[W], g[b]], backend=backend)
    got = f(**feeds)
    err = max(float(np.max(np.abs(a - o))) for a, o in zip(got, oracle))
    print(f"{backend:6s} backend: loss {float(got[0]):.6f}, max |difference from the evaluator| = {err:.1e}")
    assert err < 1e-12

# ---------------------------------------------------------------------------------------------
step("6. generated code (codegen/numba_backend): the fused training loop")
tr = sb.Trainer(sb.nn.Linear(2, 1), loss="bce", optimizer=sb.optim.SGD(lr=0.5), backend="numba", seed=0)
tr.build((2,))
source = tr.export_source()
lines = source.splitlines()
print(f"{len(lines)} lines of Python for numba: gather a minibatch, forward, backward, update, "
      "for every step of every epoch. The first 45:")
print("\n".join(lines[:45]))
print("    …")

# ---------------------------------------------------------------------------------------------
step("7. training (symbackprop/train): one native call runs many epochs")
labels = rng.integers(0, 2, size=300)
X = rng.normal(size=(300, 2)) + np.where(labels[:, None] == 1, 1.5, -1.5)
seconds, warm = tr.compile(X, labels[:, None])
print(f"compiled in {seconds:.2f} s ({'warm' if warm else 'cold'} cache: the kernel is keyed by the "
      "program's structure, so the next run loads it from disk)")
hist = tr.fit(X, labels[:, None], epochs=200, batch_size=50)
acc = 100 * np.mean((tr.predict(X)[:, 0] > 0) == (labels == 1))
print(f"{hist.steps} steps in {hist.seconds * 1e3:.1f} ms ({1e6 * hist.seconds_per_step:.1f} µs/step); "
      f"loss {hist.loss[0]:.3f} -> {hist.loss[-1]:.3f}; training accuracy: {acc:.1f}%")
print("learned params (PyTorch's names):", {k: np.round(v, 3).tolist() for k, v in tr.params.items()})
assert acc >= 95
