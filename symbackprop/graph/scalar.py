"""Elementwise scalar functions: one sympy definition each (DESIGN.md, "one op, one place").

Every activation is a ``sympy.Lambda`` over canonical real symbols.  Its derivative comes
from ``sympy.diff``, its formula from sympy's printers and its code from the backends'
scalar printers, so adding an activation never touches autodiff or codegen.

Two functions are named sympy functions rather than closed forms, because their closed
forms are numerically poor and unreadable once differentiated: ``sigmoid`` (whose
``sympy.diff`` of ``1/(1+exp(-x))`` is ``exp(-x)/(1+exp(-x))**2``, NaN for x < -710, instead
of ``σ(x)(1−σ(x))``) and ``softplus`` (``log(1+exp(x))`` overflows for x > 710).  Each
carries its derivative, its closed form (``.rewrite(sympy.exp)``) and a stable numpy
implementation, all in its class.

>>> from symbackprop.graph.scalar import FUNCTIONS, derivative
>>> FUNCTIONS["tanh"]
Lambda(x0, tanh(x0))
>>> derivative(FUNCTIONS["sigmoid"], 0)
Lambda(x0, (1 - sigmoid(x0))*sigmoid(x0))
"""

from functools import lru_cache

import numpy as np
import scipy.special
import sympy as sp

#: canonical argument symbols of every elementwise body: x0, x1, ...
ARG = tuple(sp.Symbol(f"x{i}", real=True) for i in range(64))
x = ARG[0]

#: the batch size: a body may divide by it (``mean`` over the batch axis)
N = sp.Symbol("N", integer=True, positive=True)


class sigmoid(sp.Function):
    """The logistic function σ(x) = 1/(1 + e⁻ˣ), with σ' = σ(1 − σ).

    >>> sigmoid(x).diff(x)
    (1 - sigmoid(x0))*sigmoid(x0)
    >>> float(sigmoid(0))
    0.5
    """

    nargs = 1
    is_real = True

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return sp.S.Half
        if arg is sp.oo:
            return sp.S.One
        if arg is sp.S.NegativeInfinity:
            return sp.S.Zero
        return None

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return 1 / (1 + sp.exp(-arg))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _latex(self, printer):
        return r"\sigma\left(%s\right)" % printer._print(self.args[0])

    @staticmethod
    def numpy(z):
        """Stable for any z: never exp of a large positive number."""
        return scipy.special.expit(z)


class softplus(sp.Function):
    """softplus(x) = log(1 + eˣ), with softplus' = σ.

    >>> softplus(x).diff(x)
    sigmoid(x0)
    """

    nargs = 1
    is_real = True

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return sp.log(2)
        return None

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return sp.log(1 + sp.exp(arg))

    def _eval_rewrite_as_log(self, arg, **kwargs):
        return sp.log(1 + sp.exp(arg))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _latex(self, printer):
        return r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])

    @staticmethod
    def numpy(z):
        """Stable for any z: log(1 + eᶻ) computed as logaddexp(0, z)."""
        return np.logaddexp(0, z)


#: named functions the backends must implement themselves (name -> class)
NAMED_FUNCTIONS = {"sigmoid": sigmoid, "softplus": softplus}


def leaky_relu_body(negative_slope=0.01):
    """The body of leaky ReLU with the given slope (PyTorch's default 0.01).

    Written piecewise so that its derivative at 0 is the slope, as in PyTorch.

    >>> leaky_relu_body(0.1)
    Lambda(x0, Piecewise((x0, x0 > 0), (0.1*x0, True)))
    """
    return sp.Lambda(x, sp.Piecewise((x, x > 0), (sp.Float(negative_slope) * x, True)))


#: every built-in elementwise function, one line each
FUNCTIONS = {
    "exp": sp.Lambda(x, sp.exp(x)),
    "log": sp.Lambda(x, sp.log(x)),
    "sqrt": sp.Lambda(x, sp.sqrt(x)),
    "abs": sp.Lambda(x, sp.Abs(x)),
    "tanh": sp.Lambda(x, sp.tanh(x)),
    "sin": sp.Lambda(x, sp.sin(x)),
    "cos": sp.Lambda(x, sp.cos(x)),
    "sigmoid": sp.Lambda(x, sigmoid(x)),
    "softplus": sp.Lambda(x, softplus(x)),
    "relu": sp.Lambda(x, sp.Max(x, 0)),
    "leaky_relu": leaky_relu_body(0.01),
    "gelu": sp.Lambda(x, x * (1 + sp.erf(x / sp.sqrt(2))) / 2),
}


def _at_kinks(expr):
    """Apply PyTorch's convention at the kinks of piecewise-linear functions.

    sympy's ``diff(Max(x, 0))`` is ``Heaviside(x)`` with H(0) = 1/2; PyTorch's relu' (0) is 0,
    so a user comparing numbers at 0 sees the same values.  ``DiracDelta`` (from a second
    derivative through a kink) is zero almost everywhere, which is what every framework uses.
    """
    expr = expr.replace(sp.DiracDelta, lambda *a: sp.S.Zero)
    return expr.replace(lambda e: isinstance(e, sp.Heaviside) and e.args[1:] != (0,),
                        lambda e: sp.Heaviside(e.args[0], 0))


@lru_cache(maxsize=None)
def derivative(body, i):
    """∂body/∂(argument i) as a Lambda over the same arguments (cached per body).

    >>> derivative(FUNCTIONS["relu"], 0)
    Lambda(x0, Heaviside(x0, 0))
    """
    args = body.variables
    return sp.Lambda(args, _at_kinks(sp.diff(body.expr, args[i])))


def numpy_namespace():
    """Names a numpy evaluation of a body needs beyond numpy/scipy: the named functions.

    >>> sorted(numpy_namespace())
    ['sigmoid', 'softplus']
    """
    return {name: cls.numpy for name, cls in NAMED_FUNCTIONS.items()}
