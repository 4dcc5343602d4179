"""``symbackprop derive MODEL.py``: print the simplified gradient formulas of a model.

MODEL.py is a Python file that builds a graph and defines, at module level:

- ``loss``: a scalar ``sb.Expr`` (required);
- ``wrt``: optional, a node or list of nodes (or their names) to differentiate by;
  every param of ``loss`` by default.

``--wrt NAME`` (repeatable) overrides ``wrt`` by leaf name (``W1``, ``0.weight``) or display
name (``W₁``).  ``--latex`` prints LaTeX instead of text; ``--expand`` adds the
per-element formulas (``sb.expand``) for batch size ``--N`` (default 1).

>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> register(sub)
"""

from symbackprop.errors import ArgumentError


def register(subparsers):
    """Add the ``derive`` subcommand."""
    p = subparsers.add_parser(
        "derive", help="print the simplified gradient formulas of MODEL.py, step by step",
        description="Runs MODEL.py (which must define `loss`, a scalar symbackprop Expr, and may define `wrt`, "
                    "the nodes to differentiate by; every param by default) and prints the derivation: forward "
                    "definitions, δ for every layer from the output down, and each ∂L/∂param.")
    p.add_argument("model", metavar="MODEL.py", help="a Python file defining `loss` (and optionally `wrt`)")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of Unicode text")
    p.add_argument("--wrt", nargs="+", metavar="NAME", action="extend",
                   help="differentiate by these leaves (leaf or display names), instead of MODEL.py's `wrt`")
    p.add_argument("--expand", action="store_true", help="also print per-element formulas (small nets only)")
    p.add_argument("--N", type=int, default=1, dest="batch", metavar="N",
                   help="batch size for --expand, >= 1 (default 1)")
    p.set_defaults(func=run)


def load(path):
    """(loss, wrt) defined by the model file at ``path`` (run with ``sb`` and ``np`` predefined,
    as ``symbackprop train`` runs its model files)."""
    import numpy as np

    import symbackprop as sb
    from symbackprop.cli.train import ModelFileError, run_model_file, short_repr
    from symbackprop.graph.node import Expr
    env = run_model_file(path, init_globals={"sb": sb, "np": np})
    loss = env.get("loss")
    if not isinstance(loss, Expr):
        found = "nothing" if loss is None else f"{type(loss).__name__} {short_repr(loss)}"
        hint = ("; this looks like a `symbackprop train` model file (it defines `net`): derive needs the loss "
                "as a graph, e.g. x = sb.input('x', (None, 2)); loss = sb.mse(net(x), sb.input('y', (None, 1)))"
                if "net" in env else "")
        raise ModelFileError(f"model file {path} must define `loss`, a scalar symbackprop Expr (found {found}){hint}")
    if loss.shape != ():
        raise ModelFileError(f"model file {path}: `loss` must be a scalar, got {loss.describe()}")
    wrt = env.get("wrt")
    if not (wrt is None or isinstance(wrt, (Expr, str)) or
            (isinstance(wrt, (list, tuple)) and all(isinstance(w, (Expr, str)) for w in wrt))):
        raise ModelFileError(f"model file {path}: `wrt` must be a node, a leaf name, or a list of them, "
                             f"got {type(wrt).__name__} {short_repr(wrt)}")
    return loss, wrt


def resolve(loss, names, path="MODEL.py"):
    """The leaves of ``loss`` called ``names`` (leaf names or display names, or nodes)."""
    from symbackprop.cli.train import ModelFileError
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
