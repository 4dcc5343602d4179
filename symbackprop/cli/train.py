"""``symbackprop train MODEL.py --data FILE``: train a model defined in a Python file on a user's data.

The model file follows the one convention ``derive`` reads too (``symbackprop.cli.model``):
``sb`` and ``np`` are predefined; it defines ``net`` (required here), and optionally ``loss``
(default ``"mse"``) and ``optimizer`` (default ``sb.optim.Adam(lr=1e-3)``).

Command-line options win over the file: ``--loss`` replaces ``loss``, ``--optimizer``
replaces ``optimizer`` (with ``--lr`` or that optimizer's default rate), and ``--lr`` alone
changes the learning rate of the file's optimizer.

Data: ``.npz`` with arrays ``X`` (n, features) and ``y`` (n,) or (n, outputs); or ``.csv``
of numbers, one sample a row, the last column the target (``--targets K``: the last K
columns), an optional header row of names, ``#`` comments.

>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> register(sub)
"""

import contextlib
import math
import os
import stat
import tempfile
import time

import numpy as np

from symbackprop.cli.model import (LOSS_NAMES, ModelFileError, build_model, input_features,  # noqa: F401
                                   load_model, run_model_file, short_repr)
from symbackprop.errors import ArgumentError, DataError, ShapeError, SymbackpropError


class SaveError(SymbackpropError, OSError):
    """The trained params could not be written where ``--save`` said (``fallback``: where
    they were written instead, or None)."""

    def __init__(self, message, fallback=None):
        super().__init__(message)
        self.fallback = fallback


def register(subparsers):
    """Add the ``train`` subcommand."""
    from symbackprop.cli.demo import backend_help
    p = subparsers.add_parser(
        "train", help="train a model defined in a Python file on data from .npz or .csv",
        description="Train the network a model file defines (net, and optionally loss and optimizer) on a "
                    "data file: .npz with arrays X and y, or .csv whose last column is the target.")
    p.add_argument("model", metavar="MODEL.py", help="Python file defining net (and optionally loss, optimizer)")
    p.add_argument("--data", required=True, metavar="FILE", help="training data: FILE.npz (X, y) or FILE.csv")
    p.add_argument("--targets", type=int, default=1, metavar="K",
                   help="CSV only: the last K columns are targets, K >= 1 (default: 1)")
    p.add_argument("--epochs", type=int, default=100, help="passes over the data, >= 1 (default: 100)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size, >= 1 (default: 32)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate, a finite number > 0 (default: the optimizer's)")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help="replace the model file's optimizer (default: the file's, else adam)")
    p.add_argument("--loss", choices=LOSS_NAMES, default=None, help="replace the model file's loss (default: "
                                                                    "the file's, else mse)")
    p.add_argument("--backend", default="auto", help=backend_help())
    p.add_argument("--devices", type=int, default=None, metavar="N",
                   help="with --backend jax: shard each minibatch over the first N devices of JAX's default "
                        "platform (default: all of them; --batch-size must divide by N)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initial weights and shuffling, >= 0 (default: 0)")
    p.add_argument("--grad-norms", action="store_true",
                   help="print a table of each param's gradient L2 norm (mean over an epoch's steps) at the first, "
                        "middle and last epochs: vanishing or exploding gradients show as a trend over the layers")
    p.add_argument("--save", metavar="PARAMS.npz",
                   help="write the trained params, one array per name (.npz is added to a name without a "
                        "suffix); checked before training, never the data or model file")
    p.set_defaults(func=run)


