"""sb.verify on every claim kind: derivatives, chain-rule steps, intermediates held
independent, derivative names, numeric claims with tolerances, abstract functions, and
the reasons and counterexamples of wrong claims."""

import pytest
import sympy as sp

from symbackprop.verify import Verdict, verify

NEURON = {"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"}


def test_contract_example_holds_with_correct_form():
    v = verify("d(L, w) == (yhat - y) * yhat * (1 - yhat) * x", define=NEURON)
    assert isinstance(v, Verdict)
    assert v.holds is True
    yhat, y, x = sp.symbols("yhat y x", real=True)
    assert sp.expand(v.correct - (yhat - y) * yhat * (1 - yhat) * x) == 0
    assert v.counterexample is None and v.reason is None and v.difference == 0


@pytest.mark.parametrize("claim", [
    "d(L, z) == (yhat - y) * dsigmoid(z)",
    "d(L, z) == (yhat - y) * sigmoid'(z)",
    "d(L, yhat) == yhat - y",
    "d(L, w) == d(L, z) * x",
    "d(L, w) == d(L, yhat) * d(yhat, z) * d(z, w)",
    "d(L, b) = (yhat - y) * yhat * (1 - yhat)",
    "(yhat - y) * x * sigmoid'(z) == d(L, w)",
])
def test_correct_claims_hold(claim):
    assert verify(claim, define=NEURON).holds


def test_intermediate_is_held_independent():
    # d(L, z) is a function of z and y only: the forward value yhat is reused, w/x absent
    v = verify("d(L, z) == (yhat - y) * yhat * (1 - yhat)", define=NEURON)
    assert v.holds
    assert {s.name for s in v.correct.free_symbols} == {"y", "yhat"}


def test_only_downstream_paths_are_differentiated():
    # L uses z directly and through yhat; d(L, yhat) must not follow the direct path
    v = verify("d(L, yhat) == 2*yhat", define={"yhat": "sigmoid(z)", "L": "yhat**2 + z"})
    assert v.holds


@pytest.mark.parametrize("claim, reason", [
    ("d(L, w) == (y - yhat) * yhat * (1 - yhat) * x", "sign"),
    ("d(L, w) == 2 * (yhat - y) * yhat * (1 - yhat) * x", "extra factor 2"),
    ("d(L, w) == (yhat - y) * yhat * (1 - yhat) * x / 2", "missing factor 2"),
    ("d(L, w) == (yhat - y) * yhat * (1 - yhat)", "missing factor x"),
    ("d(L, w) == (yhat - y) * yhat * (1 - yhat) * x * x", "extra factor x"),
    ("d(L, w) == (yhat - y) * dsigmoid(z) * dsigmoid(z) * x",
     "extra factor yhat*(1 - yhat) (= sigmoid'(z))"),
    ("d(L, w) == (yhat - y) * yhat * (1 - yhat) * x + w", "extra term w"),
])
def test_wrong_claims_name_the_mistake(claim, reason):
    v = verify(claim, define=NEURON)
    assert v.holds is False
    assert v.reason == reason


def test_counterexample_is_readable_and_has_both_values():
    v = verify("d(L, w) == (yhat - y) * yhat * (1 - yhat)", define=NEURON)
    cx = v.counterexample
    assert set(cx) == {"b", "w", "x", "y"}
    assert all(val in (1, 2, -1, 3, 0.5, -2, 0, -0.5, 4, 1.5, -3, 5) for val in cx.values())
    assert cx["x"] != 1                          # x = 1 would hide a missing factor x
    assert cx[sp.Symbol("x", real=True)] == cx["x"]
    assert cx.lhs_value != pytest.approx(cx.rhs_value)
    # both values really are the two sides at that point
    s = 1 / (1 + sp.exp(-(cx["w"] * cx["x"] + cx["b"])))
    true = float((s - cx["y"]) * s * (1 - s) * cx["x"])
    assert cx.lhs_value == pytest.approx(true, rel=1e-12)
    assert cx.rhs_value == pytest.approx(true / cx["x"], rel=1e-12)


def test_difference_is_claimed_minus_true():
    v = verify("d((y - t)**2/2, y) == 2*(y - t)")
    y, t = sp.symbols("y t", real=True)
    assert sp.simplify(v.difference - (y - t)) == 0
    assert v.reason == "extra factor 2"


def test_counterexample_avoids_undefined_points():
    v = verify("d(log(x), x) == 1/x**2")
    assert not v.holds and v.reason == "missing factor x"
    assert v.counterexample["x"] not in (0, 1)


