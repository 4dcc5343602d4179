"""Vector/matrix claims, checked elementwise on small concrete sizes."""

import sympy as sp

from symbackprop.verify import verify
from symbackprop.verify.expand import choose_sizes, element_names

MLP = {"z1": "W1 @ x + b1", "a1": "sigmoid(z1)", "z2": "W2 @ a1 + b2", "yhat": "sigmoid(z2)",
       "L": "sum((yhat - y)**2)/2", "delta2": "(yhat - y) * yhat * (1 - yhat)",
       "delta1": "(W2.T @ delta2) * a1 * (1 - a1)"}
# sizes fixed small so the whole file stays fast; still distinct (a transpose is caught)
SHAPES = {"x": ["n", 1], "W1": ["h", "n"], "b1": ["h", 1], "W2": ["m", "h"], "b2": ["m", 1],
          "y": ["m", 1]}
SIZES = {"n": 2, "h": 3, "m": 1}


def check(claim):
    return verify(claim, define=MLP, shapes=SHAPES, sizes=SIZES)


def test_sizes_are_small_and_distinct():
    assert choose_sizes({"a": ["p", "q"], "b": ["q", "r"]}) == {"p": 2, "q": 3, "r": 4}
    assert choose_sizes({"a": ["p", "q"]}, {"p": 3}) == {"p": 3, "q": 2}
    assert element_names("W2", (2, 2)) == [["W2_11", "W2_12"], ["W2_21", "W2_22"]]


def test_backprop_matrix_formulas_hold():
    for claim in ["d(L, z2) == delta2", "d(L, W2) == delta2 * a1.T", "d(L, W2) == delta2 @ a1.T",
                  "d(L, b2) == delta2", "d(L, z1) == delta1", "d(L, W1) == delta1 @ x.T",
                  "d(L, b1) == delta1"]:
        v = check(claim)
        assert v.holds, claim


def test_correct_is_a_matrix_of_the_right_shape():
    v = check("d(L, W1) == delta1 @ x.T")
    assert isinstance(v.correct, sp.MatrixBase) and v.correct.shape == (3, 2)


def test_transposed_gradient_is_caught():
    v = check("d(L, W1) == x @ delta1.T")
    assert not v.holds and v.reason.startswith("transposed")


def test_missing_activation_derivative_is_located():
    v = check("d(L, W1) == (W2.T @ delta2) @ x.T")
    assert not v.holds
    assert v.reason.startswith("missing factor a1_1*(1 - a1_1) (= sigmoid'(z1_1))")
    assert v.counterexample.element == (1, 1)


def test_latex_matrix_claim():
    assert check(r"\frac{\partial L}{\partial W^{(2)}} = \delta^{(2)} a_1^T").holds


def test_softmax_cross_entropy_vector_form():
    define = {"p": "softmax(z)", "L": "-sum(y * log(p))"}
    shapes = {"z": ["k", 1], "y": ["k", 1]}
    assert verify("d(L, z) == p*sum(y) - y", define=define, shapes=shapes).holds
    assert not verify("d(L, z) == p - y", define=define, shapes=shapes).holds
    assert verify("d(L, z) == p - y", define=define, shapes=shapes,
                  at={"y": [[0], [1]]}).holds
