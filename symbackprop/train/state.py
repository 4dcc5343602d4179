"""State dicts as PyTorch has them: params and buffers by name, in and out of a Trainer.

``StateArray`` is a numpy array that PyTorch treats as a tensor (it defines
``__torch_function__``), so ``torch_module.load_state_dict(trainer.state_dict())`` works
without converting anything; everywhere else it is an ordinary numpy array.

>>> import numpy as np
>>> a = StateArray.of(np.ones(2))
>>> type(a).__name__, float(a.sum())
('StateArray', 2.0)
"""

import sys

import numpy as np

from symbackprop.errors import ArgumentError, ShapeError


class StateArray(np.ndarray):
    """A numpy array PyTorch accepts where it expects a tensor (``load_state_dict``)."""

    @classmethod
    def of(cls, array):
        return np.array(array, copy=True).view(cls)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        # results of numpy operations are plain arrays (or scalars), not state entries
        if return_scalar or obj.shape == ():
            return obj[()] if isinstance(obj, np.ndarray) else obj
        return np.asarray(obj)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        torch = sys.modules["torch"]  # PyTorch is calling: it is loaded (and no dependency of ours)

        def convert(v):
            if isinstance(v, StateArray):
                return torch.from_numpy(np.array(v, copy=True))
            if isinstance(v, (list, tuple)):
                return type(v)(convert(x) for x in v)
            return v

        return func(*convert(tuple(args)), **{k: convert(v) for k, v in (kwargs or {}).items()})


def _as_array(value):
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def load_state(trainer, state, strict=True):
    """Copy ``state`` into ``trainer``'s params and buffers (see ``Trainer.load_state_dict``)."""
    try:
        items = dict(state)
    except (TypeError, ValueError):
        raise ArgumentError(f"load_state_dict: expected a mapping of names to arrays, got {type(state).__name__}") \
            from None
    expected = {name: kind for name, _, kind in trainer.net.state_shapes()}
    missing = [n for n in expected if n not in items]
    unexpected = [n for n in items if n not in expected]
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected)}")
        raise ArgumentError(f"load_state_dict: names do not match the network's ({'; '.join(parts)})")
    for name, kind in expected.items():
        if name not in items:
            continue
        target = trainer._params[name] if kind == "param" else trainer._buffers[name]
        value = _as_array(items[name])
        if value.shape != target.shape:
            raise ShapeError(f"load_state_dict: {name}: expected shape {target.shape}, got {value.shape}")
        target[...] = value.astype(target.dtype)
