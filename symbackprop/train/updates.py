"""Applying an optimizer's update rules to numpy arrays (the reference training path).

>>> import numpy as np
>>> from symbackprop.optim import SGD
>>> u = Updater(SGD(lr=0.5), {"w": np.array([1.0])})
>>> params = {"w": np.array([1.0])}
>>> u.step(params, {"w": np.array([2.0])})
>>> params["w"]
array([0.])
"""

import numpy as np

from codegen.numpy_backend.steps import apply_rules

from symbackprop.errors import ArgumentError
from symbackprop.optim import Optimizer


class Updater:
    """Optimizer state for a set of params, and the step that updates them in place."""

    def __init__(self, optimizer, params):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentError(f"optimizer must be an sb.optim optimizer (SGD, Adam), got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.t = 0
        self.state = {name: {s: np.zeros_like(p) for s in optimizer.state} for name, p in params.items()}
        self._hyper = list(optimizer.hyper.values())

    def step(self, params, grads):
        """One update of every param (in place) from its gradient, committed only when every
        new value is finite.  Returns None, or the name of the first param whose new value
        or optimizer state is NaN/inf (then nothing has changed)."""
        t = self.t + 1
        new = {}
        with np.errstate(all="ignore"):
            for name, p in params.items():
                state = [self.state[name][s] for s in self.optimizer.state]
                values = apply_rules(self.optimizer.updates, self.optimizer.state, tuple(self.optimizer.hyper), p,
                                     grads[name], state, t, self._hyper)
                if not all(np.isfinite(v).all() for v in values.values()):
                    return name
                new[name] = values
        for name, values in new.items():
            params[name][...] = values["p"]
            for s in self.optimizer.state:
                self.state[name][s][...] = values[s]
        self.t = t
        return None
