"""Backend-neutral pieces of a kernel's structure: what makes two steps compile to the same
function, whatever their buffers are named.

``canonical_map`` orders a map's operands by what a kernel sees of each (its description,
given by the backend) and by the place of its variable in the body, so the maps of two
layers list their operands alike and can share one compiled function.

>>> import sympy as sp
>>> from codegen.program import Map
>>> x0, x1 = sp.symbols("x0 x1", real=True)
>>> a = Map("t0", ("w1", "h1"), sp.Lambda((x0, x1), sp.tanh(x1) * x0))
>>> b = Map("t1", ("h2", "w2"), sp.Lambda((x0, x1), sp.tanh(x0) * x1))
>>> same = lambda name: ("(3,)", "float64", "")
>>> [n[0] for n in canonical_map(a, same).ins] == [n[0] for n in canonical_map(b, same).ins]  # w·tanh(h) alike
True
>>> canonical_map(a, same).body == canonical_map(b, same).body
True
"""

from dataclasses import fields
from functools import lru_cache

import sympy as sp

from codegen.bodies import digest
from codegen.program import Map

_THIS, _OTHER = sp.Symbol("_this", real=True), sp.Symbol("_other", real=True)


@lru_cache(maxsize=1 << 16)
def _place(body, k):
    """A digest of where variable ``k`` stands in ``body``: the body with that variable one
    marker and every other variable another.  Cached per (body, k): the maps of a deep
    network or a long chain repeat a few bodies, and this is the costly part of ordering."""
    variables = body.variables
    return digest(body.expr.xreplace({v: (_THIS if j == k else _OTHER) for j, v in enumerate(variables)}))


def canonical_map(step, describe):
    """``step`` (a map) with its operands in an order that does not depend on buffer names:
    by ``describe(name)`` (a sortable tuple of what the kernel sees of the operand: shape,
    dtype, how a view reads it) and the place of its variable in the body.  Returns ``step``
    itself when it is already in that order.
    """
    variables = _variables(step.body)
    if len(variables) < 2:
        return step
    order = sorted(range(len(variables)), key=lambda k: (describe(step.ins[k]), _place(step.body, k)))
    if order == list(range(len(variables))):
        return step
    return Map(step.out, tuple(step.ins[k] for k in order), _reordered(step.body, tuple(order)))


@lru_cache(maxsize=1 << 15)
def _variables(body):
    return body.variables  # sympy rebuilds the tuple on every access


@lru_cache(maxsize=1 << 14)
def _reordered(body, order):
    """``body`` with its variables renamed so operand ``order[j]`` is variable j (made once
    per body and order: a chain's thousands of maps repeat a few)."""
    variables = body.variables
    rename = {variables[k]: variables[j] for j, k in enumerate(order)}
    return sp.Lambda(variables, body.expr.xreplace(rename))


def step_key(steps, args, describe):
    """A hashable key equal for steps that compile to the same function: each step's kind and
    fields with the names of ``args`` (the buffers the function is given, in order) replaced
    by their positions, and ``describe(name)`` of each argument (what the backend's code sees
    of it: shape, dtype, how a view reads it, ...).  Maps should be ``canonical_map``-ed first.

    >>> import sympy as sp
    >>> x = sp.Symbol("x0", real=True)
    >>> same = lambda name: ("(3,)", "float64")
    >>> a = step_key((Map("t1", ("t0",), sp.Lambda(x, sp.tanh(x))),), ("t1", "t0"), same)
    >>> b = step_key((Map("t5", ("t4",), sp.Lambda(x, sp.tanh(x))),), ("t5", "t4"), same)
    >>> a == b
    True
    """
    position = {name: ("%arg", k) for k, name in enumerate(args)}

    def canonical(value):
        if isinstance(value, str):
            return position.get(value, value)
        if isinstance(value, tuple):
            return tuple(canonical(v) for v in value)
        return value

    parts = tuple((type(st).__name__,) + tuple(canonical(getattr(st, f.name)) for f in fields(st)) for st in steps)
    return parts, tuple(describe(name) for name in args)


__all__ = ["canonical_map", "step_key"]
