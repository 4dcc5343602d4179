"""``symbackprop derive MODEL.py``: print the simplified gradient formulas of a model.

MODEL.py follows the one convention ``train`` reads too (``symbackprop.cli.model``): it
defines ``net`` (an ``sb.nn`` module; its loss graph is built as ``train`` builds it) and
optionally ``loss``, or, without ``net``, ``loss`` as a scalar Expr of a graph of its own; and
optionally ``wrt``, the nodes (or their names) to differentiate by, every param by default.

``--wrt NAME`` (repeatable) overrides ``wrt`` by leaf name (``W1``, ``0.weight``) or display
name (``W₁``).  ``--latex`` prints LaTeX instead of text; ``--expand`` adds the
per-element formulas (``sb.expand``) for batch size ``--N`` (default 1); ``--draw FILE``
writes the drawing of the loss and its gradients (``sb.draw``; ``.svg``, or ``.png`` with
matplotlib).

>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> register(sub)
"""

import os

from symbackprop.autodiff import grad
from symbackprop.errors import ArgumentError


def register(subparsers):
    """Add the ``derive`` subcommand."""
    p = subparsers.add_parser(
        "derive", help="print the simplified gradient formulas of MODEL.py, step by step",
        description="Runs MODEL.py (the same file `symbackprop train` reads: `net` and optionally `loss`, or "
                    "`loss` as a scalar symbackprop Expr of a graph of its own; optionally `wrt`, the nodes to "
                    "differentiate by, every param by default) and prints the derivation: forward definitions, "
                    "δ for every layer from the output down, and each ∂L/∂param.")
    p.add_argument("model", metavar="MODEL.py", help="a Python file defining `net` (and optionally `loss`, `wrt`), "
                                                     "or `loss` as a graph")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of Unicode text")
    p.add_argument("--wrt", nargs="+", metavar="NAME", action="extend",
                   help="differentiate by these leaves (leaf or display names), instead of MODEL.py's `wrt`")
    p.add_argument("--expand", action="store_true", help="also print per-element formulas (small nets only)")
    p.add_argument("--N", type=int, default=1, dest="batch", metavar="N",
                   help="batch size for --expand, >= 1 (default 1)")
    p.add_argument("--draw", metavar="FILE",
                   help="also write the drawing of the loss and its gradients to FILE (.svg, or .png with matplotlib)")
    p.add_argument("--expand-layers", action="store_true",
                   help="with --draw: one box per node instead of one per layer")
    p.set_defaults(func=run)


def load(path):
    """(loss, wrt) defined by the model file at ``path`` (``symbackprop.cli.model``)."""
    from symbackprop.cli.model import derive_loss
    return derive_loss(path)


def resolve(loss, names, path="MODEL.py"):
    """The leaves of ``loss`` called ``names`` (leaf names or display names, or nodes)."""
    from symbackprop.cli.model import ModelFileError
    from symbackprop.graph.node import Expr
    from symbackprop.graph.traverse import leaves
    from symbackprop.render.names import display_name
    if names is None:
        return None
    if isinstance(names, (Expr, str)):
        names = [names]
    table = {}
    for leaf in leaves([loss]):
        if leaf.op in ("input", "param"):
            table.setdefault(leaf.name, leaf)
            table.setdefault(str(display_name(leaf)), leaf)
    out = []
    for item in names:
        if isinstance(item, Expr):
            out.append(item)
        elif item in table:
            out.append(table[item])
        else:
            known = sorted(n.name for n in leaves([loss]) if n.op == "param")
            raise ModelFileError(f"{path}: `loss` has no leaf named {item!r}; its params are {', '.join(known)}")
    return out


def run(args):
    """Print the derivation; 0 on success (errors reach the dispatcher as SymbackpropError)."""
    from symbackprop.render.expand import expand
    from symbackprop.render.explain import explain
    from symbackprop.render.names import display_name
    if args.batch < 1:
        raise ArgumentError(f"--N must be at least 1, got {args.batch}")
    if args.draw is not None and os.path.splitext(args.draw)[1].lower() not in (".svg", ".png"):
        raise ArgumentError(f"--draw {args.draw}: the drawing is written as .svg or .png")
    loss, wrt = load(args.model)
    targets = resolve(loss, args.wrt if args.wrt else wrt, args.model)
    ex = explain(loss, wrt=targets)
    print(ex.latex() if args.latex else str(ex))
    if args.expand:
        print()
        for target, g in ex.gradients.items():
            values = expand(g, sizes={"N": args.batch})
            label = display_name(target) or target.describe()
            print(f"∂L/∂{label}, element by element (N = {args.batch}):")
            items = _elements(values)
            for idx, e in items:
                import sympy as sp
                text = sp.latex(e) if args.latex else sp.sstr(e)
                print(f"  [{','.join(str(i + 1) for i in idx)}] {text}" if idx else f"  {text}")
    if args.draw is not None:
        from symbackprop.render.draw import draw
        grads = list(ex.gradients.values())
        draw([loss] + [grad(loss, t) for t in ex.gradients], expand=args.expand_layers).save(args.draw)
        print(f"\nwrote {args.draw} (the loss and {len(grads)} gradient(s); "
              f"{'every node' if args.expand_layers else 'one box per layer'})")
    return 0


def _elements(values):
    import sympy as sp
    if isinstance(values, sp.MatrixBase):
        return [((i, j) if values.shape[1] > 1 else (i,), values[i, j])
                for i in range(values.shape[0]) for j in range(values.shape[1])]
    if isinstance(values, sp.NDimArray):
        import itertools
        return [(idx, values[idx]) for idx in itertools.product(*[range(d) for d in values.shape])]
    return [((), values)]
