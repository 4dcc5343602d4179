"""Exploding gradients, and gradient clipping as the cure.

A 1-32-32-1 ReLU network fits y = 20·sin(x) + x² with SGD (momentum 0.9) at a learning rate
too large for it: the first steps, on a loss in the hundreds, make the weights larger, which
makes the gradients larger, and within a few epochs the loss is inf — ``fit`` stops with
``TrainingDiverged`` naming the epoch and step.  The same run with
``clip_grad_norm=1.0`` (the total gradient norm over all params scaled down to at most 1
before each update, as ``torch.nn.utils.clip_grad_norm_``, inside the fused loop) converges.

    python examples/exploding_gradients.py          # numpy backend: no compile time
    python examples/exploding_gradients.py llvm     # the compiled fused loop (same outcome)
"""

import sys

import numpy as np

import symbackprop as sb

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "numpy"
LR, MAX_NORM, EPOCHS, BATCH = 0.03, 1.0, 300, 32

rng = np.random.default_rng(0)
X = rng.uniform(-3, 3, size=(256, 1))
Y = 20 * np.sin(X) + X ** 2
print(f"data: 256 points of y = 20·sin(x) + x², variance {Y.var():.1f}; SGD(lr={LR}, momentum=0.9)")


def trainer(**options):
    net = sb.nn.Sequential(sb.nn.Linear(1, 32), sb.nn.ReLU(), sb.nn.Linear(32, 32), sb.nn.ReLU(),
                           sb.nn.Linear(32, 1))
    return sb.Trainer(net, loss="mse", optimizer=sb.optim.SGD(lr=LR, momentum=0.9), backend=BACKEND, seed=0,
                      **options)


# without clipping: one epoch at a time, to watch the gradient norms grow until the loss overflows
print("\nwithout clipping:")
tr = trainer()
diverged = None
for epoch in range(EPOCHS):
    try:
        hist = tr.fit(X, Y, epochs=1, batch_size=BATCH)
    except sb.TrainingDiverged as e:
        diverged = e
        break
    largest = max(v[0] for v in hist.grad_norms.values())
    print(f"  epoch {epoch + 1}: loss {hist.loss[0]:12.5g}, largest param gradient norm {largest:12.5g}")
assert diverged is not None and epoch < 10, "expected the unclipped run to diverge within 10 epochs"
print(f"  epoch {epoch + 1}: {diverged}")

print(f"\nwith clip_grad_norm={MAX_NORM}:")
tr = trainer(clip_grad_norm=MAX_NORM)
hist = tr.fit(X, Y, epochs=EPOCHS, batch_size=BATCH)
for epoch in sorted({0, 1, 2, 9, EPOCHS // 2, EPOCHS - 1}):
    largest = max(v[epoch] for v in hist.grad_norms.values())
    print(f"  epoch {epoch + 1:3d}: loss {hist.loss[epoch]:10.5g}, largest param gradient norm (before clipping) "
          f"{largest:10.5g}")
fit_mse = float(np.mean((tr.predict(X) - Y) ** 2))
print(f"converged: training MSE {fit_mse:.4f} (the data's variance is {Y.var():.1f})")
assert fit_mse < 0.01 * Y.var(), fit_mse
