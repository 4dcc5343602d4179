"""Stabilising rewrites of scalar bodies: forms that overflow become named stable functions.

``log(1 + exp(x))`` → ``softplus(x)``, ``1/(1 + exp(−x))`` → ``σ(x)``,
``log(σ(x))`` → ``−softplus(−x)``, ``log(1 − σ(x))`` → ``−softplus(x)``.

>>> import sympy as sp
>>> from symbackprop.graph.scalar import ARG
>>> x = ARG[0]
>>> stabilise(sp.log(1 + sp.exp(x)))
softplus(x0)
>>> stabilise(sp.log(1 / (1 + sp.exp(-x))))
-softplus(-x0)
"""

from functools import lru_cache

import sympy as sp

from symbackprop.graph.scalar import sigmoid, softplus

_W = sp.Wild("w")


def _log_rule(arg):
    """log(arg) in a stable form, or None."""
    arg = _sigmoid_form(arg)
    if isinstance(arg, sigmoid):
        return -softplus(-arg.args[0])
    if arg.is_Add and len(arg.args) == 2:
        one, rest = (arg.args if arg.args[0] == 1 else arg.args[::-1])
        if one == 1:
            if isinstance(rest, sp.exp):
                return softplus(rest.args[0])
            neg = -rest
            if isinstance(neg, sigmoid):  # 1 - σ(x) = σ(-x)
                return -softplus(neg.args[0])
    return None


def _sigmoid_form(expr):
    """1/(1 + exp(-x)) → σ(x), else ``expr`` unchanged."""
    if expr.is_Pow and expr.exp == -1:
        base = expr.base
        if base.is_Add and len(base.args) == 2 and 1 in base.args:
            rest = base.args[1] if base.args[0] == 1 else base.args[0]
            if isinstance(rest, sp.exp):
                return sigmoid(-rest.args[0])
    return expr


@lru_cache(maxsize=4096)
def stabilise(expr):
    """``expr`` with unstable sub-expressions replaced by stable ones (same values)."""
    if not expr.has(sp.log, sp.exp):
        return expr

    def visit(e):
        if e.is_Atom:
            return e
        e = e.func(*[visit(a) for a in e.args]) if e.args else e
        if isinstance(e, sp.log):
            out = _log_rule(e.args[0])
            return e if out is None else out
        return _sigmoid_form(e)

    return visit(expr)
