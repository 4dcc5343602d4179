"""Two moons: the `symbackprop demo` as a script you can read and change.

A 2-16-16-1 tanh network (micrograd's demo size) learns to separate two interleaving half
circles. The script prints the backprop chain symbackprop derived, compiles the fused
training loop with numba, trains, reports accuracy and, with matplotlib installed, writes
moons.png (decision boundary and loss curve) in the current directory.

    python examples/moons.py
"""

import numpy as np

import symbackprop as sb
from symbackprop import plot
from symbackprop.datasets import two_moons

X, labels = two_moons(100, noise=0.1, seed=0)
Y = 2.0 * labels - 1  # targets -1/+1 and MSE, as micrograd's demo

net = sb.nn.Sequential(sb.nn.Linear(2, 16), sb.nn.Tanh(),
                       sb.nn.Linear(16, 16), sb.nn.Tanh(),
                       sb.nn.Linear(16, 1))
tr = sb.Trainer(net, loss="mse", optimizer=sb.optim.SGD(lr=0.05), backend="numba", seed=0)

tr.build((2,))  # builds the loss graph and derives every ∂L/∂θ symbolically
print("The derivation, one textbook step a line:")
print(sb.explain(tr.loss_expr, wrt=list(tr.param_nodes.values())))

seconds, warm = tr.compile(X, Y)
print(f"\ncompiled the training loop in {seconds:.2f} s ({'warm' if warm else 'cold'} cache)")

hist = tr.fit(X, Y, epochs=2000, batch_size=100)
print(f"loss {hist.loss[0]:.4f} -> {hist.loss[-1]:.4f} in {hist.steps} steps, "
      f"{1e6 * hist.seconds_per_step:.0f} µs/step")

accuracy = 100 * np.mean((tr.predict(X)[:, 0] > 0) == (labels == 1))
print(f"training accuracy: {accuracy:.1f}%")
assert accuracy >= 97, accuracy

if plot.available():
    plot.decision_figure("moons.png", lambda P: tr.predict(P)[:, 0], X, labels, hist.loss,
                         title=f"two moons: {accuracy:.1f}% accuracy")
    print("wrote moons.png")
else:
    print(f"(no plot: matplotlib is not installed; {plot.INSTALL_HINT})")
