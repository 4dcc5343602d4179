"""symbackprop derive MODEL.py: the MODEL.py convention, options and errors."""

import pathlib

import pytest

from symbackprop.cli import main

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples" / "formulas"


def run(capsys, *argv):
    status = main(["derive", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_derive_prints_the_explanation(capsys):
    status, out, err = run(capsys, EXAMPLES / "logistic_regression.py")
    assert status == 0, err
    assert out.splitlines()[3].startswith("δ = ∂L/∂z = (ŷ − y)/N")
    assert "∂L/∂W = xᵀ δ" in out


def test_derive_latex_and_wrt_by_leaf_or_display_name(capsys):
    status, out, _ = run(capsys, EXAMPLES / "sigmoid_mlp.py", "--latex", "--wrt", "2.weight")
    assert status == 0
    assert out.startswith("\\begin{aligned}") and r"\frac{\partial L}{\partial W_{2}} &= \delta_{2}^{\top} a_{1}" in out
    assert r"\partial W_{1}}" not in out
    status, out2, _ = run(capsys, EXAMPLES / "sigmoid_mlp.py", "--wrt", "W₁")
    assert status == 0 and "∂L/∂W₁ = δ₁ᵀ x" in out2 and "∂L/∂W₂" not in out2


def test_derive_expand(capsys):
    status, out, _ = run(capsys, EXAMPLES / "logistic_regression.py", "--expand")
    assert status == 0
    assert "∂L/∂W, element by element (N = 1):" in out
    assert "[1] x_1*(-y + sigmoid(W_1*x_1 + W_2*x_2 + b))" in out
    status, out, _ = run(capsys, EXAMPLES / "logistic_regression.py", "--expand", "--N", "2")
    assert "(N = 2)" in out and "sigmoid(W_1*x_21 + W_2*x_22 + b)" in out


def test_derive_errors_name_the_file(capsys, tmp_path):
    status, _, err = run(capsys, tmp_path / "missing.py")
    assert status == 2 and "missing.py: no such file" in err
    bad = tmp_path / "noloss.py"
    bad.write_text("import symbackprop as sb\nx = sb.input('x', (2,))\n")
    status, _, err = run(capsys, bad)
    assert status == 2 and "must define `loss`" in err
    vec = tmp_path / "vector.py"
    vec.write_text("import symbackprop as sb\nloss = sb.param('w', (2,)) * 2\n")
    status, _, err = run(capsys, vec)
    assert status == 2 and "must be a scalar" in err
    boom = tmp_path / "boom.py"
    boom.write_text("raise RuntimeError('kaput')\n")
    status, _, err = run(capsys, boom)
    assert status == 2 and "RuntimeError: kaput" in err
    status, _, err = run(capsys, EXAMPLES / "linear_regression.py", "--wrt", "nope")
    assert status == 2 and "no leaf named 'nope'" in err and "W, b" in err


@pytest.mark.parametrize("name", ["linear_regression", "logistic_regression", "sigmoid_mlp",
                                  "softmax_classifier", "tanh_mlp"])
def test_every_example_derives(capsys, name):
    status, out, _ = run(capsys, EXAMPLES / f"{name}.py")
    assert status == 0 and "∂L/∂" in out
