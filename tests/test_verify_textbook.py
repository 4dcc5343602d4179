"""Derivations as textbooks print them: every line of the corpus in
examples/derivations/textbook is judged as its ``expect:`` says (each wrong line fails for
the stated reason), and each construct of the LaTeX reader means what the book means,
checked against an independent oracle (sympy's own derivative or plain arithmetic)."""

import pathlib

import pytest
import sympy as sp

from symbackprop.verify import verify
from symbackprop.verify.errors import ClaimError, ClaimSyntaxError, VerifyError
from symbackprop.verify.files import run_file
from symbackprop.verify.latex import parse
from symbackprop.verify.parse import parse_name
from symbackprop.verify.tree import show

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "examples" / "derivations" / "textbook"
NEURON = {"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"}


def test_the_corpus_has_at_least_60_lines_with_wrong_ones():
    entries = [e for p in CORPUS.glob("*.yaml") for e, _ in run_file(p)]
    assert len(entries) >= 60
    assert sum(e.expect != "holds" for e in entries) >= 15


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_corpus_line_is_judged_as_expected(path):
    for entry, v in run_file(path):
        assert entry.as_expected(v), (path.name, entry.line, entry.name, v.reason)


@pytest.mark.parametrize("latex, name", [
    (r"z_{l-1}", "z_lm1"), (r"a_{l+1}", "a_lp1"), (r"w_{l-1,l}", "w_lm1_l"),
    (r"a^{(l-1)}", "a_lm1"), (r"W^{[l]}", "W_l"), (r"\delta^{(l)}", "delta_l"),
    (r"\mathcal{L}", "L"), (r"\mathrm{x}", "x"), (r"\boldsymbol{\theta}", "theta"),
    (r"\bm{x}", "x"), (r"\mathit{y}", "y"), (r"\operatorname{loss}", "loss"), (r"\dot{x}", "xdot"),
])
def test_names_map_by_the_documented_rule(latex, name):
    assert show(parse(latex)) == name


def test_a_key_is_always_a_name_and_a_claim_reads_it_back():
    assert parse_name(r"\sigma_B^2") == "sigma_2_B" and parse_name("w^3") == "w_3"
    v = verify(r"\sigma_B^2 = \frac{1}{2}", define={r"\sigma_B^2": "1/2"})
    assert v.holds
    assert show(parse(r"x_i^2")) == "(x_i ** 2)"       # not a name: a square


def test_chain_reports_the_failing_link_text_index_and_point():
    v = verify(r"\frac{\partial L}{\partial z} = \frac{\partial L}{\partial \hat{y}}"
               r"\frac{\partial \hat{y}}{\partial z} = (y - \hat{y}) \sigma'(z)", define=NEURON)
    assert not v.holds and v.link == 2 and v.link_text.endswith(r"(y - \hat{y}) \sigma'(z)")
    assert [link.holds for link in v.links] == [True, False]
    cx = v.counterexample
    assert cx is not None and cx.lhs_value == -cx.rhs_value != 0


def test_aligned_block_continues_lines_and_ignores_tags_and_text():
    block = r"""\begin{align*}
    \frac{d}{dx} x^3 &= 3x^2 \quad \text{(power rule)} \\
    &= 3 x x \nonumber \\
    \frac{d}{dx} x^2 &= 2x \tag{2}
    \end{align*}"""
    v = verify(block)
    assert v.holds and len(v.links) == 3
    bad = verify(block.replace("3 x x", "2 x x"))
    assert not bad.holds and bad.link == 2


def test_operators_equal_their_sympy_oracle():
    x = sp.Symbol("x", real=True)
    oracle = sp.diff(sp.tanh(x) * sp.exp(2 * x), x).subs(x, 0)      # = 1
    assert oracle == 1
    assert verify(r"\left. \frac{d}{dx} \tanh(x) \exp(2x) \right|_{x=0} = 1").holds
    assert not verify(r"\left. \frac{d}{dx} \tanh(x) \exp(2x) \right|_{x=0} = 2").holds
    assert verify(r"\nabla f(x) = f'(x)").holds
    assert verify(r"\partial_w L = x (\hat{y} - y) \hat{y} (1 - \hat{y})", define=NEURON).holds
    assert verify(r"\max(0, x) = [x > 0] x").holds
    assert verify(r"\mathbb{1}(x \geq 0) + [x < 0] = 1").holds


