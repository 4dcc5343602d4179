"""The numba printer keeps every grouping of the expression tree.

Random sympy trees (sums, products, quotients by powers, negative and fractional powers,
negation, Max/Min, piecewise with comparisons and boolean connectives) are printed, the
source is evaluated by Python (the printer targets Python's grammar, which numba shares), and
the value is compared with sympy's own numeric evaluation of the tree.  A lost parenthesis
(``a/b*b`` for ``a/(b*b)``) changes the value, so it fails here without compiling anything.
"""

import math

import numpy as np
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codegen.numba_backend.printer import print_expr

A, B, C = SYMS = sp.symbols("a b c", real=True)
VALUES = {A: 1.7, B: -0.6, C: 2.3}
NAMES = {A: "a", B: "b", C: "c"}

# Python stand-ins for the kernels' helper functions (same meaning, no compilation)
ENV = {"fexp": math.exp, "ftanh": math.tanh, "fsigmoid": lambda x: 1 / (1 + math.exp(-x)),
       "fsoftplus": lambda x: math.log1p(math.exp(x)), "fmaximum": lambda a, b: float(np.maximum(a, b)),
       "fminimum": lambda a, b: float(np.minimum(a, b)), "fsign": lambda x: float(np.sign(x)),
       "fheaviside": lambda x, h: float(np.heaviside(x, h)), "np": np, "math": math, "abs": abs,
       "a": VALUES[A], "b": VALUES[B], "c": VALUES[C]}


def trees():
    leaves = st.sampled_from([A, B, C, sp.Integer(2), sp.Rational(1, 3), sp.Integer(-3), sp.Float(0.25)])

    def extend(inner):
        return st.one_of(
            st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
            st.tuples(inner, inner).map(lambda t: t[0] - t[1]),
            st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
            st.tuples(inner, inner).map(lambda t: t[0] / (t[1] ** 2 + 1)),
            st.tuples(inner, inner).map(lambda t: t[0] / (t[1] * t[1] + sp.Rational(1, 2)) ** 3),
            st.tuples(inner, st.integers(-4, 5)).map(lambda t: (t[0] ** 2 + 1) ** t[1]),
            st.tuples(inner, st.sampled_from([sp.S.Half, -sp.S.Half, sp.Rational(3, 2)])).map(
                lambda t: (t[0] ** 2 + 1) ** t[1]),
            inner.map(lambda t: -t),
            inner.map(lambda t: -(t ** 3)),
            st.tuples(inner, inner).map(lambda t: sp.Max(t[0], t[1])),
            st.tuples(inner, inner, inner).map(lambda t: sp.Min(t[0], t[1], t[2])),
            st.tuples(inner, inner, inner).map(lambda t: sp.Piecewise((t[0], t[1] > t[2]), (-t[0], True))),
            st.tuples(inner, inner, inner).map(
                lambda t: sp.Piecewise((t[0], sp.And(t[1] > 0, sp.Or(t[2] < 1, t[1] >= t[2]))), (t[2], True))),
            inner.map(lambda t: sp.tanh(t) + sp.exp(-t ** 2)),
            inner.map(lambda t: sp.Heaviside(t - 1, 0) * t + sp.sign(t)),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=150, deadline=None, database=None)
@given(expr=trees())
def test_printed_source_evaluates_to_the_value_of_the_tree(expr):
    try:
        want = complex(expr.evalf(30, subs=VALUES))
    except (TypeError, ValueError):  # sympy leaves some trees unevaluated (a Piecewise over a float comparison)
        assume(False)
    if abs(want.imag) > 0 or not math.isfinite(want.real) or abs(want.real) > 1e12:
        return  # outside the real, finite values this compares
    source = print_expr(expr, NAMES)
    with np.errstate(all="ignore"):
        got = eval(source, dict(ENV))  # noqa: S307 (our own printed source)
    assert math.isclose(got, want.real, rel_tol=1e-9, abs_tol=1e-9), f"{expr}\n  printed {source}\n  = {got}, want {want.real}"


def test_a_quotient_by_a_power_keeps_its_parentheses():
    assert print_expr(A / B ** 2, NAMES) == "a/(b*b)"
    assert print_expr(A / (B * C), NAMES) == "a/(b*c)"
    assert print_expr(A * B ** -3, NAMES) == "a/(b*b*b)"
    assert print_expr((A + B) ** 2, NAMES) == "(a + b)*(a + b)"
    assert print_expr(-A ** 2, NAMES) == "-(a*a)"
    assert print_expr((-A) ** sp.Rational(3, 2), NAMES) == "(-a) ** 1.5"
