"""Hand-written and third-party training loops that symbackprop is measured against.

Each module defines one class with the same small interface:

- ``Impl(workload, dtype, params, X, Y, rng)``: set up from the shared initial ``params``
  ({name: array}, PyTorch layout), data ``X, Y`` and a copy of the Trainer's shuffle
  generator ``rng`` (draw one ``rng.permutation(n)`` per epoch, as ``Trainer.fit`` does);
- ``fit(epochs) -> float``: train ``epochs`` epochs of SGD over shuffled minibatches and
  return the mean training loss of the last epoch;
- ``params() -> {name: float64 array}``: the current params;
- ``jit``: whether its first fit compiles (so that fit's time is not a step time);
- ``available() -> (bool, why)`` (module level): whether the library is importable.

>>> sorted(BASELINES)
['jax', 'numba', 'numpy', 'torch']
"""

import importlib

#: key -> (module, class, label in the table)
BASELINES = {
    "numpy": ("numpy_hand", "NumpyHand", "numpy by hand"),
    "numba": ("numba_hand", "NumbaHand", "numba by hand"),
    "torch": ("torch_eager", "TorchEager", "PyTorch eager"),
    "jax": ("jax_scan", "JaxScan", "JAX jit+scan"),
}


def load(key):
    """(class, label) of baseline ``key``, or (None, reason) when its library is missing."""
    module_name, class_name, label = BASELINES[key]
    module = importlib.import_module(f"benchmarks.baselines.{module_name}")
    ok, why = module.available()
    if not ok:
        return None, why
    return getattr(module, class_name), label
