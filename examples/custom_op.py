"""A custom activation in one sympy line: derived by sympy.diff, printed, compiled, trained.

Swish (x·σ(x), also called SiLU) is not built in. ``sb.elementwise`` turns a scalar sympy
function into a graph function; its derivative comes from ``sympy.diff``, its code from the
backends' scalar printers, so autodiff and codegen never learn about it.

    python examples/custom_op.py
"""

import numpy as np
import sympy as sp

import symbackprop as sb
from symbackprop.datasets import two_moons

swish = sb.elementwise(lambda u: u * sb.scalar.sigmoid(u), name="swish")   # the one line

u = sp.Symbol("u", real=True)
body = swish.body(u)  # the sympy Lambda applied to a symbol
print("swish(u)  =", body)
print("swish'(u) =", sp.diff(body, u), "   (sympy.diff)")

# Use it in a graph: the derivative appears in the backprop chain.
x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
W1 = sb.param("W1", (2, 8)); b1 = sb.param("b1", (8,)); W2 = sb.param("W2", (8, 1))
h = sb.name(swish(x @ W1 + b1), "h")
L = sb.mean((h @ W2 - y) ** 2)
g = sb.grad(L, [W1, b1, W2])
print("\n" + str(sb.explain(L, wrt=[W1, W2])))

# Compile loss and gradients with numba and check them against finite differences.
rng = np.random.default_rng(0)
feeds = {"x": rng.normal(size=(32, 2)), "y": rng.normal(size=(32, 1)),
         "W1": rng.normal(size=(2, 8)), "b1": rng.normal(size=8), "W2": rng.normal(size=(8, 1))}
f = sb.compile([L, g[W1], g[b1], g[W2]], backend="numba")
loss, dW1, db1, dW2 = f(**feeds)
for name, got in (("W1", dW1), ("b1", db1), ("W2", dW2)):
    fd = np.zeros_like(feeds[name])
    for i in np.ndindex(fd.shape):
        step = np.zeros_like(fd); step[i] = 1e-6
        up = sb.evaluate([L], {**feeds, name: feeds[name] + step})[0]
        down = sb.evaluate([L], {**feeds, name: feeds[name] - step})[0]
        fd[i] = (up - down) / 2e-6
    err = np.max(np.abs(got - fd)) / np.max(np.abs(fd))
    print(f"∂L/∂{name}: compiled (numba) vs finite differences, relative error {err:.1e}")
    assert err < 1e-6, (name, err)


# As a layer: an Activation subclass names the function; the rest of sb.nn works unchanged.
# (Trained on the numpy reference backend: 400 small steps take less than numba's first compile.)
class Swish(sb.nn.Activation):
    function = staticmethod(swish)


X, labels = two_moons(100, seed=0)
net = sb.nn.Sequential(sb.nn.Linear(2, 16), Swish(), sb.nn.Linear(16, 2))
tr = sb.Trainer(net, loss="cross_entropy", optimizer=sb.optim.Adam(lr=0.02), backend="numpy", seed=0)
hist = tr.fit(X, labels, epochs=400, batch_size=100)
acc = 100 * np.mean(np.argmax(tr.predict(X), axis=1) == labels)
print(f"\n2-16-2 Swish network on two moons: loss {hist.loss[0]:.3f} -> {hist.loss[-1]:.3f}, "
      f"training accuracy: {acc:.1f}%")
assert acc >= 95, acc
