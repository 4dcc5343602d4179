"""Backends that translate a kernel program (``codegen.program``) into callables.

Each backend module exposes ``build(program) -> run`` where ``run(arrays, n)`` takes
{arg name: array} and the batch size and returns the output arrays in order.

>>> sorted(BACKENDS)
['jax', 'llvm', 'numba', 'numpy']
"""

import importlib
import os
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

BACKENDS = {"numpy": "codegen.numpy_backend", "numba": "codegen.numba_backend", "llvm": "codegen.llvm_backend",
            "jax": "codegen.jax_backend"}

#: backends whose library is optional: name -> (modules it needs, what to install)
OPTIONAL = {"jax": (("jax", "jaxlib"), "pip install 'symbackprop[jax]' (CPU), or JAX for your accelerator as its "
                                      "documentation says, e.g. pip install 'jax[cuda12]' for NVIDIA GPUs")}


def backend(name):
    """The backend module called ``name``.

    >>> backend("numpy").__name__
    'codegen.numpy_backend'
    """
    return importlib.import_module(BACKENDS[name])


def unavailable(name):
    """None when backend ``name`` can run here, else why not and what to install.

    >>> unavailable("numpy") is None
    True
    """
    if name not in OPTIONAL:
        return None
    from codegen.auto import _imports
    modules, install = OPTIONAL[name]
    why = _imports(*modules)
    return None if why is None else f"backend {name!r} needs {modules[0]}, but {why}: {install}"


class CacheWarning(UserWarning):
    """The kernel cache directory cannot be used: kernels are compiled without it."""


_warned = set()
_warned_lock = threading.Lock()


def cache_unusable(directory, error):
    """Warn, once per directory and process, that ``directory`` cannot hold the kernel cache."""
    with _warned_lock:
        if str(directory) in _warned:
            return
        _warned.add(str(directory))
    warnings.warn(f"symbackprop: cannot use the kernel cache directory {str(directory)!r} ({error}); "
                  "compiling without a disk cache (set SYMBACKPROP_CACHE_DIR to a writable directory)",
                  CacheWarning, stacklevel=3)


def cache_dir(backend):
    """Where ``backend`` keeps compiled kernels: ``$SYMBACKPROP_CACHE_DIR``, else the user's
    cache directory (XDG), with one folder per backend below it (created).  None, with one
    ``CacheWarning`` naming the folder, when it cannot be created or written to: the
    backend then compiles without a disk cache.

    >>> cache_dir("llvm").name
    'llvm'
    """
    base = os.environ.get("SYMBACKPROP_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "symbackprop")
    path = Path(base) / backend
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".probe")  # as root, permission bits say nothing
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        cache_unusable(path, error)
        return None
    return path


def write_atomically(path, data):
    """Write bytes to ``path`` through a temporary file in the same folder and a rename, so a
    reader (another thread or process) sees the old file or the whole new one, never part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:  # a name of its own, and the usual permissions (umask)
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