def test_sums_use_concrete_sizes_and_bounds():
    v = verify(r"\sum_{i=1}^{n} x_i^2 = x_1^2 + x_2^2 + x_3^2", shapes={"x": ["n"]},
               sizes={"n": 3})
    assert v.holds
    assert not verify(r"\sum_{i=1}^{n} x_i = x_1 + x_2", shapes={"x": ["n"]},
                      sizes={"n": 3}).holds
    assert verify(r"\prod_{k=1}^{3} k = 6").holds


def test_approx_claims_exactly_the_written_decimals():
    true = -1 / (1 + 2.718281828459045 ** 1.4)      # -sigmoid(-1.4) = -0.19781...
    assert round(true, 2) == -0.20
    assert verify(r"-\sigma(-1.4) \approx -0.20").holds
    assert not verify(r"-\sigma(-1.4) \approx -0.21").holds
    v = verify(r"-\sigma(-1.4) \approx -0.19")
    assert not v.holds and v.reason.startswith("rounding")


def test_abstract_functions_of_any_arity_and_declared_names():
    assert verify(r"\frac{\partial}{\partial \theta} F_k(\theta, z_{k-1}) = "
                  r"\frac{\partial}{\partial \theta} F_k(\theta, z_{k-1})").holds
    v = verify("d(F(x, y), x) == 0")
    assert not v.holds and "F(x, y)" in str(v.correct)
    assert verify("d(loss(w*x), w) == x*loss'(w*x)", functions={"loss": 1}).holds
    with pytest.raises(VerifyError, match="declared with 1 argument"):
        verify("loss(x, y) == 0", functions={"loss": 1})


def test_a_function_name_used_as_its_value():
    v = verify(r"\frac{dy}{dx} = \frac{dy}{dg}\frac{dg}{dx}", define={"y": "f(g(x))"})
    assert v.holds
    wrong = verify(r"\frac{dy}{dx} = \frac{dy}{dg}", define={"y": "f(g(x))"})
    assert not wrong.holds and str(wrong.correct) != "0"


def test_correct_shows_the_true_side_for_abstract_functions():
    v = verify("d(y, x) == x", define={"y": "f(g(x))"})
    assert not v.holds and v.correct != 0 and "Derivative" in str(v.correct)


def test_sympy_syntax_numbers_and_qualified_functions():
    assert verify("Rational(1, 2) + S(1)/2 == sympy.exp(0)").holds
    assert verify("d(C, a_{l-1}) == w_l", define={"z_l": "w_l*a_lm1", "C": "z_l"}).holds


def test_free_indices_and_jacobians_against_direct_differentiation():
    shapes, sizes = {"z": ["n"]}, {"n": 3}
    define = {"s": "softmax(z)"}
    assert verify(r"\frac{\partial s_i}{\partial z_j} = s_i(\delta_{ij} - s_j)", define=define,
                  shapes=shapes, sizes=sizes).holds
    v = verify(r"\frac{\partial s_i}{\partial z_j} = s_i s_j", define=define,
               shapes=shapes, sizes=sizes)
    assert not v.holds and v.counterexample.indices


def test_explain_names_the_mistake_and_the_corrected_line_parses_back():
    v = verify(r"\frac{\partial L}{\partial w} = (\hat{y} - y) x", define=NEURON)
    text = v.explain()
    assert "mistake:" in text and "chain-rule factor" in text
    assert verify(v.corrected(), define=NEURON).holds
    selfref = verify("d(L, z) == d(L, z) * d(z, w)", define=NEURON)
    assert selfref.reason.startswith("self-referential")
    html = v._repr_html_()
    assert html.startswith("<div") and "✗" in html and "mistake:" in html and "&lt;" not in v.claim


def test_malformed_latex_still_points_at_the_column():
    with pytest.raises(ClaimSyntaxError) as e:
        verify(r"\frac{\partial L}{\partial w} = (\hat{y} - y")
    assert e.value.col is not None
    with pytest.raises(ClaimSyntaxError, match="column 1"):
        verify(r"= x")


def test_a_sum_that_cancels_to_zero_is_zero_not_rounding_noise():
    # sum_i (x_i - mu)/sqrt(var + eps) evaluates to ~1e-44, not exactly 0: 100% off a
    # claimed 0 relatively, yet noise; a real tiny value (exp(-150)) still differs
    define = {r"\mu_B": r"\frac{1}{m} \sum_{i=1}^{m} x_i",
              r"\hat{x}": r"(x - \mu_B) / \sqrt{\mu_B^2 + 1}"}
    kw = dict(define=define, shapes={"x": ["m"]}, sizes={"m": 3})
    assert verify(r"\frac{1}{m} \sum_{i=1}^{m} \hat{x}_i = 0", **kw).holds
    assert not verify(r"\frac{1}{m} \sum_{i=1}^{m} \hat{x}_i = 10^{-50}", **kw).holds
    assert not verify("x - x + exp(-150) == 0").holds


