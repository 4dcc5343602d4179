"""XOR: the smallest problem a linear model cannot solve, and a 2-4-1 network that can.

The output is a logit trained with binary cross-entropy (``loss="bce"``, PyTorch's
BCEWithLogitsLoss); symbackprop simplifies σ' and the log of the loss together, so the
output layer's error comes out as the textbook's δ = (ŷ − y)/N.

    python examples/xor.py
"""

import numpy as np

import symbackprop as sb
from symbackprop.datasets import xor

X, labels = xor(200, noise=0.15, seed=0)
Y = labels.astype(np.float64)

# First, a linear model: the best it can do on XOR is about chance.
linear = sb.Trainer(sb.nn.Linear(2, 1), loss="bce", optimizer=sb.optim.Adam(lr=0.05), backend="numpy", seed=0)
linear.fit(X, Y, epochs=300, batch_size=200)
linear_acc = 100 * np.mean((linear.predict(X)[:, 0] > 0) == (labels == 1))
print(f"linear model (no hidden layer): accuracy {linear_acc:.1f}%")

# Then one hidden layer of 4 tanh units.
net = sb.nn.Sequential(sb.nn.Linear(2, 4), sb.nn.Tanh(), sb.nn.Linear(4, 1))
tr = sb.Trainer(net, loss="bce", optimizer=sb.optim.Adam(lr=0.05), backend="numba", seed=0)
tr.build((2,))
print("\nthe 2-4-1 network's derivation:")
print(sb.explain(tr.loss_expr, wrt=list(tr.param_nodes.values())))

hist = tr.fit(X, Y, epochs=300, batch_size=200)
probs = 1 / (1 + np.exp(-tr.predict(X)[:, 0]))  # the net outputs logits
acc = 100 * np.mean((probs > 0.5) == (labels == 1))
print(f"\n2-4-1 tanh network: loss {hist.loss[0]:.3f} -> {hist.loss[-1]:.3f}, training accuracy: {acc:.1f}%")
corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
for (a, b), p in zip(corners, 1 / (1 + np.exp(-tr.predict(corners)[:, 0]))):
    print(f"  xor({a:.0f}, {b:.0f}) = {int(a) ^ int(b)}   network: P(1) = {p:.3f}")
assert linear_acc < 80 and acc >= 97, (linear_acc, acc)
