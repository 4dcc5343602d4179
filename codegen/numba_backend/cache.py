"""The on-disk kernel cache: generated sources under a directory keyed by their hash.

The key is a hash of the generated source (which is structural: constants are
arguments, never baked in), of the modules of ours it imports (the inlined math), the
numba version and this backend's version, so a second run of the same model compiles
nothing: numba's own ``cache=True`` files (an index ``k_<key>.<function>-<line>.py<ver>.nbi``
and data files ``….<n>.nbc``, in numba's cache folder, ``__pycache__`` beside the source
unless ``NUMBA_CACHE_DIR`` says otherwise) hold the machine code.

numba loads those files itself and trusts them: a flipped byte in a data file is machine
code that crashes the process or computes a wrong answer.  So after numba has written them
(after a first call that compiled), a manifest ``k_<key>.<python>.manifest`` beside the
source records the key, the versions and a sha256 of the source and of each of numba's
files for the key (and this Python: Pythons sharing the folder keep apart files, as numba
names them).  Before the first call of a kernel its manifest is checked against the files
on disk; a missing, foreign (another key's), unreadable or mismatching manifest, or a
missing, extra, truncated or altered file, deletes numba's files for the key, so numba
compiles afresh (and a new manifest is recorded).  A source file whose text is not the
source is rewritten, and numba's files for it deleted.

``CachedKernel.warm`` is known after the first call: True when nothing was compiled (every
function of the module came from numba's cache, or was already compiled in this process).
Without a usable cache directory (``codegen.cache_dir`` warns once) kernels compile in
memory with ``cache=False``.

>>> key_of("def f(): pass")[:8].isalnum()
True
"""

import hashlib
import importlib.util
import json
import linecache
import os
import re
import sys
import threading
import traceback
import types
from pathlib import Path

import numba
from numba.core.dispatcher import Dispatcher

import codegen
from codegen import threads

#: bump when generated code changes meaning, so old cache entries are never reused
BACKEND_VERSION = "1"
#: format of the manifest files (a different format is not trusted: rebuilt)
MANIFEST_FORMAT = 1
#: the Python tag in numba's file names: Pythons sharing a cache folder keep apart files
#: (and manifests), as numba does
PY_TAG = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"

_locks = {}
_locks_guard = threading.Lock()


def cache_dir():
    """This backend's folder of the kernel cache (``codegen.cache_dir``), or None when
    there is no usable one (then kernels are compiled without a disk cache)."""
    return codegen.cache_dir("numba")


def key_of(source):
    """Structural cache key of a generated source: its text, the versions, and the code of
    the modules of ours it imports (numba does not notice that an inlined function of
    another file changed: its cached machine code would keep the old one)."""
    text = f"{BACKEND_VERSION}\n{numba.__version__}\n{_imported_code(source)}\n{source}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


_module_digests = {}


_CODEGEN_IMPORT = re.compile(r"(?m)^from (codegen(?:\.\w+)+) import ")


def _imported_code(source):
    """Digests of the ``codegen`` modules a generated source imports, and of those they
    import in turn (the numba math functions are the llvm backend's IR: an edit there must
    not leave cached kernels with the old math); each module read once a process."""
    digests, seen = [], set()
    todo = sorted(set(_CODEGEN_IMPORT.findall(source)))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in _module_digests:
            text = Path(importlib.util.find_spec(name).origin).read_bytes()
            _module_digests[name] = (_sha256(text), sorted(set(_CODEGEN_IMPORT.findall(text.decode()))))
        digest, imports = _module_digests[name]
        digests.append(f"{name} {digest}")
        todo.extend(imports)
    return "\n".join(sorted(digests))


def _module_name(key):
    return f"symbackprop_kernel_{key}"


