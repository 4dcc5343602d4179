"""The MODEL.py convention, one for ``symbackprop derive`` and ``symbackprop train``.

A model file is ordinary Python, run once with ``sb`` (symbackprop) and ``np`` (numpy)
predefined (importing them yourself is fine too).  It defines, at module level:

- ``net``: an ``sb.nn`` module, e.g. ``sb.nn.Sequential(sb.nn.Linear(4, 8), ...)``.  ``train``
  requires it; ``derive`` builds the loss graph from it exactly as ``train`` does (inputs ``x``
  of the first Linear layer's size and ``y``);
- ``loss`` (default ``"mse"``): ``"mse"``, ``"bce"``, ``"cross_entropy"``, ``"hinge"``, a
  callable ``loss(yhat, y)``, or a scalar Expr over inputs named ``yhat`` and ``y``.  Without
  ``net``, ``loss`` may instead be a scalar Expr of a graph of one's own (``derive`` only:
  ``train`` needs a network to train);
- ``optimizer`` (``train``; default ``sb.optim.Adam(lr=1e-3)``): an ``sb.optim`` optimizer;
- ``wrt`` (``derive``; default every param): a node, a leaf name, or a list of them.

So one file serves both commands:

>>> import pathlib, tempfile
>>> f = pathlib.Path(tempfile.mkdtemp()) / "model.py"
>>> _ = f.write_text("net = sb.nn.Sequential(sb.nn.Linear(2, 3), sb.nn.Tanh(), sb.nn.Linear(3, 1))\\n"
...                  "loss = 'bce'\\noptimizer = sb.optim.Adam(lr=0.01)\\n")
>>> loss, wrt = derive_loss(str(f))
>>> loss.shape, wrt, load_model(str(f))["optimizer"].hyper["lr"]      # derive's loss; train's optimizer
((), None, 0.01)
"""

import os
import runpy
import traceback

import numpy as np

from symbackprop.blame import raised_by_us
from symbackprop.errors import ArgumentError, ShapeError, SymbackpropError

LOSS_NAMES = ("mse", "bce", "cross_entropy", "hinge")


class ModelFileError(SymbackpropError, ValueError):
    """A model file is missing, fails to run, or does not define what the command needs."""


# ---- the model file ---------------------------------------------------------------------
def run_model_file(path, init_globals=None):
    """Run the user's Python file at ``path``; returns its namespace (a dict).

    A missing file, a syntax error or an exception the file raises is a ``ModelFileError``
    naming the file and line.  An exception from inside symbackprop that is not a
    ``SymbackpropError`` is a bug of ours, not the user's: it propagates with its traceback.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "m.py"
    >>> _ = f.write_text("a = 1\\nb = a / 0\\n")
    >>> run_model_file(str(f))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symbackprop.cli.model.ModelFileError: model file .../m.py, line 2: ZeroDivisionError: division by zero
    """
    if not os.path.isfile(path):
        raise ModelFileError(f"model file {path!r} does not exist" if not os.path.exists(path)
                             else f"model file {path!r} is not a file")
    try:
        return runpy.run_path(path, init_globals=init_globals, run_name="__symbackprop_model__")
    except SyntaxError as e:  # also IndentationError, TabError
        where = f", line {e.lineno}" if e.lineno else ""
        raise ModelFileError(f"model file {path}{where}: syntax error: {e.msg}") from None
    except Exception as e:  # the user's own code: whatever it raises is theirs, unless it is ours
        if raised_by_us(e):
            raise  # a bug of ours: its traceback is what to report
        raise ModelFileError(f"model file {path}{_line_in(path, e)}: {type(e).__name__}: {e}") from None


def load_model(path, need_net=True):
    """Run a model file; returns its namespace (a dict) after checking ``net``, ``loss`` and
    ``optimizer`` (``net`` may be missing when ``need_net`` is false: ``derive`` of a graph
    of one's own)."""
    import symbackprop as sb
    namespace = run_model_file(path, init_globals={"sb": sb, "np": np})
    net = namespace.get("net")
    if net is None and need_net:
        raise ModelFileError(f"model file {path} defines no `net`; it must set net = an sb.nn module, e.g. "
                             "net = sb.nn.Sequential(sb.nn.Linear(2, 8), sb.nn.Tanh(), sb.nn.Linear(8, 1))")
    if net is not None and not isinstance(net, sb.nn.Module):
        raise ModelFileError(f"model file {path}: `net` must be an sb.nn module, got {type(net).__name__}")
    optimizer = namespace.get("optimizer")
    if optimizer is not None and not isinstance(optimizer, sb.optim.Optimizer):
        raise ModelFileError(f"model file {path}: `optimizer` must be sb.optim.SGD(...) or sb.optim.Adam(...), "
                             f"got {type(optimizer).__name__}")
    loss = namespace.get("loss")
    if isinstance(loss, str) and loss not in LOSS_NAMES:
        raise ModelFileError(f"model file {path}: unknown loss {loss!r}; use one of {', '.join(LOSS_NAMES)}, "
                             "a callable loss(yhat, y) or an Expr")
    if loss is not None and not isinstance(loss, (str, sb.Expr)) and not callable(loss):
        raise ModelFileError(f"model file {path}: `loss` must be a loss name ({', '.join(LOSS_NAMES)}), a callable "
                             f"loss(yhat, y) or a scalar Expr, got {type(loss).__name__} {short_repr(loss)}")
    return namespace