# -- numeric claims --------------------------------------------------------------------

def test_numeric_claims_are_exact_by_default():
    v = verify("sigmoid(5) == 1")
    assert not v.holds
    assert v.reason.startswith("rounding")
    assert float(v.correct) == pytest.approx(0.9933071490757153)
    assert v.counterexample.lhs_value == pytest.approx(0.9933071490757153)
    assert v.counterexample.rhs_value == 1
    assert verify("sigmoid(0) == 0.5").holds
    assert verify("exp(log(3)) == 3").holds


def test_rtol_allows_rounding():
    assert not verify("sigmoid(0.5) == 0.6225").holds
    assert verify("sigmoid(0.5) == 0.6225", rtol=1e-4).holds
    assert not verify("sigmoid(0.5) == 0.6225", rtol=1e-6).holds


def test_at_makes_a_worked_example():
    at = {"w": 0.5, "x": 1, "b": 0, "y": 1}
    assert verify("d(L, w) == -0.0887", define=NEURON, at=at, rtol=1e-3).holds
    v = verify("d(L, w) == -0.0294", define=NEURON, at=at)
    assert not v.holds
    assert v.reason.startswith("wrong value")
    assert float(v.correct) == pytest.approx(-0.08872345867463688)
    assert dict(v.counterexample) == {"b": 0, "w": 0.5, "x": 1, "y": 1}


def test_decimals_are_exact():
    assert verify("0.1 + 0.2 == 0.3").holds


# -- functions ---------------------------------------------------------------------------

@pytest.mark.parametrize("claim", [
    "d(tanh(x), x) == 1 - tanh(x)**2",
    "dtanh(x) == 1 - tanh(x)**2",
    "d(softplus(x), x) == sigmoid(x)",
    "d(relu(x), x) == step(x)",
    "drelu(x) == step(x)",
    "d(exp(2*x), x) == 2*exp(2*x)",
    "sigmoid''(x) == dsigmoid(x)*(1 - 2*sigmoid(x))",
    "ddsigmoid(x) == sigmoid''(x)",
    "d(-(y*log(sigmoid(z)) + (1 - y)*log(1 - sigmoid(z))), z) == sigmoid(z) - y",
    "sigmoid(x) == 1/(1 + exp(-x))",
])
def test_activation_identities(claim):
    assert verify(claim).holds


def test_relu_derivative_follows_pytorch_at_zero():
    assert verify("drelu(0) == 0").holds
    assert not verify("drelu(0) == 1").holds


@pytest.mark.parametrize("claim, holds", [
    ("d(f(g(x)), x) == f'(g(x)) * g'(x)", True),
    ("d(f(x)*g(x), x) == f'(x)*g(x) + f(x)*g'(x)", True),
    ("d(f(2*x), x) == 2*f'(2*x)", True),
    ("d(f(g(x)), x) == f'(x) * g'(x)", False),
    ("d(f(x)*g(x), x) == f'(x)*g'(x)", False),
])
def test_abstract_functions(claim, holds):
    v = verify(claim)
    assert v.holds is holds
    if not holds:
        assert v.counterexample.functions    # says what f and g were replaced by
        assert v.counterexample.lhs_value != v.counterexample.rhs_value


def test_assumptions_reach_the_symbols():
    assert verify("sqrt(x**2) == x", assume={"x": "positive"}).holds
    assert not verify("sqrt(x**2) == x").holds


def test_explain_text():
    text = verify("d(L, w) == (y - yhat) * yhat * (1 - yhat) * x", define=NEURON).explain()
    assert text.startswith("✗ d(L, w)")
    assert "reason:         sign" in text
    assert "counterexample:" in text and "left side =" in text
    assert verify("d(L, yhat) == yhat - y", define=NEURON).explain().startswith("✓")


def test_to_dict_fields():
    d = verify("d(L, w) == (y - yhat) * yhat * (1 - yhat) * x", define=NEURON,
               name="sign").to_dict()
    assert d["name"] == "sign" and d["holds"] is False and d["reason"] == "sign"
    assert set(d) >= {"holds", "correct", "difference", "counterexample", "reason",
                      "lhs_value", "rhs_value"}
    assert isinstance(d["correct"], str) and isinstance(d["counterexample"], dict)


def test_counterexample_keeps_forward_values_defined():
    # L = log(1 - yhat) is undefined for yhat >= 1: no counterexample may sit there
    v = verify("d(L, yhat) == 1/(1 - yhat)", define={"L": "log(1 - yhat)"})
    assert not v.holds and v.reason == "sign"
    assert v.counterexample["yhat"] < 1
