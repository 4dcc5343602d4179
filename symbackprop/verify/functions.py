"""The functions a claim may call, and the two ways of naming a derivative.

The activations themselves live in ``symbackprop.graph.scalar`` (one definition each);
this module only maps claim-language names onto them:

- every name in ``scalar.FUNCTIONS`` (``sigmoid``, ``relu``, ``tanh``, ...), plus ``ln``
  (= ``log``), ``Abs``, ``Max``/``max``, ``Min``/``min``, ``step``/``Heaviside`` (0 at 0,
  PyTorch's relu' convention), and the reductions ``sum``, ``mean``, ``softmax``;
- a derivative is ``sigmoid'(z)`` or ``dsigmoid(z)`` (``''`` or ``dd`` for the second);
- any other single-letter name (``f``, ``g``, ``h``, optionally with digits or a
  subscript: ``f_1``, ``g2``) called with arguments is an abstract function; ``phi``,
  ``varphi`` and ``psi`` are too.  Any other unknown name called is an error, which catches
  typos like ``sigmod(z)``.

>>> resolve("dtanh")
('tanh', 1)
>>> resolve("sigmoid", primes=2)
('sigmoid', 2)
>>> resolve("f")
('f', 0)
>>> resolve("sigmod") is None
True
"""

import re
from functools import lru_cache

import sympy as sp

from symbackprop.graph import scalar

#: aliases onto scalar.FUNCTIONS names
ALIASES = {"ln": "log", "Abs": "abs", "sigma": "sigmoid", "ReLU": "relu", "Relu": "relu"}

#: functions of several arguments, or of a whole vector/matrix (handled in world.py)
SPECIAL = {"Max", "max", "Min", "min", "step", "Heaviside", "sum", "mean", "softmax", "diag"}

_ABSTRACT = re.compile(r"^([a-zA-Z]|phi|varphi|psi)(_?[0-9A-Za-z]*)?$")

#: functions evaluated elementwise, by canonical name
ELEMENTWISE = scalar.FUNCTIONS


def canonical(name):
    """The ``scalar.FUNCTIONS`` key (or special name) that ``name`` spells, else None.

    >>> canonical("ln"), canonical("ReLU"), canonical("sigmoid")
    ('log', 'relu', 'sigmoid')
    """
    name = ALIASES.get(name, name)
    if name in ELEMENTWISE or name in SPECIAL:
        return name
    low = name.lower()
    if low in ELEMENTWISE:
        return low
    return None


def is_abstract(name):
    """True for names that stand for an arbitrary function: f, g, h, f_1, phi, ...

    >>> is_abstract("g"), is_abstract("f_2"), is_abstract("yhat")
    (True, True, False)
    """
    return bool(_ABSTRACT.match(name)) and len(name) <= 8 and (
        len(name) == 1 or not name[1:].isalpha() or name in ("phi", "varphi", "psi"))


def resolve(name, primes=0):
    """(function name, number of derivatives) for a called name, or None if unknown.

    A leading ``d`` (``dsigmoid``) counts as one derivative when the rest is a known
    function and the whole name is not itself one.

    >>> resolve("drelu"), resolve("log")
    (('relu', 1), ('log', 0))
    """
    known = canonical(name)
    if known is not None:
        return known, primes
    rest, n = name, primes
    while rest.startswith("d") and len(rest) > 1:
        rest, n = rest[1:], n + 1
        known = canonical(rest)
        if known is not None and known in ELEMENTWISE:
            return known, n
    if is_abstract(name):
        return name, primes
    return None


def known_names():
    """Every callable name, for error messages.

    >>> "sigmoid" in known_names()
    True
    """
    return sorted(set(ELEMENTWISE) | SPECIAL | set(ALIASES))


def apply(name, n, arg):
    """``name`` differentiated ``n`` times, applied to one scalar sympy argument.

    Uses ``scalar.derivative`` so relu' is 0 at 0 as in PyTorch.

    >>> z = sp.Symbol("z")
    >>> apply("sigmoid", 1, z)
    (1 - sigmoid(z))*sigmoid(z)
    """
    body = _exact(ELEMENTWISE[name])
    for _ in range(n):
        body = scalar.derivative(body, 0)
    return body(arg)


@lru_cache(maxsize=None)
def _exact(body):
    """A body with its decimal constants as the exact numbers they are written as
    (leaky_relu's slope ``0.01`` is 1/100), as claims read decimals: so
    ``d(leaky_relu(x), x) == 0.01`` holds for x < 0 exactly, not within a tolerance.

    >>> _exact(ELEMENTWISE["leaky_relu"]).expr.args[1]
    (x0/100, True)
    """
    if not body.has(sp.Float):
        return body
    return sp.Lambda(body.variables, sp.nsimplify(body.expr, rational=True))


def apply_abstract(name, n, args):
    """An abstract function ``name`` (sympy ``Function``), differentiated ``n`` times.

    ``f'(u)`` is ``Derivative(f(u), u)``, written as sympy writes the chain rule's result,
    so a claim ``d(f(g(x)), x) == f'(g(x)) * g'(x)`` compares like with like.

    >>> x = sp.Symbol("x")
    >>> apply_abstract("f", 1, [x])
    Derivative(f(x), x)
    """
    f = sp.Function(name)
    if n == 0:
        return f(*args)
    if len(args) != 1:
        raise ValueError(f"{name}{chr(39) * n}: a derivative needs exactly one argument")
    u = args[0]
    if isinstance(u, (sp.Symbol, sp.core.function.AppliedUndef)):
        return sp.Derivative(f(u), (u, n))
    xi = sp.Dummy("xi")
    return sp.Subs(sp.Derivative(f(xi), (xi, n)), xi, u)
