"""LaTeX claims: the name rule, textbook notation, mixing with sympy-syntax definitions,
and parse errors that point at the column."""

import pytest

from symbackprop.verify import verify
from symbackprop.verify.errors import ClaimSyntaxError
from symbackprop.verify.latex import parse
from symbackprop.verify.tree import show

NEURON = {"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"}


@pytest.mark.parametrize("latex, text", [
    (r"\hat{y}", "yhat"),
    (r"\bar{x} + \tilde{x}", "(xbar + xtilde)"),
    (r"y_{true}", "y_true"),
    (r"w_{12}", "w_12"),
    (r"w_{1,2}", "w_12"),
    (r"\delta_2", "delta_2"),
    (r"\hat{y}_i", "yhat_i"),
    (r"W^{(2)}", "W_2"),
    (r"\mathbf{W}", "W"),
    (r"\sigma(z)", "sigmoid(z)"),
    (r"\sigma'(z)", "sigmoid'(z)"),
    (r"\sigma''(z)", "sigmoid''(z)"),
    (r"\frac{\partial L}{\partial w}", "d(L, w)"),
    (r"\frac{dL}{dw}", "d(L, w)"),
    (r"\frac12", "(1 / 2)"),
    (r"e^{-z}", "exp(-z)"),
    (r"wx + b", "((w · x) + b)"),
    (r"y(1 - y)", "(y · (1 - y))"),
    (r"f(x)", "f(x)"),
    (r"f'(g(x))", "f'(g(x))"),
    (r"\tanh(z)^2", "(tanh(z) ** 2)"),
    (r"\log \hat{y}", "log(yhat)"),
    (r"\ln(x)", "log(x)"),
    (r"\operatorname{ReLU}(z)", "relu(z)"),
    (r"a^T", "a.T"),
    (r"a^\top", "a.T"),
    (r"\left( a + b \right) \cdot c", "((a + b) · c)"),
    (r"a \odot b", "(a * b)"),
    (r"\sqrt{x}", "sqrt(x)"),
    (r"\max(0, z)", "Max(0, z)"),
])
def test_name_rule_and_notation(latex, text):
    assert show(parse(latex)) == text


@pytest.mark.parametrize("claim, holds", [
    (r"\frac{\partial L}{\partial w} = (\hat{y} - y) \cdot \sigma'(z) \cdot x", True),
    (r"\frac{\partial L}{\partial w} = (y - \hat{y}) \cdot \sigma'(z) \cdot x", False),
    (r"\frac{\partial L}{\partial z} = (\hat{y} - y)\,\hat{y}(1 - \hat{y})", True),
    (r"\frac{\partial L}{\partial \hat{y}} = \hat{y} - y", True),
    (r"\sigma(z) = \frac{1}{1 + e^{-z}}", True),
    (r"\frac{\partial L}{\partial w} = \frac{\partial L}{\partial \hat{y}}"
     r"\frac{\partial \hat{y}}{\partial z} \frac{\partial z}{\partial w}", True),
])
def test_latex_claims_against_sympy_definitions(claim, holds):
    assert verify(claim, define=NEURON).holds is holds


def test_latex_definitions_and_names():
    define = {"z": r"w \cdot x + b", r"\hat{y}": r"\sigma(z)", "L": r"\frac12 (\hat{y} - y_{true})^2"}
    v = verify("d(L, w) == (yhat - y_true) * yhat * (1 - yhat) * x", define=define)
    assert v.holds


def test_approx_uses_written_digits():
    assert verify(r"\sigma(0.5) \approx 0.6225").holds
    v = verify(r"\sigma(0.5) \approx 0.6235")
    assert not v.holds and v.reason.startswith("rounding")
    assert not verify(r"\sigma(5) = 1").holds


def test_underscore_fallback_to_plain_name():
    define = {"a1": "sigmoid(z1)", "L": "a1**2"}
    assert verify(r"\frac{\partial L}{\partial a_1} = 2 a_1", define=define).holds


@pytest.mark.parametrize("text, col, words", [
    (r"\frac{\partial L}{\partial w = 1", 30, "unexpected"),
    (r"\foo x = 1", 1, r"unknown LaTeX command \foo"),
    (r"x + \partial y = 1", 5, r"\partial outside"),
    (r"\sigma' = 1", 1, "needs an argument"),
    (r"x = (y + 1", 11, "end of text"),
    (r"x = \frac{1}{2", 15, "end of text"),
])
def test_bad_latex_points_at_the_column(text, col, words):
    with pytest.raises(ClaimSyntaxError) as info:
        verify(text)
    assert info.value.col == col
    assert words in str(info.value)
    assert f"at column {col}" in str(info.value)
    assert str(info.value).splitlines()[-1] == "  " + " " * (col - 1) + "^"


def test_multi_letter_names_when_known():
    # Mazur's worked example: out_{o1} is one name because the definitions use out_o1
    define = {"net_o1": "w_5*out_h1 + w_6*out_h2 + b_2", "out_o1": "sigmoid(net_o1)",
              "E": "(target_o1 - out_o1)**2/2"}
    claim = (r"\frac{\partial E}{\partial w_5} = -(target_{o1} - out_{o1}) \cdot "
             r"out_{o1}(1 - out_{o1}) \cdot out_{h1}")
    assert verify(claim, define=define).holds
    v = verify(claim.replace("-(target", "(target"), define=define)
    assert not v.holds and v.reason == "sign"
    # unknown runs stay products of letters, as TeX means: wx is w·x
    assert show(parse("wx")) == "(w · x)"
    assert show(parse("wx", known={"wx"})) == "wx"


def test_layer_index_superscripts():
    assert show(parse(r"a^{(L)} + W^{[2]}")) == "(a_L + W_2)"
    assert verify(r"\frac{\partial a^{(L)}}{\partial z^{(L)}} = \sigma'(z^{(L)})",
                  define={"a_L": "sigmoid(z_L)"}).holds


@pytest.mark.parametrize("claim", [
    r"\frac{d}{dx} \tanh(x) = 1 - \tanh^2(x)",
    r"\frac{\partial}{\partial x} \sigma(x) = \sigma(x)(1 - \sigma(x))",
    r"\frac{\partial \sigma(x)}{\partial x} = \sigma(x)(1 - \sigma(x))",
    r"\frac{d}{dz} \log(1 + e^{z}) = \sigma(z)",
])
def test_derivative_operator_forms(claim):
    assert verify(claim).holds
