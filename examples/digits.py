"""Handwritten digits: a 64-32-10 classifier with softmax cross-entropy, scored on held-out data.

Uses scikit-learn's 8×8 digits (1,797 images, 0–16 gray levels) when scikit-learn is
installed; otherwise a seeded synthetic stand-in of the same shape: 5×7 font glyphs placed
at random offsets in an 8×8 frame, with stroke-intensity jitter and noise. Either way the
script reports accuracy on a test split the network never trained on.

    python examples/digits.py
"""

import numpy as np

import symbackprop as sb
from symbackprop.datasets import synthetic_digits

try:
    from sklearn.datasets import load_digits
    digits = load_digits()
    X, labels, source = digits.data, digits.target, "scikit-learn's 8×8 handwritten digits"
except ImportError:
    X, labels = synthetic_digits()
    source = "a synthetic stand-in (scikit-learn is not installed: pip install scikit-learn for the real digits)"

X = X / 16.0
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
split = int(0.8 * len(X))
train, test = order[:split], order[split:]
print(f"data: {source}; {len(train)} training and {len(test)} test images")

net = sb.nn.Sequential(sb.nn.Linear(64, 32), sb.nn.Tanh(), sb.nn.Linear(32, 10))
tr = sb.Trainer(net, loss="cross_entropy", optimizer=sb.optim.Adam(lr=0.01), backend="numba", seed=0)
tr.build((64,))
print("softmax + cross-entropy simplify to δ = (softmax(z) − onehot(y))/N:")
print(sb.explain(tr.loss_expr, wrt=[tr.param_nodes["2.weight"]]))

seconds, warm = tr.compile(X[train], labels[train])
print(f"\ncompiled in {seconds:.2f} s ({'warm' if warm else 'cold'} cache)")
hist = tr.fit(X[train], labels[train], epochs=40, batch_size=64)
print(f"trained {hist.epochs} epochs ({hist.steps} steps of 64) in {hist.seconds:.2f} s: "
      f"loss {hist.loss[0]:.3f} -> {hist.loss[-1]:.3f}")

train_acc = 100 * np.mean(np.argmax(tr.predict(X[train]), axis=1) == labels[train])
test_acc = 100 * np.mean(np.argmax(tr.predict(X[test]), axis=1) == labels[test])
print(f"training accuracy: {train_acc:.1f}%")
print(f"test accuracy: {test_acc:.1f}%")
assert test_acc >= 90, test_acc
