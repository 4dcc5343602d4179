"""The on-disk kernel cache: generated sources under a directory keyed by their hash.

The key is a hash of the generated source (which is structural: constants are
arguments, never baked in), the numba version and this backend's version, so a second
run of the same model compiles nothing: numba's own ``cache=True`` files sit beside the
source.  A source file whose text does not match its key, or a numba cache that fails
to load, is rebuilt rather than trusted.

>>> key_of("def f(): pass")[:8].isalnum()
True
"""

import hashlib
import importlib.util
import os
import shutil
import sys

import numba

import codegen

#: bump when generated code changes meaning, so old cache entries are never reused
BACKEND_VERSION = "1"


def cache_dir():
    """This backend's folder of the kernel cache (``codegen.cache_dir``)."""
    return codegen.cache_dir("numba")


def key_of(source):
    """Structural cache key of a generated source."""
    text = f"{BACKEND_VERSION}\n{numba.__version__}\n{source}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load(source):
    """Import the module for ``source`` from the cache, writing it first if needed.

    Returns (module, warm) where ``warm`` says the source was already on disk.
    """
    key = key_of(source)
    path = cache_dir() / f"k_{key}.py"
    warm = path.exists() and path.read_text() == source
    if not warm:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(source)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    name = f"symbackprop_kernel_{key}"
    if name in sys.modules:
        return sys.modules[name], True
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module, warm


def forget(source):
    """Delete the cached source and numba's cache files for it (a corrupt entry)."""
    key = key_of(source)
    sys.modules.pop(f"symbackprop_kernel_{key}", None)
    directory = cache_dir()
    for p in directory.glob(f"k_{key}.py"):
        p.unlink(missing_ok=True)
    pycache = directory / "__pycache__"
    if pycache.exists():
        for p in pycache.glob(f"k_{key}*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


class CachedKernel:
    """A function of a cached module; its first call rebuilds the cache entry once if
    numba's cache files turn out to be unreadable (a corrupt entry is rebuilt, not trusted)."""

    def __init__(self, source, name):
        self.source, self.name = source, name
        module, self.warm = load(source)
        self.function = getattr(module, name)
        self.checked = False

    def __call__(self, *args):
        if self.checked:
            return self.function(*args)
        try:
            result = self.function(*args)
        except Exception as error:
            if not _cache_failure(error):
                raise
            forget(self.source)
            module, _ = load(self.source)
            self.function = getattr(module, self.name)
            self.warm = False
            result = self.function(*args)
        self.checked = True
        return result


def _cache_failure(error):
    """True when ``error`` came from reading numba's cache files, not from compiling."""
    import traceback
    frames = traceback.extract_tb(error.__traceback__)
    return any(f.filename.endswith(os.path.join("numba", "core", "caching.py")) for f in frames)
