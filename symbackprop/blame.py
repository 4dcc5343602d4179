"""Who raised an exception: the user's code, or symbackprop's own.

A user's mistake deserves a one-line message naming their file and line; an untyped exception
raised inside symbackprop is a bug of ours, whose traceback should be seen and reported.

>>> try:
...     int("x")
... except ValueError as e:
...     raised_by_us(e, skip=0)
False
"""

import os
import traceback

from symbackprop.errors import SymbackpropError


def raised_by_us(exc, skip=1):
    """Whether ``exc`` is an untyped exception (not a SymbackpropError) that symbackprop's own
    code raised: a bug of ours, whose traceback the user should see and report.

    Decided by the innermost frame that is ours or the user's (frames of the standard library
    and installed packages, such as numpy, are skipped: they only did what their caller asked).
    ``skip`` drops the outermost frames: the catching function's own (a call that failed right
    there, e.g. a loss function of the wrong signature, is the caller's argument mistake)."""
    if isinstance(exc, SymbackpropError):
        return False
    for frame in reversed(traceback.extract_tb(exc.__traceback__)[skip:]):
        if _ours(frame.filename):
            return True
        if not _library(frame.filename):
            return False  # the user's code called last
    return False


def _ours(filename):
    import codegen
    import symbackprop
    name = os.path.abspath(filename)
    return any(name.startswith(os.path.dirname(os.path.abspath(m.__file__)) + os.sep) for m in (symbackprop, codegen))


def _library(filename):
    import sysconfig
    if filename.startswith("<"):  # <frozen runpy>, <string>
        return True
    name = os.path.abspath(filename)
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(name.startswith(os.path.abspath(p) + os.sep) for p in paths)
