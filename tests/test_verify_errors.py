"""Every error path of verify: the error class, and a message naming what and where."""

import pytest

from symbackprop.errors import SymbackpropError, VerifyError
from symbackprop.verify import verify
from symbackprop.verify.errors import (ClaimSyntaxError, CyclicDefinitions, NotAnEquation,
                                       ShapeMismatch, UndefinedName)

NEURON = {"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"}


def raises(cls, claim, define=NEURON, **kw):
    with pytest.raises(cls) as info:
        verify(claim, define=define, **kw)
    assert isinstance(info.value, VerifyError) and isinstance(info.value, SymbackpropError)
    return info.value


def test_undefined_symbol_is_named_with_column_and_suggestion():
    e = raises(UndefinedName, "d(L, w) == (yhta - y) * x")
    assert "undefined symbol 'yhta'" in str(e) and "did you mean 'yhat'" in str(e)
    assert e.col == 13


def test_undefined_differentiation_variable():
    e = raises(UndefinedName, "d(L, q) == 0")
    assert "'q'" in str(e) and e.col == 6


def test_standalone_claims_have_free_variables():
    assert verify("d(u**2, u) == 2*u", define=NEURON).holds


def test_unknown_function():
    e = raises(UndefinedName, "d(L, w) == sigmod(z)")
    assert "unknown function 'sigmod'" in str(e) and e.col == 12


def test_variable_called_as_function():
    e = raises(UndefinedName, "d(L, w) == y(1 - y)")
    assert "'y' is a variable" in str(e)


def test_cyclic_definitions_name_the_cycle():
    e = raises(CyclicDefinitions, "d(L, w) == 0", define={"a": "b + 1", "b": "2*a", "L": "a*w"})
    assert "a -> b -> a" in str(e)


def test_self_reference_is_a_cycle():
    raises(CyclicDefinitions, "x == x", define={"a": "a + 1"})


@pytest.mark.parametrize("claim", ["d(L, w)", "sigmoid(0)", r"\frac{\partial L}{\partial w}"])
def test_claim_not_an_equation(claim):
    e = raises(NotAnEquation, claim)
    assert "equation" in str(e)


@pytest.mark.parametrize("claim, col", [("d(L, w)) == 0", 8), ("d(L, w) == (y -", 16),
                                         ("x $ 2 == 1", 3), ("a == b ==", 10)])
def test_sympy_syntax_errors_point_at_the_column(claim, col):
    e = raises(ClaimSyntaxError, claim)
    assert e.col == col and f"at column {col}" in str(e)


def test_bad_definition_names_the_definition():
    e = raises(ClaimSyntaxError, "d(L, w) == 0", define={"z": "w*", "L": "z"})
    assert "definition of 'z'" in str(e)


def test_derivative_needs_a_variable():
    e = raises(VerifyError, "d(L, 2*w) == 0")
    assert "must be a variable" in str(e)


def test_shape_mismatch_in_definition():
    e = raises(ShapeMismatch, "d(L, W) == 0", define={"z": "W @ W", "L": "sum(z)"},
               shapes={"W": [2, 3]})
    assert "inner sizes differ" in str(e)


def test_bad_assumption_and_bad_at():
    raises(VerifyError, "x == x", define={}, assume={"x": "happy"})
    raises(VerifyError, "d(L, w) == 0", at={"w": "abc"})
