"""Elementwise functions on graph nodes: each applies one body from ``scalar.FUNCTIONS``.

>>> import symbackprop as sb
>>> z = sb.input("z", (None, 1))
>>> sb.sigmoid(z).attrs.body
Lambda(x0, sigmoid(x0))
>>> sb.elementwise(lambda u: u * sb.scalar.sigmoid(u))(z).shape   # swish, one line
(N, 1)
"""

import inspect

import sympy as sp

from symbackprop.errors import ArgumentError, UnsupportedFunction
from symbackprop.graph import ops
from symbackprop.graph.scalar import ARG, FUNCTIONS, leaky_relu_body


def _unary(name):
    body = FUNCTIONS[name]

    def fn(x):
        return ops.apply(body.expr, {body.variables[0]: ops._as_node(x, where=name)}, where=name)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise ``{body.expr}`` (x0 is each element).\n\n"
                  f"    >>> import symbackprop as sb\n    >>> sb.{name}(sb.input('x', (3,))).shape\n    (3,)\n")
    return fn


exp = _unary("exp")
log = _unary("log")
sqrt = _unary("sqrt")
abs = _unary("abs")
tanh = _unary("tanh")
sin = _unary("sin")
cos = _unary("cos")
sigmoid = _unary("sigmoid")
softplus = _unary("softplus")
relu = _unary("relu")
gelu = _unary("gelu")


def leaky_relu(x, negative_slope=0.01):
    """max(x, 0) + negative_slope·min(x, 0), PyTorch's default slope 0.01.

    >>> leaky_relu(ops.input("x", (3,)), 0.2).shape
    (3,)
    """
    body = leaky_relu_body(negative_slope)
    return ops.apply(body.expr, {body.variables[0]: ops._as_node(x, where="leaky_relu")}, where="leaky_relu")


def elementwise(fn, name=None):
    """Turn a user's scalar function into a graph function: one sympy line per activation.

    ``fn`` is a ``sympy.Lambda``, a sympy expression in one free symbol, or a Python
    callable on sympy symbols (``lambda u: u * sb.scalar.sigmoid(u)``).  Its derivative
    comes from ``sympy.diff``; it must use functions the backends evaluate (exp, log, tanh,
    sigmoid, erf, Max, Piecewise, ...), checked here rather than at compile time.

    >>> swish = elementwise(lambda u: u / (1 + sp.exp(-u)))
    >>> swish(ops.input("x", (3,))).attrs.body
    Lambda(x0, x0/(1 + exp(-x0)))
    """
    body = _as_lambda(fn)
    label = name or getattr(fn, "__name__", None) or "elementwise"
    ops.check_body(body.expr, f"elementwise {label}")

    def apply_fn(*xs):
        if len(xs) != len(body.variables):
            raise ArgumentError(f"elementwise {label}: takes {len(body.variables)} operand(s), got {len(xs)}")
        return ops.apply(body.expr, {v: ops._as_node(x, where=f"elementwise {label}") for v, x in zip(body.variables, xs)},
                         where=f"elementwise {label}")

    apply_fn.__name__ = label
    apply_fn.body = body
    return apply_fn


def _as_lambda(fn):
    if isinstance(fn, sp.Lambda):
        return fn
    if isinstance(fn, sp.Expr):
        free = sorted(fn.free_symbols, key=str)
        if len(free) != 1:
            raise UnsupportedFunction(
                f"elementwise: expression {fn} must have exactly one free symbol (got {len(free)}); "
                "pass a sympy.Lambda to say which symbols are the operands")
        return sp.Lambda(free[0], fn)
    if callable(fn):
        try:
            n = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            n = 1
        syms = ARG[:n]
        label = getattr(fn, "__name__", fn)
        try:
            result = fn(*syms)
        except Exception as e:
            raise UnsupportedFunction(
                f"elementwise: calling {label} on sympy symbols failed ({type(e).__name__}: {e}); "
                "write it with sympy functions (sympy.exp, sympy.tanh, sb.scalar.sigmoid, ...)") from None
        if isinstance(result, bool) or not isinstance(result, (sp.Expr, int, float)):
            raise UnsupportedFunction(
                f"elementwise: {label} returned {result!r} ({type(result).__name__}), not a sympy expression; "
                "it must compute one number from its operands with sympy functions")
        expr = sp.sympify(result)
        extra = expr.free_symbols - set(syms)
        if extra:
            raise UnsupportedFunction(f"elementwise: {label} returned {expr}, which uses symbols "
                                      f"{sorted(map(str, extra))} that are not its operands")
        return sp.Lambda(syms, expr)
    raise ArgumentError(f"elementwise: expected a sympy Lambda, expression or callable, got {type(fn).__name__}")
