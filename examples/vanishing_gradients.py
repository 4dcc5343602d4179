"""Vanishing gradients: why a deep sigmoid network does not learn, seen in the derived
formulas and in the gradient norms recorded while it trains.

Ten Linear layers with sigmoids between them, and the same network with ReLUs, with
BatchNorm after each hidden layer, and with residual blocks, are trained on the same data
(two moons) with the same optimizer.  The script prints

- the δ recursion ``sb.explain`` derives: every layer back multiplies δ by a₍ₖ₎ ⊙ (1 − a₍ₖ₎)
  = σ'(z₍ₖ₎) ≤ 1/4, so the first layer's δ carries a product of nine such factors;
- each layer's gradient norm (``History.grad_norms``, recorded inside the training loop):
  the sigmoid net's first layer gets many orders of magnitude less gradient than its last
  (asserted), the ReLU net's far more;
- the training curves: the sigmoid net stays at chance, the ReLU net learns.

With matplotlib installed it writes gradient_flow_<variant>.png (``sb.plot.gradient_flow``)
and vanishing_gradients.png (per-layer norms and loss curves of all variants).

    python examples/vanishing_gradients.py          # numpy backend: no compile time
    python examples/vanishing_gradients.py llvm     # the compiled fused loop (same results up to rounding)
"""

import sys

import numpy as np

import symbackprop as sb
from symbackprop.datasets import two_moons

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "numpy"
DEPTH, WIDTH = 10, 32  # ten Linear layers, nine activations
EPOCHS, BATCH = 200, 50

X, labels = two_moons(200, noise=0.1, seed=0)


def mlp(activation, norm=None):
    """DEPTH Linear layers of WIDTH units with ``activation`` between them (and a ``norm``
    layer class, e.g. sb.nn.BatchNorm1d, after each hidden Linear when given)."""
    layers, d = [], X.shape[1]
    for _ in range(DEPTH - 1):
        layers.append(sb.nn.Linear(d, WIDTH))
        if norm is not None:
            layers.append(norm(WIDTH))
        layers.append(activation())
        d = WIDTH
    return sb.nn.Sequential(*layers, sb.nn.Linear(d, 2))


class ResidualMLP(sb.nn.Module):
    """The same ten Linear layers, the middle eight as residual blocks h ← h + σ(h W + b): δ
    passes each block's skip unchanged (``δ = δ_out + …``), so it reaches the first layer."""

    def __init__(self, activation):
        super().__init__()
        self.inp = sb.nn.Linear(X.shape[1], WIDTH)
        self.blocks = sb.nn.ModuleList([sb.nn.Linear(WIDTH, WIDTH) for _ in range(DEPTH - 2)])
        self.act = activation()
        self.out = sb.nn.Linear(WIDTH, 2)

    def forward(self, x):
        h = self.act(self.inp(x))
        for block in self.blocks:
            h = h + self.act(block(h))
        return self.out(h)


#: name -> a function making the network; every variant trains on the same data, with the same
#: optimizer and seed.  More cures go here in a line each.
VARIANTS = {
    "sigmoid": lambda: mlp(sb.nn.Sigmoid),
    "relu": lambda: mlp(sb.nn.ReLU),
    "sigmoid + BatchNorm": lambda: mlp(sb.nn.Sigmoid, norm=sb.nn.BatchNorm1d),
    "sigmoid + residual": lambda: ResidualMLP(sb.nn.Sigmoid),
}


def weights(hist, linear):
    """The gradient norms of the Linear layers' weights (names ``linear``), input side first."""
    return [np.asarray(hist.grad_norms[k]) for k in linear]


results = {}
for name, make in VARIANTS.items():
    tr = sb.Trainer(make(), loss="cross_entropy", optimizer=sb.optim.SGD(lr=0.1, momentum=0.9), backend=BACKEND,
                    seed=0)
    if name == "sigmoid":
        tr.build(X.shape[1:])
        first = tr.param_nodes["0.weight"]
        print(f"The δ recursion of the {DEPTH}-layer sigmoid network (sb.explain, ∂L/∂W₁):")
        lines = str(sb.explain(tr.loss_expr, wrt=first)).splitlines()
        print("\n".join(line for line in lines if line.startswith(("δ", "∂L/∂W"))))
        print("Each step back multiplies by a ⊙ (1 − a) = σ'(z) ≤ 1/4: δ₁ carries "
              f"{DEPTH - 1} such factors, (1/4)^{DEPTH - 1} = {0.25 ** (DEPTH - 1):.1e} at best.\n")
    hist = tr.fit(X, labels, epochs=EPOCHS, batch_size=BATCH)
    accuracy = 100 * np.mean(np.argmax(tr.predict(X), axis=1) == labels)
    linear = [k for k, v in tr.params.items() if v.ndim == 2]  # Linear weights (BatchNorm's are vectors)
    results[name] = hist, accuracy, linear

print("Gradient norm of each Linear layer's weight in the first epoch (mean over its steps):")
print("  layer  " + "".join(f"{name:>22s}" for name in results))
for k in range(DEPTH):
    print(f"  {k + 1:5d}  " + "".join(f"{weights(h, lin)[k][0]:22.2e}" for h, _, lin in results.values()))
ratios = {name: weights(h, lin)[0][0] / weights(h, lin)[-1][0] for name, (h, _, lin) in results.items()}
print("  first/last" + "".join(f"{r:20.1e}  " for r in ratios.values()))

print("\nTraining (cross-entropy, SGD with momentum, same data and seed):")
for name, (hist, accuracy, _) in results.items():
    curve = hist.loss
    print(f"  {name:>22s}: loss {curve[0]:.4f} -> {curve[EPOCHS // 2]:.4f} -> {curve[-1]:.4f}, "
          f"training accuracy {accuracy:.1f}%")

# the claims: the sigmoid net's first layer gets orders of magnitude less gradient than its last
# (and learns nothing); the ReLU net's gradient reaches its first layer and it learns
assert ratios["sigmoid"] < 1e-6, ratios
assert ratios["relu"] > 1e3 * ratios["sigmoid"], ratios
for cure in ("sigmoid + BatchNorm", "sigmoid + residual"):  # each cure brings the gradient back
    assert ratios[cure] > 1e3 * ratios["sigmoid"], ratios
assert results["sigmoid"][1] < 75 and results["relu"][1] >= 97, {k: a for k, (_, a, _) in results.items()}
print(f"\nthe sigmoid net's first layer gets {1 / ratios['sigmoid']:.1e} times less gradient than its last; "
      f"the ReLU net's {1 / ratios['relu']:.1e} times")

if sb.plot.available():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for name, (hist, _, _) in results.items():
        key = "".join(ch if ch.isalnum() else "_" for ch in name)
        sb.plot.gradient_flow(hist, f"gradient_flow_{key}.png", title=f"gradient flow: {name}")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (hist, _, linear) in results.items():
        ax.semilogy(np.arange(1, DEPTH + 1), [v[0] for v in weights(hist, linear)], "o-", label=name)
        bx.plot(np.arange(1, EPOCHS + 1), hist.loss, label=name)
    ax.set(xlabel="layer (input side first)", ylabel="‖∂L/∂W‖ in the first epoch", title="gradient per layer")
    bx.set(xlabel="epoch", ylabel="training loss", title="training curves")
    ax.legend()
    bx.legend()
    fig.tight_layout()
    fig.savefig("vanishing_gradients.png", dpi=100)
    plt.close(fig)
    print("wrote vanishing_gradients.png and gradient_flow_*.png")