def test_a_partial_equal_to_the_variable_itself_keeps_its_name():
    # d(y_1**2/2)/dy_1 = y_1 is sympy's IdentityFunction Lambda(_x, _x): no stray _x
    define = {"y_1": "w_1 x_1 + w_2 x_2", "y_2": "w_1 x_2 + w_2 x_3",
              "E": r"\frac{1}{2} (y_1^2 + y_2^2)"}
    v = verify(r"\frac{\partial E}{\partial w_1} = y_1 x_1 + y_2 x_2", define=define)
    assert v.holds and "_x" not in str(v.correct)
    wrong = verify(r"\frac{\partial E}{\partial w_1} = y_1 x_1", define=define)
    assert not wrong.holds and "_x" not in str(wrong.correct) + str(wrong.reason)


def test_a_function_letter_defined_as_a_quantity_multiplies():
    # an LSTM's forget gate f_t: "f_t (1 - f_t)" is the sigmoid's derivative, not f_t called
    define = {"f_t": r"\sigma(w h + b)", "c_t": r"f_t c_{t-1}"}
    v = verify(r"\frac{\partial c_t}{\partial b} = c_{t-1} f_t (1 - f_t)", define=define)
    assert v.holds
    assert not verify(r"\frac{\partial c_t}{\partial b} = c_{t-1} f_t (2 - f_t)",
                      define=define).holds
    assert show(parse(r"f_t (1 - f_t)")) == "f_t((1 - f_t))"     # undefined: still a call
    # g_i of a vector g in shapes: its element i, times what follows
    assert verify(r"\sum_{i=1}^{2} g_i (x + 1) = (g_1 + g_2)(x + 1)", shapes={"g": [2]}).holds


def test_a_shifted_element_index_is_that_element():
    kw = dict(shapes={"x": ["n"]}, sizes={"n": 4})
    # telescoping: the oracle is plain arithmetic, x_4 - x_1
    assert verify(r"\sum_{j=1}^{n-1} (x_{j+1} - x_j) = x_4 - x_1", **kw).holds
    assert not verify(r"\sum_{j=1}^{n-1} (x_{j+1} - x_j) = x_4 - x_2", **kw).holds
    # a free index takes the values that keep x_{j-1} and x_{j+1} in range (j = 2, 3)
    chain = r"\frac{\partial}{\partial x_j} \sum_{i=1}^{n-1} x_i x_{i+1} = x_{j-1} + x_{j+1}"
    assert verify(chain, **kw).holds
    wrong = verify(chain.replace("x_{j-1} + x_{j+1}", "x_{j+1}"), **kw)
    assert not wrong.holds and wrong.counterexample.indices == "j = 2"
    with pytest.raises(ClaimError, match=r"index j\+1 = 5 outside 1..4"):
        verify(r"\sum_{j=1}^{n} x_{j+1} = 0", **kw)
    with pytest.raises(VerifyError, match="no value of the index j"):
        verify(r"x_{j+4} = 0", **kw)
    # without shapes it is a name, as in z_{l-1}
    assert show(parse(r"x_{j+1}")) == "x_jp1"


def test_a_minus_right_after_a_sum_is_the_sign_of_its_body():
    # the BatchNorm paper writes \sum_{i=1}^{m} -2(x_i - \mu_B); the oracle is the sum written out
    kw = dict(shapes={"x": ["n"]}, sizes={"n": 3})
    assert verify(r"\sum_{i=1}^{n} -2 x_i = -2 x_1 - 2 x_2 - 2 x_3", **kw).holds
    assert not verify(r"\sum_{i=1}^{n} -2 x_i = -2 x_1", **kw).holds
    assert verify(r"\sum_i -x_i + 1 = 1 - x_1 - x_2 - x_3", **kw).holds     # the body ends at +
    assert verify(r"a - \sum_i x_i = a - x_1 - x_2 - x_3", **kw).holds      # a minus before stays
    with pytest.raises(ClaimSyntaxError, match="column 18"):
        verify(r"\sum_i -2 x_i = (", **kw)                                 # columns unchanged
