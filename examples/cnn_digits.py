"""A small convolutional network on 8×8 handwritten digits: the textbook CNN, its derived
gradients printed as convolutions, trained by the fused native loop, scored on held-out data.

Conv2d(1,8,3,padding=1) ReLU MaxPool2d(2) Conv2d(8,16,3,padding=1) ReLU MaxPool2d(2)
Flatten Linear(64,10), softmax cross-entropy, Adam.  Uses scikit-learn's digits when it is
installed, else the seeded synthetic stand-in of the same shape (``sb.datasets``).

    python examples/cnn_digits.py
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
    source = "a synthetic stand-in (pip install scikit-learn for the real digits)"

X = (X / 16.0).reshape(-1, 1, 8, 8)  # images: (n, channels, height, width), as PyTorch
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
split = int(0.8 * len(X))
train, test = order[:split], order[split:]
print(f"data: {source}; {len(train)} training and {len(test)} test images of shape {X.shape[1:]}")

net = sb.nn.Sequential(sb.nn.Conv2d(1, 8, 3, padding=1), sb.nn.ReLU(), sb.nn.MaxPool2d(2),
                       sb.nn.Conv2d(8, 16, 3, padding=1), sb.nn.ReLU(), sb.nn.MaxPool2d(2),
                       sb.nn.Flatten(), sb.nn.Linear(16 * 2 * 2, 10))
tr = sb.Trainer(net, loss="cross_entropy", optimizer=sb.optim.Adam(lr=0.01), backend="llvm", seed=0)
tr.build(X.shape[1:])
print("\nthe first convolution's gradient, derived (⋆ is cross-correlation, ∗ convolution):")
print(sb.explain(tr.loss_expr, wrt=[tr.param_nodes["0.weight"]]))

seconds, warm = tr.compile(X[train], labels[train])
print(f"\ncompiled in {seconds:.2f} s ({'warm' if warm else 'cold'} cache)")
hist = tr.fit(X[train], labels[train], epochs=15, batch_size=64)
print(f"trained {hist.epochs} epochs ({hist.steps} steps of 64) in {hist.seconds:.2f} s: "
      f"loss {hist.loss[0]:.3f} -> {hist.loss[-1]:.3f}")

test_acc = 100 * np.mean(np.argmax(tr.predict(X[test]), axis=1) == labels[test])
print(f"test accuracy: {test_acc:.1f}%")
assert test_acc >= 90, test_acc