# ---- the data file ----------------------------------------------------------------------
def load_data(path, targets=1):
    """(X, y, description) from ``.npz`` (arrays X, y) or ``.csv`` (last ``targets`` columns)."""
    if not os.path.exists(path):
        raise DataError(f"data file {path!r} does not exist")
    if not os.path.isfile(path):
        raise DataError(f"data file {path!r} is not a file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        return _load_npz(path)
    if ext == ".csv":
        return _load_csv(path, targets)
    raise DataError(f"data file {path}: unknown format {ext or '(no extension)'!r}; use .npz (arrays X, y) or .csv")


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise DataError(f"data file {path}: not a readable .npz archive ({type(e).__name__}: {e})") from e
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise DataError(f"data file {path}: needs arrays 'X' and 'y'; missing {', '.join(map(repr, missing))} "
                        f"(found: {', '.join(map(repr, arrays)) or 'none'})")
    X, y = arrays["X"], arrays["y"]
    for key, a in (("X", X), ("y", y)):
        if a.dtype.kind not in "iufb":
            raise DataError(f"data file {path}: array {key!r} holds {a.dtype}, not numbers")
        if a.ndim == 0 or a.shape[0] == 0:
            raise DataError(f"data file {path}: array {key!r} is empty or a scalar (shape {a.shape})")
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != y.shape[0]:
        raise DataError(f"data file {path}: X has {X.shape[0]} rows but y has {y.shape[0]}")
    for key, a in (("X", X), ("y", y)):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise DataError(f"data file {path}: {key}[{', '.join(map(str, bad))}] is {a[bad]}; "
                            "remove or fill rows with missing values")
    what = f"{X.shape[1]} features" if X.ndim == 2 else f"each of shape {X.shape[1:]}"  # images, sequences
    return X, y, f"{X.shape[0]} samples, {what}"


def _data_lines(path):
    """(line number, text) of the lines numpy reads as rows: not blank, not a # comment."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [(i, line) for i, line in enumerate(f, 1) if line.strip() and not line.lstrip().startswith("#")]
    except OSError as e:  # unreadable: permissions, a vanished mount
        raise DataError(f"data file {path}: cannot be read ({e.strerror or e})") from None


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _load_csv(path, targets):
    lines = _data_lines(path)
    if not lines:
        raise DataError(f"data file {path}: no rows")
    first = [c.strip() for c in lines[0][1].split(",")]
    header = not all(_is_number(c) for c in first if c)
    rows = lines[1:] if header else lines
    if not rows:
        raise DataError(f"data file {path}: a header and no rows")
    columns = len(first)
    for number, line in rows:  # numpy's own message says "Line #k" counting differently: name the line here
        got = len(line.split(","))
        if got != columns:
            raise DataError(f"data file {path}, line {number}: {got} columns, but the "
                            f"{'header' if header else 'first row'} has {columns}")
    try:
        data = np.genfromtxt(path, delimiter=",", dtype=np.float64, skip_header=lines[0][0] if header else 0,
                             comments="#", ndmin=2)
    except ValueError as e:
        raise DataError(f"data file {path}: cannot be read as numbers ({e})") from e
    if not np.isfinite(data).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(data))[0])
        number, line = rows[r]
        cell = line.rstrip("\n").split(",")[c].strip()
        what = "is empty" if not cell else f"is {cell!r}, not a finite number"
        raise DataError(f"data file {path}, line {number}, column {c + 1}"
                        f"{' (' + first[c] + ')' if header else ''}: {what}")
    if not 1 <= targets < columns:
        raise DataError(f"data file {path}: {columns} columns; --targets {targets} leaves "
                        f"{columns - targets} feature column(s) (need at least 1)")
    X, y = data[:, :-targets], data[:, -targets:]
    if targets == 1:
        y = y[:, 0]
    what = f"{X.shape[1]} features" if X.ndim == 2 else f"each of shape {X.shape[1:]}"  # images, sequences
    return X, y, f"{X.shape[0]} samples, {what}" + (" (header row skipped)" if header else "")


# ---- saving the params -----------------------------------------------------------------
def save_target(path, protect=()):
    """The file ``--save path`` writes, checked before training (ArgumentError otherwise).

    It is ``path`` itself, or ``path.npz`` when the name has no suffix.  It must not be one of
    the ``protect`` files (``[(what, path)]``: the data and model files, compared after
    resolving links, and by inode when both exist, so hard links count); its directory must
    exist and take a new file; an existing target must be a writable file.

    >>> save_target("params") , save_target("params.bin")
    ('params.npz', 'params.bin')
    """
    if not path:
        raise ArgumentError("--save needs a file name, e.g. --save params.npz")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise ArgumentError(f"--save {path}: is a directory; give a file name, e.g. {os.path.join(path, 'params.npz')}")
    final = path if os.path.splitext(path)[1] else path + ".npz"
    for what, other in protect:
        if _same_file(final, other):
            raise ArgumentError(f"--save {final} would overwrite the {what} file {other}; save under another name")
    real = os.path.realpath(final)  # through a symlink: the file it points at is what gets written
    directory = os.path.dirname(real)
    if not os.path.isdir(directory):
        raise ArgumentError(f"--save {final}: {directory} " +
                            ("is not a directory" if os.path.exists(directory) else "directory does not exist"))
    if os.path.exists(real) and not (os.path.isfile(real) and os.access(real, os.W_OK)):
        raise ArgumentError(f"--save {final}: {'is not writable' if os.path.isfile(real) else 'is not a regular file'}")
    try:  # the only sure test of "can write here" (permissions, read-only mounts, quotas, root)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".symbackprop-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ArgumentError(f"--save {final}: cannot write in {directory} ({e.strerror or e})") from None
    return final


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def write_params(path, params):
    """Write ``params`` ({name: array}) as an ``.npz`` at exactly ``path``, atomically: into
    a temporary file of the same directory, then renamed over ``path``, so a failure leaves
    the old file (or none), never half a file."""
    real = os.path.realpath(path)
    directory, base = os.path.split(real)
    mode = stat.S_IMODE(os.stat(real).st_mode) if os.path.exists(real) else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **params)  # a file object: numpy appends no suffix
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes 0600; keep the old file's mode, else the usual one
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_params(path, params):
    """Write the trained params to ``path``; when that fails (the disk filled, the directory
    went away during training), write them to a new file in the current directory or the
    temporary directory instead and raise a SaveError naming both, so no training is lost."""
    try:
        write_params(path, params)
        return
    except OSError as e:
        failure = f"could not write the trained params to {path} ({type(e).__name__}: {e.strerror or e})"
    for directory in (os.getcwd(), tempfile.gettempdir()):
        try:
            fd, fallback = tempfile.mkstemp(dir=directory, prefix="symbackprop-params-", suffix=".npz")
            os.close(fd)
            write_params(fallback, params)
        except OSError:
            continue
        raise SaveError(f"{failure}; saved them to {fallback} instead", fallback)
    raise SaveError(f"{failure}, nor to a new file in {os.getcwd()} or {tempfile.gettempdir()}: they are lost")


# ---- training ---------------------------------------------------------------------------
def check_options(args):
    """Refuse bad numbers before anything runs: counts below 1, a learning rate that is not a
    finite positive number, a negative seed (argparse already refused text where a number
    goes)."""
    for name, least in (("epochs", 1), ("batch_size", 1), ("targets", 1), ("seed", 0)):
        value = getattr(args, name)
        if value < least:
            raise ArgumentError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise ArgumentError(f"--lr must be a finite number > 0, got {args.lr}")
    if getattr(args, "devices", None) is not None and args.backend != "jax":
        raise ArgumentError(f"--devices is for --backend jax (the {args.backend} backend runs on one CPU core)")


def make_optimizer(kind, lr, from_file):
    """The optimizer: ``kind`` (sgd/adam) with ``lr``, else the file's (lr replaced), else Adam(1e-3)."""
    import symbackprop as sb
    if kind is not None:
        cls = sb.optim.SGD if kind == "sgd" else sb.optim.Adam
        return cls(lr=lr) if lr is not None else cls()
    optimizer = from_file if from_file is not None else sb.optim.Adam(lr=1e-3)
    if lr is not None:
        if not (math.isfinite(lr) and lr > 0):
            raise ArgumentError(f"--lr must be a finite number > 0, got {lr}")
        optimizer.hyper["lr"] = float(lr)  # hyperparameters are runtime arguments of the compiled loop
    return optimizer


def accuracy(loss, scores, y):
    """Training accuracy in % for classification losses, else None."""
    y = np.asarray(y)
    if loss == "cross_entropy":
        return 100.0 * np.mean(np.argmax(scores, axis=1) == y.reshape(-1).astype(np.int64))
    if loss == "bce":
        return 100.0 * np.mean((scores > 0) == (y.reshape(scores.shape) > 0.5))
    if loss == "hinge":
        return 100.0 * np.mean(np.sign(scores) == y.reshape(scores.shape))
    return None


def grad_norm_table(grad_norms, marks):
    """A text table: one row per param (first layer first), one column per epoch in ``marks``
    (0-based), each the param's gradient norm in that epoch, and the last epoch's norm
    relative to the largest of the last epoch.

    >>> print(grad_norm_table({"0.weight": [1e-4, 2e-5], "2.weight": [0.5, 0.25]}, [0, 1]))
    gradient L2 norm (mean over each epoch's steps)
      param       epoch 1    epoch 2   last/max
      0.weight     0.0001      2e-05    8.0e-05
      2.weight        0.5       0.25    1.0e+00
    """
    names = list(grad_norms)
    width = max(len("param"), *(len(n) for n in names))
    top = max((grad_norms[n][marks[-1]] for n in names), default=0.0)
    lines = ["gradient L2 norm (mean over each epoch's steps)",
             "  " + "param".ljust(width) + "".join(f"{'epoch ' + str(e + 1):>11s}" for e in marks) +
             f"{'last/max':>11s}"]
    for name in names:
        values = grad_norms[name]
        ratio = values[marks[-1]] / top if top > 0 else float("nan")
        lines.append("  " + name.ljust(width) + "".join(f"{values[e]:11.4g}" for e in marks) + f"{ratio:11.1e}")
    return "\n".join(lines)


def run(args):
    """Load, train, report, save; returns 0 (user errors raise SymbackpropError: exit status 2)."""
    import symbackprop as sb
    from symbackprop.cli.demo import pick_backend

    check_options(args)
    save = None
    if args.save is not None:  # checked before training, which may take hours
        save = save_target(args.save, [("data", args.data), ("model", args.model)])
    model = load_model(args.model)
    X, y, described = load_data(args.data, args.targets)
    net = model["net"]
    loss = next((v for v in (args.loss, model.get("loss")) if v is not None), "mse")  # an Expr has no truth value
    optimizer = make_optimizer(args.optimizer, args.lr, model.get("optimizer"))
    backend, note = pick_backend(args.backend)
    if note:
        print(note)

    expected = input_features(net)
    if expected is not None and expected != X.shape[1]:
        raise DataError(f"data file {args.data} has {X.shape[1]} feature column(s) but the model in {args.model} "
                        f"takes {expected} inputs (its first Linear layer)" +
                        (f"; CSV targets are the last --targets {args.targets} column(s)"
                         if args.data.lower().endswith(".csv") else ""))
    tr = sb.Trainer(net, loss=loss, optimizer=optimizer, backend=backend, dtype=args.dtype, seed=args.seed,
                    devices=args.devices)
    loss_name = loss if isinstance(loss, str) else "custom"
    print(f"model {args.model}: {net!r}")
    print(f"data {args.data}: {described}; loss {loss_name}, optimizer {optimizer!r}, {backend} backend")
    if tr.devices is not None:
        print(f"devices: {len(tr.devices)} ({', '.join(str(d) for d in tr.devices)}); each minibatch sharded "
              "over them")
    build_model(tr, X.shape[1:], args.model)
    try:
        seconds, warm = tr.compile(X, y)
    except (DataError, ShapeError) as e:
        raise type(e)(f"data file {args.data} does not fit the model in {args.model} with loss {loss_name}: "
                      f"{e}") from e
    if backend == "jax":
        print(f"compiled the training loop in {seconds:.2f} s (XLA)")
    elif backend != "numpy":
        print(f"compiled the training loop in {seconds:.2f} s ({'warm' if warm else 'cold'} cache)")
    t0 = time.perf_counter()
    hist = tr.fit(X, y, epochs=args.epochs, batch_size=args.batch_size)
    marks = sorted({0, len(hist.loss) // 2, len(hist.loss) - 1})
    for epoch in marks:
        print(f"  epoch {epoch + 1:5d}  loss {hist.loss[epoch]:.6g}")
    print(f"trained {args.epochs} epochs ({hist.steps} steps) in {time.perf_counter() - t0:.2f} s, "
          f"{1e6 * hist.seconds_per_step:.0f} µs/step")
    if args.grad_norms:
        print(grad_norm_table(hist.grad_norms, marks))
    acc = accuracy(loss_name, tr.predict(X), y)
    if acc is not None:
        print(f"training accuracy: {acc:.1f}%")
    if save is not None:
        state = {name: np.asarray(v) for name, v in tr.state_dict().items()}  # params, and buffers (BatchNorm)
        save_params(save, state)
        extra = len(state) - len(tr.params)
        print(f"saved {len(tr.params)} params{f' and {extra} buffers' if extra else ''} to {save} ({', '.join(state)})")
    return 0
