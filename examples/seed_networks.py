"""The two networks backprop tutorials work through by hand, derived here and checked.

1. The 2-3-1 sigmoid network of the "Neural Networks Demystified" series: inputs (hours of
   sleep, hours of study), a test score out, no biases, sigmoid in both layers, and the cost
   J = ½ Σ (y − ŷ)². The tutorial derives
       δ₃ = −(y − ŷ) ⊙ σ'(z₃),   ∂J/∂W₂ = a₂ᵀ δ₃,
       δ₂ = δ₃ W₂ᵀ ⊙ σ'(z₂),     ∂J/∂W₁ = xᵀ δ₂.
2. A 2-4-4-1 ReLU network with biases and mean squared error, the usual "deeper" example.

For each: the formulas symbackprop prints, then its compiled gradients against central
finite differences of the loss (and, for the first, against the tutorial's formulas).

    python examples/seed_networks.py
"""

import numpy as np

import symbackprop as sb


def finite_differences(loss, feeds, name, h=1e-6):
    """∂loss/∂feeds[name] by central differences of the direct evaluator, one element at a time."""
    value = feeds[name]
    grad = np.zeros_like(value)
    for i in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (sb.evaluate([loss], {**feeds, name: up})[0] - sb.evaluate([loss], {**feeds, name: down})[0]) / (2 * h)
    return grad


def relative_error(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


# ---- 1. the 2-3-1 sigmoid network ----------------------------------------------------------
print("1. 2-3-1 sigmoid network, J = ½ Σ (y − ŷ)²")
X = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]]) / 10   # hours of sleep, study (scaled)
Y = np.array([[75.0], [82.0], [93.0]]) / 100               # test score (scaled)

x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
W1 = sb.param("W1", (2, 3)); W2 = sb.param("W2", (3, 1))
z2 = sb.name(x @ W1, "z_2")        # the tutorial's names: the input is layer 1
a2 = sb.name(sb.sigmoid(z2), "a_2")
z3 = sb.name(a2 @ W2, "z_3")
yhat = sb.sigmoid(z3)
J = sb.sum((y - yhat) ** 2) / 2
g = sb.grad(J, [W1, W2])
print("∂J/∂W₂ =", g[W2])
print("∂J/∂W₁ =", g[W1])
print(sb.explain(J, wrt=[W1, W2]))
print("(ŷ ⊙ (ŷ − 1) is −σ'(z₃): the tutorial's −(y − ŷ) ⊙ σ'(z₃), with σ' written through forward values)")

rng = np.random.default_rng(0)
params = {"W1": rng.normal(size=(2, 3)), "W2": rng.normal(size=(3, 1))}
f = sb.compile([g[W1], g[W2]], backend="numba")
dW1, dW2 = f(x=X, y=Y, **params)

feeds = {"x": X, "y": Y, **params}
for name, got in (("W1", dW1), ("W2", dW2)):
    err = relative_error(got, finite_differences(J, feeds, name))
    print(f"  ∂J/∂{name}: compiled vs finite differences, relative error {err:.1e}")
    assert err < 1e-7, (name, err)

sig = lambda z: 1 / (1 + np.exp(-z))                       # the tutorial's formulas, by hand
a2v = sig(X @ params["W1"]); yh = sig(a2v @ params["W2"])
delta3 = -(Y - yh) * yh * (1 - yh)
delta2 = (delta3 @ params["W2"].T) * a2v * (1 - a2v)
assert np.allclose(dW2, a2v.T @ delta3, rtol=1e-12) and np.allclose(dW1, X.T @ delta2, rtol=1e-12)
print("  compiled gradients equal the tutorial's a₂ᵀδ₃ and xᵀδ₂: yes")

# ---- 2. the 2-4-4-1 ReLU network -----------------------------------------------------------
print("\n2. 2-4-4-1 ReLU network, mean squared error")
net = sb.nn.Sequential(sb.nn.Linear(2, 4), sb.nn.ReLU(), sb.nn.Linear(4, 4), sb.nn.ReLU(), sb.nn.Linear(4, 1))
tr = sb.Trainer(net, loss="mse", backend="numba", seed=1)
tr.build((2,))
print(sb.explain(tr.loss_expr, wrt=list(tr.param_nodes.values())))

X = rng.normal(size=(16, 2))
Y = np.sin(X[:, :1]) + X[:, 1:] ** 2
loss, grads = tr.gradients(X, Y)
feeds = {"x": X, "y": Y, **tr.params}
for name, got in grads.items():
    err = relative_error(got, finite_differences(tr.loss_expr, feeds, name))
    print(f"  ∂L/∂({name}): compiled vs finite differences, relative error {err:.1e}")
    assert err < 1e-6, (name, err)
print("all gradients agree with finite differences")
