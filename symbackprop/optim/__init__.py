"""Optimizers as elementwise update rules: sympy bodies over a param, its gradient and state.

Each optimizer lists ``updates``: (target, expression) pairs applied in order, each seeing the
targets updated before it, over the symbols ``p`` (param), ``g`` (gradient), ``t`` (step
number from 1), its state names and its hyperparameter names.  Every backend runs these as
fused elementwise maps; hyperparameters are runtime arguments, never baked into code.
The formulas are PyTorch's, so a model trained here and in PyTorch follows the same path.

>>> sgd = SGD(lr=0.1, momentum=0.9)
>>> [(target, str(expr)) for target, expr in sgd.updates]
[('velocity', 'g + momentum*velocity + p*weight_decay'), ('p', '-lr*velocity + p')]
"""

import numbers

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError

P, G, T = sp.symbols("p g t", real=True)


class Optimizer:
    """Base: ``hyper`` {name: value}, ``state`` names, ``updates`` [(target, sympy expr)]."""

    state = ()
    updates = ()

    def __init__(self, **hyper):
        for name, value in hyper.items():
            if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)) or not np.isfinite(value):
                raise ArgumentError(f"{type(self).__name__}: {name} must be a finite number, got {value!r}")
            if value < 0:
                raise ArgumentError(f"{type(self).__name__}: {name} must be >= 0, got {value!r}")
        self.hyper = {k: float(v) for k, v in hyper.items()}

    def symbols(self):
        """The symbols a body may use, in the order the backends pass them."""
        return [P, G, T] + [sp.Symbol(s, real=True) for s in self.state] + \
               [sp.Symbol(h, real=True) for h in self.hyper]

    def __repr__(self):
        args = ", ".join(f"{k}={v:g}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov and L2 weight decay, as
    ``torch.optim.SGD`` (dampening 0): v ← μv + g + λp; p ← p − lr·v.

    >>> SGD(lr=0.05).updates[-1]
    ('p', -g*lr - lr*p*weight_decay + p)
    """

    def __init__(self, lr=0.01, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and momentum <= 0:
            raise ArgumentError("SGD: Nesterov momentum requires momentum > 0")
        self.nesterov = nesterov
        lr_, mu, wd = (sp.Symbol(s, real=True) for s in ("lr", "momentum", "weight_decay"))
        g = G + wd * P
        if momentum > 0:
            v = sp.Symbol("velocity", real=True)
            self.state = ("velocity",)
            step = g + mu * v if nesterov else v
            self.updates = (("velocity", mu * v + g), ("p", P - lr_ * step))
        else:
            self.updates = (("p", sp.expand(P - lr_ * g)),)


class Adam(Optimizer):
    """Adam with L2 weight decay, as ``torch.optim.Adam``:
    m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − lr·(m/(1−β₁ᵗ)) / (√v/√(1−β₂ᵗ) + ε).

    >>> Adam(lr=1e-3).state
    ('m', 'v')
    """

    state = ("m", "v")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        ok = isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
            isinstance(b, numbers.Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)
        if not ok:
            raise ArgumentError(f"Adam: betas must be a pair of numbers in [0, 1), got {betas!r}")
        beta1, beta2 = betas
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
        lr_, b1, b2, eps_, wd = (sp.Symbol(s, real=True) for s in ("lr", "beta1", "beta2", "eps", "weight_decay"))
        m, v = sp.symbols("m v", real=True)
        g = G + wd * P
        self.updates = (
            ("m", b1 * m + (1 - b1) * g),
            ("v", b2 * v + (1 - b2) * g ** 2),
            ("p", P - lr_ * (m / (1 - b1 ** T)) / (sp.sqrt(v) / sp.sqrt(1 - b2 ** T) + eps_)),
        )


from symbackprop.optim import lr_scheduler  # noqa: E402  (schedules: sb.optim.lr_scheduler.StepLR, ...)
from symbackprop.optim.lr_scheduler import CosineAnnealingLR, StepLR  # noqa: E402

__all__ = ["Optimizer", "SGD", "Adam", "lr_scheduler", "StepLR", "CosineAnnealingLR"]