def _key_lock(key):
    with _locks_guard:
        return _locks.setdefault(key, threading.RLock())


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _without_disk_cache(source):
    """``source`` with ``cache=False`` in its ``@njit(...)`` decorators (for compiling a
    module that has no file: numba cannot cache a function without a source file)."""
    return re.sub(r"(?m)^(\s*@njit\([^\n]*?)\bcache=True\b", r"\1cache=False", source)


def _exec_module(name, text, filename):
    """A new module ``name`` running ``text`` compiled as ``filename`` (registered in
    ``sys.modules``: numba rebuilds cached code by module name)."""
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    try:
        exec(compile(text, filename, "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _in_memory_module(key, source):
    """The module for ``source`` compiled without a disk cache; its lines stay readable in
    tracebacks and numba's error messages (registered with ``linecache``)."""
    filename = f"<symbackprop numba kernel k_{key}>"
    text = _without_disk_cache(source)
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    return _exec_module(_module_name(key), text, filename)


def _dispatchers(module):
    """The numba functions a module's code can call (its own and imported ones)."""
    return [v for v in vars(module).values() if isinstance(v, Dispatcher)]


def _compile_counts(module):
    """(cache hits, cache misses) summed over a module's numba functions."""
    hits = misses = 0
    for d in _dispatchers(module):
        stats = d.stats
        hits += sum(stats.cache_hits.values())
        misses += sum(stats.cache_misses.values())
    return hits, misses


class CachedKernel:
    """The function ``name`` of the module generated as ``source``, compiled by numba with
    its disk cache checked against a manifest before numba reads it (see the module's
    docstring).  Safe to call from several threads: the first call (which checks the
    cache, compiles or loads, and records the manifest) runs under a per-key lock.

    ``warm`` is None until the first call, then True when that call compiled nothing.
    """

    def __init__(self, source, name):
        self.source, self.name = source, name
        self.key = key_of(source)
        self.warm = None
        self.directory = cache_dir()
        self._lock = _key_lock(self.key)
        self._ready = False
        self._seen = 0  # overloads known to be covered by the manifest
        self._source_rewritten = False
        with self._lock:
            self.module = self._import()
        self.function = getattr(self.module, name)
        if re.search(r"\bgemm\(", source):  # its products call scipy's BLAS (blas.py): the thread count of codegen/threads.py
            threads.use_scipy_blas()

    # ---- paths -----------------------------------------------------------------------------

    @property
    def source_path(self):
        return None if self.directory is None else self.directory / f"k_{self.key}.py"

    @property
    def manifest_path(self):
        return None if self.directory is None else self.directory / f"k_{self.key}.{PY_TAG}.manifest"

    def _numba_cache_path(self):
        """Where numba keeps this module's cache files (None: numba caches nothing)."""
        paths = {d.stats.cache_path for d in _dispatchers(self.module)
                 if d.py_func.__module__ == self.module.__name__}
        paths.discard(None)
        return Path(paths.pop()) if len(paths) == 1 else None

    def _numba_files(self):
        """{file name: path} of numba's index and data files for this key and Python
        (``k_<key>.<function>-<line>.<PY_TAG>.nbi`` and ``….<PY_TAG>.<n>.nbc``)."""
        folder = self._numba_cache_path()
        if folder is None or not folder.is_dir():
            return {}
        ours = re.compile(rf"k_{self.key}\..*\.{re.escape(PY_TAG)}(\.nbi|\.\d+\.nbc)")
        return {p.name: p for p in folder.glob(f"k_{self.key}.*") if ours.fullmatch(p.name)}

    # ---- import ----------------------------------------------------------------------------

    def _import(self):
        """The module for the source: shared with other kernels of the same key in this
        process; else executed from the source file in the cache (written or rewritten
        first if needed), or in memory without a disk cache."""
        name = _module_name(self.key)
        if name in sys.modules:
            return sys.modules[name]
        path = self.source_path
        if path is None:
            return _in_memory_module(self.key, self.source)
        try:
            try:
                current = path.read_bytes()
            except FileNotFoundError:
                current = None
            if current != self.source.encode():
                # a missing, stale or altered source: whatever numba cached for it is not ours
                self._source_rewritten = current is not None
                codegen.write_atomically(path, self.source.encode())
        except OSError as error:
            codegen.cache_unusable(self.directory, error)
            self.directory = None
            return _in_memory_module(self.key, self.source)
        try:
            # compiled from the text in memory (the file is the same text, checked above),
            # under the file's name so tracebacks and numba's cache locate it
            return _exec_module(name, self.source, str(path))
        except RuntimeError as error:
            if "cannot cache function" not in str(error):
                raise
            return _in_memory_module(self.key, self.source)  # numba found no cache folder

    # ---- manifest --------------------------------------------------------------------------

    def _manifest(self, files):
        return {"format": MANIFEST_FORMAT, "key": self.key, "numba": numba.__version__,
                "python": PY_TAG, "source": _sha256(self.source.encode()),
                "files": {name: _sha256(p.read_bytes()) for name, p in sorted(files.items())}}

    def _verified(self):
        """True when the manifest matches the source and numba's files on disk exactly."""
        if self._source_rewritten:
            return False
        try:
            recorded = json.loads(self.manifest_path.read_bytes())
            files = self._numba_files()
            if not isinstance(recorded, dict) or sorted(recorded.get("files", ())) != sorted(files):
                return False
            return recorded == self._manifest(files)
        except (OSError, ValueError):
            return False

    def _check(self):
        """Before numba reads its cache: delete numba's files for this key unless the
        manifest vouches for every one of them."""
        if self.directory is None or self._numba_cache_path() is None:
            return
        if not self._verified():
            self._wipe()
        self._source_rewritten = False

    def _wipe(self):
        """Delete numba's files and the manifest for this key (numba then recompiles)."""
        for p in list(self._numba_files().values()) + [self.manifest_path]:
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass

    def _record(self):
        """Write the manifest of numba's files as they are now (after numba wrote them)."""
        if self.directory is None or self._numba_cache_path() is None:
            return
        try:
            files = self._numba_files()
            data = json.dumps(self._manifest(files), indent=1, sort_keys=True).encode()
            codegen.write_atomically(self.manifest_path, data)
        except OSError as error:
            codegen.cache_unusable(self.directory, error)

    # ---- calls -----------------------------------------------------------------------------

    def __call__(self, *args):
        if self._ready:
            result = self.function(*args)
            if len(self.function.overloads) != self._seen:  # numba compiled another signature
                with self._lock:
                    if len(self.function.overloads) != self._seen:
                        self._seen = len(self.function.overloads)
                        self._record()
            return result
        with self._lock:
            if not self._ready:
                return self._first_call(args)
        return self(*args)

    def _first_call(self, args):
        """Check the cache, call (numba loads or compiles), record what numba wrote."""
        self._check()
        hits, misses = _compile_counts(self.module)
        try:
            result = self.function(*args)
        except Exception as error:
            if not _cache_failure(error):
                raise
            # numba could not read its own files (a manifest written over unreadable ones)
            self._wipe()
            result = self.function(*args)
        misses = _compile_counts(self.module)[1] - misses
        if misses:
            self._record()
        self.warm = misses == 0
        self._seen = len(self.function.overloads)
        self._ready = True
        return result


def forget(source):
    """Delete the cached source, its manifest and numba's files for it (this backend's
    cache folder and numba's default ``__pycache__`` below it)."""
    key = key_of(source)
    sys.modules.pop(_module_name(key), None)
    directory = cache_dir()
    if directory is None:
        return
    for p in list(directory.glob(f"k_{key}.*")) + list((directory / "__pycache__").glob(f"k_{key}.*")):
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass


def _cache_failure(error):
    """True when ``error`` came from reading numba's cache files, not from compiling."""
    frames = traceback.extract_tb(error.__traceback__)
    return any(f.filename.endswith(os.path.join("numba", "core", "caching.py")) for f in frames)
