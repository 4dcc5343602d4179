"""The ``symbackprop`` command: one subcommand per module of this package.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a ``run(args) -> exit status``.

>>> main(["--version"])  # doctest: +SKIP
"""

import argparse
import contextlib
import importlib
import os
import sys

from symbackprop.errors import SymbackpropError

#: subcommand modules, in the order ``--help`` lists them
COMMANDS = ("demo", "derive", "train", "verify", "bench")


def build_parser():
    """The argument parser with every available subcommand."""
    from symbackprop import __version__
    parser = argparse.ArgumentParser(
        prog="symbackprop",
        description="Symbolic gradients of neural networks: readable formulas, compiled training, verified derivations.")
    parser.add_argument("--version", action="version", version=f"symbackprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"symbackprop.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"symbackprop.cli.{name}":
                continue  # a command not built yet
            raise
        module.register(sub)
    return parser


def main(argv=None):
    """Entry point of the console script; returns (and exits with) the command's status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # A user's mistake is a SymbackpropError: one line naming it, exit status 2.  Anything else
    # is a bug of ours and keeps its traceback (so no `except Exception` here).
    try:
        status = args.func(args)
    except SymbackpropError as e:
        sys.stdout.flush()  # what the command printed so far comes before the error
        print(f"symbackprop {args.command}: error: {e}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    except BrokenPipeError:  # `symbackprop derive m.py | head`: the reader left; not an error of ours
        with contextlib.suppress(OSError, ValueError):  # no second error when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 141
    if argv is None:
        sys.exit(status)
    return status
