"""A disk cache of lowered training programs, so a second run of the same script skips
deriving, simplifying and lowering (most of a cached start: the kernels themselves come
from the backends' own caches).

The key names everything the program is made from: the loss graph (its nodes' structural
keys cover the whole graph: shapes, dtypes, bodies, param names), the data leaves, the
param order, the optimizer's rules and names, and a digest of the source code of
``symbackprop`` and of ``codegen.program`` (a new version of the lowering never reads an
old program).  An entry that cannot be read, or is not a training program, is rebuilt.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
>>> L = sb.mse(sb.nn.Linear(2, 1)(x), y)
>>> len(program_key(L, ["weight", "bias"], x, y, sb.optim.SGD(lr=0.1)))
32
"""

import dataclasses
import hashlib
import pickle
from pathlib import Path

import codegen
from codegen.bodies import digest
from codegen.program import Program, TrainingProgram

_sources = {}


def _source_digest():
    """sha256 of the code a training program is made by (read once per process)."""
    if "digest" not in _sources:
        root = Path(__file__).resolve().parents[1]
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")) + [root.parent / "codegen" / "program.py"]:
            h.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
        _sources["digest"] = h.hexdigest()
    return _sources["digest"]


def _canonical(value):
    """A text for an option of the lowering: graph nodes by their structural keys."""
    if hasattr(value, "key") and isinstance(getattr(value, "key"), bytes):
        return "node:" + value.key.hex()
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_canonical(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_canonical(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)


def program_key(loss, param_names, x, y, optimizer, **extra):
    """The cache key (32 hex digits) of the training program of these arguments; ``extra``
    holds the further options the lowering takes (running statistics, dropout masks, the
    seed), graph nodes in them named by their structural keys."""
    h = hashlib.blake2b(digest_size=16)
    h.update(_source_digest().encode())
    for node in (loss, x, y):
        h.update(node.key)
    h.update(repr(list(param_names)).encode())
    h.update(f"{type(optimizer).__module__}.{type(optimizer).__qualname__}".encode())
    h.update(repr((tuple(optimizer.state), tuple(optimizer.hyper))).encode())
    for target, rule in optimizer.updates:
        h.update(target.encode() + b"\0" + digest(rule))
    h.update(_canonical(extra).encode())
    return h.hexdigest()


def cached_training_program(lower, loss, param_names, x, y, optimizer, **extra):
    """``lower(loss, param_names, x, y, optimizer, **extra)``, from the disk cache when an
    earlier process lowered the same program (``codegen.cache_dir("programs")``)."""
    directory = codegen.cache_dir("programs")
    if directory is None:
        return lower(loss, param_names, x, y, optimizer, **extra)
    path = directory / f"p_{program_key(loss, param_names, x, y, optimizer, **extra)}.pkl"
    try:
        with open(path, "rb") as f:
            program = pickle.load(f)
        if isinstance(program, TrainingProgram) and isinstance(program.step, Program):
            return program
    except Exception:  # absent, truncated, from another version of a dependency: rebuild
        pass
    program = lower(loss, param_names, x, y, optimizer, **extra)
    # the lazily printed formulas become a plain dict: the graph nodes behind them do not pickle
    stored = dataclasses.replace(program, step=dataclasses.replace(program.step, origins=dict(program.step.origins)))
    try:
        codegen.write_atomically(path, pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as error:
        codegen.cache_unusable(directory, error)
    return program
