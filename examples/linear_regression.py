"""Linear regression by gradient descent, checked against the closed-form least-squares solution.

With L = Σ(ŷ − y)²/N and ŷ = x Wᵀ + b, the gradient symbackprop derives is
∂L/∂W = δᵀ x with δ = 2(ŷ − y)/N. Setting it to zero gives the normal equations
(AᵀA) θ = Aᵀy for A = [x 1]; gradient descent must land on the same θ.

    python examples/linear_regression.py
"""

import numpy as np

import symbackprop as sb

rng = np.random.default_rng(0)
n, true_w, true_b = 200, np.array([2.0, -3.0, 0.5]), 1.25
X = rng.normal(size=(n, 3))
y = X @ true_w + true_b + 0.1 * rng.normal(size=n)

tr = sb.Trainer(sb.nn.Linear(3, 1), loss="mse", optimizer=sb.optim.SGD(lr=0.1, momentum=0.9),
                backend="numba", seed=0)
tr.build((3,))
W, b = tr.param_nodes["weight"], tr.param_nodes["bias"]
print("∂L/∂W =", tr.grad_exprs[W])
print("∂L/∂b =", tr.grad_exprs[b])

hist = tr.fit(X, y, epochs=400, batch_size=n)  # full batch: plain gradient descent with momentum
learned = np.append(tr.params["weight"][0], tr.params["bias"])

A = np.column_stack([X, np.ones(n)])
closed_form = np.linalg.solve(A.T @ A, A.T @ y)  # the normal equations

print(f"\nloss after {hist.epochs} epochs: {hist.loss[-1]:.6f}")
print("               w1         w2         w3         b")
print("true      " + "".join(f"{v:11.6f}" for v in np.append(true_w, true_b)))
print("learned   " + "".join(f"{v:11.6f}" for v in learned))
print("(AᵀA)⁻¹Aᵀy" + "".join(f"{v:11.6f}" for v in closed_form))
err = np.max(np.abs(learned - closed_form))
print(f"max |learned − closed form| = {err:.2e}")
assert err < 1e-8, err
