"""Logistic regression: the textbook gradient xᵀ(ŷ − y)/N, derived, checked and trained.

The loss is binary cross-entropy on the logit z = x W + b. Differentiating through σ and
the log, sympy's simplification cancels σ' = σ(1 − σ) against the loss, leaving
δ = (ŷ − y)/N, the formula every textbook prints.

    python examples/logistic_regression.py
"""

import numpy as np

import symbackprop as sb

# Two Gaussian blobs, labels 0/1.
rng = np.random.default_rng(1)
n = 400
labels = rng.integers(0, 2, size=n)
X = rng.normal(size=(n, 2)) + np.where(labels[:, None] == 1, [1.5, 1.0], [-1.0, -1.5])
Y = labels[:, None].astype(np.float64)

# The model written by hand as a graph.
x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
W = sb.param("W", (2, 1)); b = sb.param("b", (1,))
L = sb.bce(x @ W + b, y)  # mean BCE on logits, stable for any |z|
g = sb.grad(L, [W, b])
print("∂L/∂W =", g[W])
print("∂L/∂b =", g[b])
print("\nas LaTeX:", g[W].latex())
print("\nthe chain:")
print(sb.explain(L, wrt=[W, b]))

# Compile loss and gradients; check them against the textbook formula in plain numpy.
f = sb.compile([L, g[W], g[b]], backend="numba")
W0, b0 = np.array([[0.3], [-0.2]]), np.array([0.1])
loss, dW, db = f(x=X, y=Y, W=W0, b=b0)
yhat = 1 / (1 + np.exp(-(X @ W0 + b0)))
assert np.allclose(dW, X.T @ (yhat - Y) / n, rtol=1e-12, atol=1e-15)
assert np.allclose(db, np.sum(yhat - Y) / n, rtol=1e-12, atol=1e-15)
print("\ncompiled gradient == xᵀ(σ(xW + b) − y)/N computed by hand: yes")

# Train with the Trainer (sb.nn.Linear holds weight as out × in, like PyTorch).
tr = sb.Trainer(sb.nn.Linear(2, 1), loss="bce", optimizer=sb.optim.SGD(lr=0.5), backend="numba", seed=0)
hist = tr.fit(X, Y, epochs=300, batch_size=n)
acc = 100 * np.mean((tr.predict(X)[:, 0] > 0) == (labels == 1))
final_loss, grads = tr.gradients(X, Y)
print(f"trained 300 epochs: loss {hist.loss[0]:.4f} -> {final_loss:.4f}, "
      f"|∂L/∂W| = {np.linalg.norm(grads['weight']):.1e}, training accuracy: {acc:.1f}%")
w = tr.params["weight"][0]
print(f"decision boundary: {w[0]:.3f}·x₁ + {w[1]:.3f}·x₂ + {tr.params['bias'][0]:.3f} = 0")
assert acc >= 95, acc
