"""``symbackprop demo``: the three jobs of symbackprop on the two-moons 2-16-16-1 tanh network.

It derives and prints the gradient formulas and the backprop chain, compiles the fused
training loop with the fastest backend available (reporting compile time and whether the
kernel cache was warm), trains with a progress bar, reports training accuracy and time per
step beside the numpy reference backend timed in the same run, and writes
``symbackprop-demo.png`` (decision boundary and loss curve) when matplotlib is installed.

>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> register(sub)
"""

import os
import time

import numpy as np

from codegen.auto import backend_help, pick_backend  # noqa: F401 (the one rule; re-exported)

#: the image the demo writes into ``--out``
PLOT_NAME = "symbackprop-demo.png"
#: epochs of the numpy reference run timed beside the compiled backend (it is ~20x slower)
REFERENCE_EPOCHS = 200


def register(subparsers):
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo", help="derive, compile and train the two-moons classifier, with formulas and a plot",
        description="Builds the 2-16-16-1 tanh network on seeded two-moons data (100 points), prints its "
                    "derived gradient formulas and the backprop chain, compiles the training loop, trains it, "
                    "reports accuracy and time per step beside the numpy reference, and writes "
                    f"{PLOT_NAME} (decision boundary and loss curve).")
    p.add_argument("--backend", default="auto", help=backend_help())
    p.add_argument("--epochs", type=int, default=2000, help="full-batch epochs (default: 2000)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the initial weights and shuffling")
    p.add_argument("--no-plot", action="store_true", help=f"do not write {PLOT_NAME}")
    p.add_argument("--out", default=".", metavar="DIR", help=f"directory for {PLOT_NAME} (default: .)")
    p.set_defaults(func=run)


def build_trainer(backend, dtype, seed):
    """The demo's network and trainer: 2-16-16-1 tanh, MSE on ±1 targets, SGD lr 0.05."""
    import symbackprop as sb
    net = sb.nn.Sequential(sb.nn.Linear(2, 16), sb.nn.Tanh(), sb.nn.Linear(16, 16), sb.nn.Tanh(),
                           sb.nn.Linear(16, 1))
    return sb.Trainer(net, loss="mse", optimizer=sb.optim.SGD(lr=0.05), backend=backend, dtype=dtype, seed=seed)


def _section(title):
    print(f"\n── {title} " + "─" * max(0, 68 - len(title)))


def _print_formulas(tr):
    """Job 1: the simplified gradient of the output and first layer, then the explain chain."""
    import symbackprop as sb
    g = tr.grad_exprs
    W3, W1 = tr.param_nodes["4.weight"], tr.param_nodes["0.weight"]
    print("print(g[W₃])  (param 4.weight, the output layer):")
    print(_indent(str(g[W3])))
    print("\nprint(g[W₁])  (param 0.weight, the first layer: the chain above, pushed back two layers):")
    print(_indent(str(g[W1]).split("\n  where")[0] + "\n  where … as above"))
    explain = getattr(sb, "explain", None)
    if explain is None:
        print("\n(sb.explain is not available in this version: no step-by-step chain)")
        return
    print("\nsb.explain(L): the backprop chain, one textbook step a line (δₖ = ∂L/∂zₖ):")
    try:
        print(_indent(str(explain(tr.loss_expr, wrt=list(tr.param_nodes.values())))))
    except Exception as e:  # a rendering gap must not stop the demo's other two jobs
        print(f"  (explain could not render this network: {type(e).__name__}: {e})")


def _indent(text, pad="  "):
    return "\n".join(pad + line for line in text.splitlines())


def _reference_step_time(X, Y, dtype, seed, epochs):
    """µs per step of the numpy reference backend on the same problem (a short timed run)."""
    ref = build_trainer("numpy", dtype, seed)
    ref.compile(X, Y)
    hist = ref.fit(X, Y, epochs=epochs, batch_size=len(X), verbose=False)
    return 1e6 * hist.seconds_per_step


def run(args):
    """Run the demo; returns 0 on success."""
    from symbackprop import plot
    from symbackprop.datasets import two_moons

    started = time.perf_counter()
    if args.epochs < 1:
        from symbackprop.errors import DataError
        raise DataError(f"--epochs must be at least 1, got {args.epochs}")
    backend, note = pick_backend(args.backend)
    X, labels = two_moons(100, noise=0.1, seed=args.seed)
    Y = 2.0 * labels - 1  # targets ±1, regression with MSE as in micrograd's demo
    print("symbackprop demo: two moons (100 points), network 2-16-16-1 tanh, MSE loss, SGD lr 0.05, "
          f"{args.dtype}")
    if note:
        print(note)

    _section("1. derive: symbolic gradients, simplified")
    t0 = time.perf_counter()
    tr = build_trainer(backend, args.dtype, args.seed)
    tr.build((2,))
    print(f"derived ∂L/∂θ for {len(tr.param_nodes)} params in {time.perf_counter() - t0:.2f} s\n")
    _print_formulas(tr)

    _section(f"2. compile: the fused training loop, {backend} backend")
    seconds, warm = tr.compile(X, Y)
    if backend == "numpy":
        print(f"numpy runs the kernel program step by step: nothing to compile ({seconds:.2f} s of setup)")
    elif backend == "jax":
        print(f"XLA compiled forward + backward + SGD update over all epochs (one lax.scan) in {seconds:.2f} s, "
              f"on {', '.join(str(d) for d in tr.devices)}")
    else:
        print(f"compiled forward + backward + SGD update over all epochs in {seconds:.2f} s "
              f"({'warm cache: loaded from disk' if warm else 'cold cache: compiled now, cached for next time'})")

    _section(f"3. train: {args.epochs} epochs, full batch")
    hist = tr.fit(X, Y, epochs=args.epochs, batch_size=len(X))
    marks = sorted({0, len(hist.loss) // 4, len(hist.loss) // 2, 3 * len(hist.loss) // 4, len(hist.loss) - 1})
    for epoch in marks:
        print(f"  epoch {epoch + 1:5d}  loss {hist.loss[epoch]:.6f}")
    us = 1e6 * hist.seconds_per_step
    print(f"trained {hist.steps} steps in {hist.seconds:.2f} s: {us:.0f} µs/step, "
          f"{hist.steps / max(hist.seconds, 1e-9):,.0f} steps/s")
    scores = tr.predict(X)[:, 0]
    accuracy = 100.0 * np.mean((scores > 0) == (labels == 1))
    print(f"training accuracy: {accuracy:.1f}%")

    if backend != "numpy":
        ref_epochs = min(args.epochs, REFERENCE_EPOCHS)
        ref_us = _reference_step_time(X, Y, args.dtype, args.seed, ref_epochs)
        print(f"time per step: {backend} {us:.0f} µs, numpy reference backend {ref_us:.0f} µs "
              f"(timed over {ref_epochs} steps in this run): {ref_us / us:.1f}× faster")

    if args.no_plot:
        pass
    elif not plot.available():
        print(f"\nno plot: matplotlib is not installed. For {PLOT_NAME}: {plot.INSTALL_HINT}")
    else:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, PLOT_NAME)
        plot.decision_figure(path, lambda P: tr.predict(P)[:, 0], X, labels, hist.loss,
                             title=f"two moons, 2-16-16-1 tanh: {accuracy:.1f}% accuracy")
        print(f"\nwrote {path} (decision boundary with the points, and the loss curve)")
    print(f"\ndone in {time.perf_counter() - started:.1f} s. Next: python examples/tutorial.py, "
          "symbackprop train --help")
    return 0
