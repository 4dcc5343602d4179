"""``backend="auto"``: the fastest backend this install can run, and why another one when not.

The rule, in one place for ``sb.compile``, ``sb.Trainer`` and the command line: llvm (the
fastest, and it compiles in under a second) when llvmlite and scipy import, else numba,
else the numpy reference backend.  When auto falls back, the reason is said once per process
(a :class:`BackendWarning`), not on every compile.

>>> pick_backend("numpy")
('numpy', '')
>>> pick_backend("auto")[0] in ("llvm", "numba", "numpy")
True
"""

import importlib
import importlib.util
import threading
import warnings


class BackendWarning(UserWarning):
    """``backend="auto"`` could not use the fastest backend; the message says why."""


_said = set()
_said_lock = threading.Lock()


def _imports(*names):
    """None when every module imports, else why not (installed is not enough: a broken
    install raises on import)."""
    for name in names:
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed"
        try:
            importlib.import_module(name)
        except Exception as e:  # pragma: no cover - depends on the machine
            return f"{name} does not import ({type(e).__name__}: {e})"
    return None


def pick_backend(requested):
    """(backend, note): ``requested`` itself unless it is ``"auto"``; for auto, llvm when
    llvmlite and scipy import, else numba, else numpy, with a note saying why (empty for llvm)."""
    if requested != "auto":
        return requested, ""
    why_not_llvm = _imports("llvmlite.binding", "scipy")
    if why_not_llvm is None:
        return "llvm", ""
    why_not_numba = _imports("numba")
    if why_not_numba is None:
        return "numba", f"{why_not_llvm}; using the numba backend"
    return "numpy", f"{why_not_llvm} and {why_not_numba}; using the numpy reference backend (pip install numba)"


def resolve(requested):
    """The backend to run for ``requested`` (``"auto"`` or a name); a fallback of auto is
    said once per process as a :class:`BackendWarning`."""
    backend, note = pick_backend(requested)
    if note:
        with _said_lock:
            first = note not in _said
            _said.add(note)
        if first:
            warnings.warn(f"symbackprop: backend='auto': {note}", BackendWarning, stacklevel=3)
    return backend


def backend_help():
    """The --backend help text, listing the backends this install has."""
    from codegen import BACKENDS
    return (f"auto (default: llvm if llvmlite and scipy import, else numba, else numpy) or one of: "
            f"{', '.join(sorted(BACKENDS))}")
