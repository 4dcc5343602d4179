"""Learning-rate schedules with the semantics of ``torch.optim.lr_scheduler``, advanced once
per epoch inside the fused training loop.

A schedule is a formula of the epoch number e (0 for the first epoch, counted over every
``fit`` of a Trainer, as PyTorch counts ``scheduler.step()`` calls made once after each
epoch) and the optimizer's base ``lr``.  It is substituted for ``lr`` in the optimizer's
update rules, so the compiled loop computes the epoch's rate itself; its parameters are
runtime values, never baked into code.

>>> s = StepLR(step_size=2, gamma=0.5)
>>> [s.value(0.1, e) for e in range(5)]
[0.1, 0.1, 0.05, 0.05, 0.025]
>>> c = CosineAnnealingLR(T_max=4, eta_min=0.0)
>>> [round(c.value(1.0, e), 4) for e in range(5)]
[1.0, 0.8536, 0.5, 0.1464, 0.0]
>>> print(s.lr(sp.Symbol("lr"), sp.Symbol("epoch")))
lr*lr_gamma**floor(epoch/lr_step_size)
"""

import math
import numbers

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError


def _number(owner, name, value, minimum, strict, integer=False):
    kind = numbers.Integral if integer else numbers.Real
    if not isinstance(value, kind) or isinstance(value, (bool, np.bool_)) or not np.isfinite(value):
        what = "an integer" if integer else "a finite number"
        raise ArgumentError(f"{owner}: {name} must be {what}, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise ArgumentError(f"{owner}: {name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return int(value) if integer else float(value)


class LRScheduler:
    """Base: ``hyper`` {symbol name: value} (the schedule's parameters, runtime values of the
    compiled loop), ``lr(base, epoch)`` the sympy formula, ``value(base, epoch)`` a number."""

    hyper = {}

    def lr(self, base, epoch):
        raise NotImplementedError

    def value(self, base_lr, epoch):
        """The learning rate of epoch ``epoch`` (from 0) for the base rate ``base_lr``."""
        symbols = {sp.Symbol(k, real=True): v for k, v in self.hyper.items()}
        b, e = sp.symbols("lr epoch", real=True)
        return float(self.lr(b, e).xreplace({b: base_lr, e: epoch, **symbols}).evalf(17))

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._args)
        return f"{type(self).__name__}({args})"


class StepLR(LRScheduler):
    """``torch.optim.lr_scheduler.StepLR``: the rate is multiplied by ``gamma`` every
    ``step_size`` epochs: lr_e = lr · gamma^⌊e / step_size⌋."""

    _args = ("step_size", "gamma")

    def __init__(self, step_size, gamma=0.1):
        self.step_size = _number("StepLR", "step_size", step_size, 1, False, integer=True)
        self.gamma = _number("StepLR", "gamma", gamma, 0, True)
        self.hyper = {"lr_step_size": float(self.step_size), "lr_gamma": self.gamma}

    def lr(self, base, epoch):
        step_size, gamma = sp.symbols("lr_step_size lr_gamma", real=True)
        return base * gamma ** sp.floor(epoch / step_size)


class CosineAnnealingLR(LRScheduler):
    """``torch.optim.lr_scheduler.CosineAnnealingLR``: half a cosine from the base rate down to
    ``eta_min`` over ``T_max`` epochs (and back up over the next ``T_max``, as PyTorch does):
    lr_e = eta_min + (lr − eta_min)·(1 + cos(π·e / T_max)) / 2."""

    _args = ("T_max", "eta_min")

    def __init__(self, T_max, eta_min=0.0):
        self.T_max = _number("CosineAnnealingLR", "T_max", T_max, 1, False, integer=True)
        self.eta_min = _number("CosineAnnealingLR", "eta_min", eta_min, 0, False)
        self.hyper = {"lr_T_max": float(self.T_max), "lr_eta_min": self.eta_min, "lr_pi": math.pi}

    def lr(self, base, epoch):
        t_max, eta_min, pi = sp.symbols("lr_T_max lr_eta_min lr_pi", real=True)
        return eta_min + (base - eta_min) * (1 + sp.cos(pi * epoch / t_max)) / 2


__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR"]
