"""The exception family: every mistake a user can make raises one of these.

Each message names what was wrong and where (the node, the shape, the claim, the file and
line), so no traceback from deep inside sympy or numpy reaches a user for a mistake of theirs.

>>> try:
...     raise ShapeError("matmul: inner dimensions differ: x (N, 2) @ W (3, 1)")
... except SymbackpropError as e:
...     print(e)
matmul: inner dimensions differ: x (N, 2) @ W (3, 1)
"""


class SymbackpropError(Exception):
    """Base of every error symbackprop raises for a user's mistake."""


class ShapeError(SymbackpropError, ValueError):
    """An array or node has a shape the operation cannot take."""


class ArgumentError(SymbackpropError, ValueError, TypeError):
    """An argument has the wrong type or value: an empty or unprintable name, an operand that
    is neither a node, a number nor an array, a negative learning rate, an unknown loss, ..."""


class DTypeError(SymbackpropError, TypeError):
    """An array has a dtype other than the one the graph was built for."""


class DerivationError(SymbackpropError, ValueError):
    """A derivative cannot be taken as asked (non-scalar loss, integer input, ...)."""


class CompileError(SymbackpropError):
    """A graph cannot be compiled, or its compiled function was called wrongly."""


class BackendUnavailable(CompileError):
    """The backend asked for needs a library this install lacks (``backend="jax"`` without
    JAX); the message says what to install."""


class UnsupportedFunction(SymbackpropError, ValueError):
    """An elementwise body uses a function no backend can evaluate."""


class TrainingDiverged(SymbackpropError, FloatingPointError):
    """Training met NaN or inf; names the epoch and step where it happened, and ``param``
    the param whose gradient or update went non-finite (None when it was the loss)."""

    def __init__(self, message, epoch=None, step=None, param=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.param = param


class VerifyError(SymbackpropError, ValueError):
    """A claim or a derivation file cannot be read (bad syntax, undefined or cyclic names)."""


class DataError(SymbackpropError, ValueError):
    """Training data cannot be used as given (NaN, labels outside the loss's range, ...)."""
