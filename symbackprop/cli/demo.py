"""``symbackprop demo``: the two-moons 2-16-16-1 tanh network, derived, compiled and trained.

>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> register(sub)
"""

import time

import numpy as np


def register(subparsers):
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser("demo", help="train the two-moons classifier and show its gradient formulas",
                              description="Builds the 2-16-16-1 tanh network on seeded two-moons data, derives "
                                          "its gradients symbolically, trains it and reports accuracy.")
    p.add_argument("--backend", default="numba", help="code generator: numba (default) or numpy")
    p.add_argument("--epochs", type=int, default=1000, help="full-batch epochs (default: 1000)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args):
    """Run the demo; returns 0 on success."""
    import symbackprop as sb
    from symbackprop.datasets import two_moons

    X, labels = two_moons(100, noise=0.1, seed=args.seed)
    Y = 2.0 * labels - 1  # targets ±1, regression with MSE as in micrograd's demo
    net = sb.nn.Sequential(sb.nn.Linear(2, 16), sb.nn.Tanh(), sb.nn.Linear(16, 16), sb.nn.Tanh(),
                           sb.nn.Linear(16, 1))
    print("symbackprop demo: two moons, 100 points, network 2-16-16-1 tanh, MSE loss, SGD lr 0.05")
    t0 = time.perf_counter()
    tr = sb.Trainer(net, loss="mse", optimizer=sb.optim.SGD(lr=0.05), backend=args.backend, dtype=args.dtype,
                    seed=args.seed)
    tr.build((2,))
    print(f"derived ∂L/∂θ for {len(tr.param_nodes)} params in {time.perf_counter() - t0:.2f} s")
    print("\n∂L/∂(4.bias), the output layer's bias gradient:\n  " + str(tr.grad_exprs[tr.param_nodes['4.bias']]))
    seconds, warm = tr.compile(X, Y)
    print(f"\ncompiled the training loop ({args.backend} backend) in {seconds:.2f} s "
          f"({'warm cache' if warm else 'cold cache'})")
    hist = tr.fit(X, Y, epochs=args.epochs, batch_size=100)
    for epoch in sorted({0, len(hist.loss) // 4, len(hist.loss) // 2, 3 * len(hist.loss) // 4, len(hist.loss) - 1}):
        if 0 <= epoch < len(hist.loss):
            print(f"  epoch {epoch + 1:5d}  loss {hist.loss[epoch]:.6f}")
    pred = tr.predict(X)[:, 0] > 0
    accuracy = 100.0 * np.mean(pred == (labels == 1))
    print(f"trained {hist.steps} steps in {hist.seconds:.2f} s ({1e6 * hist.seconds_per_step:.0f} µs/step)")
    print(f"training accuracy: {accuracy:.1f}%")
    return 0
