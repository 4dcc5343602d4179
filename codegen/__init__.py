"""Backends that translate a kernel program (``codegen.program``) into callables.

Each backend module exposes ``build(program) -> run`` where ``run(arrays, n)`` takes
{arg name: array} and the batch size and returns the output arrays in order.

>>> sorted(BACKENDS)
['llvm', 'numba', 'numpy']
"""

import importlib

BACKENDS = {"numpy": "codegen.numpy_backend", "numba": "codegen.numba_backend", "llvm": "codegen.llvm_backend"}


def backend(name):
    """The backend module called ``name``.

    >>> backend("numpy").__name__
    'codegen.numpy_backend'
    """
    return importlib.import_module(BACKENDS[name])
