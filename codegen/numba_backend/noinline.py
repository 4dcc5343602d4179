"""Keep the shared functions of generated modules out of line in the functions calling them.

When an ``@njit`` function calls another, numba links the callee's LLVM module into the
caller's (as ``linkonce_odr`` definitions) and optimises the result as a whole, so LLVM
inlines the callee wherever it is called: a driver calling one layer kernel 60 times gets
60 copies to optimise and compile, the cost sharing was meant to remove.  numba has no
supported way to stop this: ``@njit(inline="never")`` is the default and only concerns
numba's own IR inlining, and the LLVM linkage is numba's (numba/numba#9566 on GitHub discusses
restructuring that linking; nothing landed).  So this module wraps the private method
``numba.core.codegen.CPUCodeLibrary._get_module_for_linking`` (the module a library
contributes to its callers) and marks the shared functions of our generated modules
``noinline`` there.  Only functions whose symbol names both markers below are touched:
the inlined math (``mathfns``), numba's own helpers and user code are left alone.

The marked module is also what numba caches with the function (``serialize_using_object_code``
stores it), so a cached kernel links as a marked one.

Guarded: when numba lacks that method (another version), ``install()`` returns False and
changes nothing; generated code is then correct, only slower to compile (the callees are
inlined, as numba does by default).

>>> install() in (True, False)
True
"""

import threading

#: generated modules are named ``symbackprop_kernel_<key>`` (``cache._module_name``)
MODULE_MARKER = "symbackprop_kernel_"
#: the shared functions' names start with one of these (``sharing.NAME``, ``sharing.PART``)
FUNCTION_PREFIXES = ("shared_", "part_")

_lock = threading.Lock()
_state = {"original": None}


def _ours(name):
    """True for the symbol of a shared function of a generated module (numba's mangled names
    hold the module's and the function's names)."""
    return MODULE_MARKER in name and any(p in name.split(MODULE_MARKER, 1)[1] for p in FUNCTION_PREFIXES)


def mark(module):
    """Add ``noinline`` to the shared functions defined in the llvmlite ``module``; returns
    their number."""
    count = 0
    for fn in module.functions:
        if fn.is_declaration or not _ours(fn.name):
            continue
        attributes = {bytes(a).strip() for a in fn.attributes}
        if b"noinline" not in attributes and b"alwaysinline" not in attributes:
            fn.add_function_attribute("noinline")
        count += 1
    return count


def installed():
    """True when numba's linking is wrapped (``install`` succeeded)."""
    return _state["original"] is not None


def install():
    """Wrap numba's ``CPUCodeLibrary._get_module_for_linking`` so the modules it returns have
    our shared functions marked ``noinline``; True when done (or already), False when this
    numba has no such method (then nothing is changed)."""
    with _lock:
        if _state["original"] is not None:
            return True
        try:
            from numba.core.codegen import CPUCodeLibrary
            original = CPUCodeLibrary._get_module_for_linking
        except (ImportError, AttributeError):
            return False
        if not callable(original):
            return False

        def _get_module_for_linking(self):
            module = original(self)
            try:
                mark(module)
            except Exception:  # an llvmlite without function attributes: link as numba does
                pass
            return module

        _get_module_for_linking.__wrapped__ = original
        CPUCodeLibrary._get_module_for_linking = _get_module_for_linking
        _state["original"] = original
        return True


def uninstall():
    """Put numba's own method back (for tests); True when something was undone."""
    with _lock:
        original = _state["original"]
        if original is None:
            return False
        from numba.core.codegen import CPUCodeLibrary
        CPUCodeLibrary._get_module_for_linking = original
        _state["original"] = None
        return True


__all__ = ["install", "installed", "mark", "uninstall"]
