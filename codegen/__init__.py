"""Backends that translate a kernel program (``codegen.program``) into callables.

Each backend module exposes ``build(program) -> run`` where ``run(arrays, n)`` takes
{arg name: array} and the batch size and returns the output arrays in order.

>>> sorted(BACKENDS)
['llvm', 'numba', 'numpy']
"""

import importlib
import os
from pathlib import Path

BACKENDS = {"numpy": "codegen.numpy_backend", "numba": "codegen.numba_backend", "llvm": "codegen.llvm_backend"}


def backend(name):
    """The backend module called ``name``.

    >>> backend("numpy").__name__
    'codegen.numpy_backend'
    """
    return importlib.import_module(BACKENDS[name])


def cache_dir(backend):
    """Where ``backend`` keeps compiled kernels: ``$SYMBACKPROP_CACHE_DIR``, else the user's
    cache directory (XDG), with one folder per backend below it (created).

    >>> cache_dir("llvm").name
    'llvm'
    """
    base = os.environ.get("SYMBACKPROP_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "symbackprop")
    path = Path(base) / backend
    path.mkdir(parents=True, exist_ok=True)
    return path
