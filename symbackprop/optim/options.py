"""Gradient clipping and learning-rate schedules folded into an optimizer's update rules, so
the fused training loop runs them with no Python between steps.

``configure(optimizer, n_params, ...)`` returns an optimizer whose hyperparameters are the
base optimizer's, then (in this order) ``epoch`` (set by the loop at each epoch), the
schedule's and the clipping's parameters, and ``n_params + 1`` slots that the training
program's ``SquaredNorms`` step fills with each gradient's squared L2 norm and their sum
(``grad_sq``).  Its rules are the base rules with

- ``g`` replaced by ``g·min(1, max_norm / (√grad_sq + 1e-6))`` (``clip_grad_norm``, as
  ``torch.nn.utils.clip_grad_norm_``: the total norm over every param's gradient) or by
  ``min(max(g, −clip_value), clip_value)`` (``clip_grad_value``, as ``clip_grad_value_``),
  so the optimizer sees the clipped gradient (weight decay is added after clipping, as in
  PyTorch);
- ``lr`` replaced by the schedule's formula of the epoch (``lr_scheduler``).

>>> from symbackprop.optim import SGD
>>> from symbackprop.optim.lr_scheduler import StepLR
>>> opt = configure(SGD(lr=0.1), 2, clip_grad_norm=1.0, scheduler=StepLR(5, 0.5))
>>> list(opt.hyper)
['lr', 'momentum', 'weight_decay', 'epoch', 'lr_step_size', 'lr_gamma', 'max_norm', 'clip_eps', '%grad_sq.0', '%grad_sq.1', 'grad_sq']
>>> print(opt.updates[0][1])
-g*lr*lr_gamma**floor(epoch/lr_step_size)*Min(1, max_norm/(clip_eps + sqrt(grad_sq))) - lr*lr_gamma**floor(epoch/lr_step_size)*p*weight_decay + p
"""

import numbers

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError
from symbackprop.optim import G, Optimizer
from symbackprop.optim.lr_scheduler import LRScheduler

#: the hyperparameter the loop sets to the epoch number
EPOCH = "epoch"
#: the first of the slots ``SquaredNorms`` writes (one per param, then the total ``grad_sq``)
NORMS = "%grad_sq.0"
#: torch.nn.utils.clip_grad_norm_'s guard against a zero norm
CLIP_EPS = 1e-6


def clip_argument(name, value):
    """``value`` (None or a positive finite number) of a clipping option named ``name``."""
    if value is None:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)) or not np.isfinite(value):
        raise ArgumentError(f"Trainer: {name} must be a positive finite number or None, got {value!r}")
    if value <= 0:
        kept = "norm" if "norm" in name else "element"
        raise ArgumentError(f"Trainer: {name} must be > 0 (the largest gradient {kept} kept), got {value!r}")
    return float(value)


def check_options(clip_grad_norm=None, clip_grad_value=None, scheduler=None):
    """The validated (clip_grad_norm, clip_grad_value, scheduler); raises ArgumentError."""
    clip_grad_norm = clip_argument("clip_grad_norm", clip_grad_norm)
    clip_grad_value = clip_argument("clip_grad_value", clip_grad_value)
    if clip_grad_norm is not None and clip_grad_value is not None:
        raise ArgumentError("Trainer: give clip_grad_norm or clip_grad_value, not both")
    if scheduler is not None and not isinstance(scheduler, LRScheduler):
        raise ArgumentError("Trainer: lr_scheduler must be an sb.optim.lr_scheduler schedule (e.g. "
                            f"sb.optim.lr_scheduler.StepLR(step_size=10, gamma=0.5)), got {type(scheduler).__name__}")
    return clip_grad_norm, clip_grad_value, scheduler


class Configured(Optimizer):
    """An optimizer with clipping and a schedule folded into its rules (see the module doc)."""

    def __init__(self, base, n_params, clip_grad_norm=None, clip_grad_value=None, scheduler=None):
        self.base = base
        self.state = tuple(base.state)
        hyper = dict(base.hyper)
        hyper[EPOCH] = 0.0
        subs = {}
        if scheduler is not None:
            hyper.update(scheduler.hyper)
            lr = sp.Symbol("lr", real=True)
            subs[lr] = scheduler.lr(lr, sp.Symbol(EPOCH, real=True))
        if clip_grad_norm is not None:
            hyper.update(max_norm=clip_grad_norm, clip_eps=CLIP_EPS)
            max_norm, eps, total = sp.symbols("max_norm clip_eps grad_sq", real=True)
            subs[G] = G * sp.Min(1, max_norm / (sp.sqrt(total) + eps))
        if clip_grad_value is not None:
            hyper["clip_value"] = clip_grad_value
            v = sp.Symbol("clip_value", real=True)
            subs[G] = sp.Min(sp.Max(G, -v), v)
        for i in range(n_params):
            hyper[f"%grad_sq.{i}"] = 0.0
        hyper["grad_sq"] = 0.0
        self.hyper = hyper
        self.updates = tuple((target, expr.xreplace(subs)) for target, expr in base.updates)
        self.nesterov = getattr(base, "nesterov", False)

    def __repr__(self):
        return repr(self.base)


def configure(optimizer, n_params, clip_grad_norm=None, clip_grad_value=None, scheduler=None):
    """``optimizer`` with the options folded in (a ``Configured``)."""
    return Configured(optimizer, n_params, *check_options(clip_grad_norm, clip_grad_value, scheduler))


__all__ = ["configure", "check_options", "Configured", "EPOCH", "NORMS"]