def short_repr(value, limit=60):
    """``repr(value)``, cut to ``limit`` characters (a user's value quoted in a message)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _line_in(path, exc):
    """', line N' of the deepest traceback frame inside ``path``, or ''."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            where = f", line {frame.lineno}"
    return where


def build_model(trainer, features, path):
    """Build the trainer's graphs for samples of shape ``features``: a loss that raises, returns
    something other than a scalar Expr, or a net whose output does not fit is the model file's
    mistake, reported as such (not as a traceback, and not as a problem of the data)."""
    try:
        trainer.build(tuple(features))
    except (ShapeError, ArgumentError) as e:
        cause = e.__cause__
        if cause is not None and callable(trainer.loss) and not isinstance(trainer.loss, str):
            # the Trainer wraps what the user's loss function raised: their exception, their line
            if raised_by_us(cause):
                raise cause from None  # a bug of ours: its own traceback, not the wrapper's
            raise ModelFileError(f"model file {path}{_line_in(path, cause)}: the loss function raised "
                                 f"{type(cause).__name__}: {cause}") from None
        raise ModelFileError(f"model file {path}{_line_in(path, e)}: {_unprefixed(e)}") from None
    except SymbackpropError:
        raise
    except Exception as e:  # the user's own code ran here too (a Module subclass's forward)
        if raised_by_us(e):
            raise
        raise ModelFileError(f"model file {path}{_line_in(path, e)}: {type(e).__name__}: {e}") from None


def _unprefixed(e):
    text = str(e)
    return text[len("Trainer: "):] if text.startswith("Trainer: ") else text


def input_features(net):
    """The number of inputs the network's first layer (its first submodule, recursively) takes, if a Linear."""
    from symbackprop.nn.modules import first_layer
    return getattr(first_layer(net), "in_features", None)


def derive_loss(path):
    """(loss, wrt) for ``symbackprop derive``: the scalar loss graph the model file at ``path``
    defines (built from ``net`` as ``train`` builds it, or the file's own graph when it has no
    ``net``), and its ``wrt`` (None: every param)."""
    import symbackprop as sb
    from symbackprop.graph.node import Expr
    env = load_model(path, need_net=False)
    net, loss = env.get("net"), env.get("loss")
    if net is not None:
        if not (isinstance(loss, Expr) and not _reads_yhat(loss)):  # else: a graph of the file's own
            features = input_features(net)
            if features is None:
                raise ModelFileError(f"model file {path}: cannot tell how many inputs `net` takes (its first layer "
                                     "is not sb.nn.Linear); define `loss` as a graph instead, e.g. "
                                     "x = sb.input('x', (None, 2)); loss = sb.mse(net(x), sb.input('y', (None, 1)))")
            trainer = sb.Trainer(net, loss="mse" if loss is None else loss, backend="numpy")
            build_model(trainer, (features,), path)
            loss = trainer.loss_expr
    elif not isinstance(loss, Expr):
        found = "nothing" if loss is None else f"{type(loss).__name__} {short_repr(loss)}"
        raise ModelFileError(f"model file {path} must define `net` (an sb.nn module) or `loss`, a scalar symbackprop "
                             f"Expr (found {found})")
    elif _reads_yhat(loss):
        raise ModelFileError(f"model file {path}: `loss` reads an input named yhat, the output of a `net`, "
                             "but the file defines no `net`")
    if loss.shape != ():
        raise ModelFileError(f"model file {path}: `loss` must be a scalar, got {loss.describe()}")
    wrt = env.get("wrt")
    if not (wrt is None or isinstance(wrt, (Expr, str)) or
            (isinstance(wrt, (list, tuple)) and all(isinstance(w, (Expr, str)) for w in wrt))):
        raise ModelFileError(f"model file {path}: `wrt` must be a node, a leaf name, or a list of them, "
                             f"got {type(wrt).__name__} {short_repr(wrt)}")
    return loss, wrt


def _reads_yhat(loss):
    from symbackprop.graph.traverse import leaves
    return any(n.op == "input" and n.name == "yhat" for n in leaves([loss]))
