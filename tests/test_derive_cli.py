"""symbackprop derive MODEL.py: the MODEL.py convention, options and errors."""

import pathlib
import subprocess
import sys

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
    assert status == 2 and "missing.py' does not exist" in err
    bad = tmp_path / "noloss.py"
    bad.write_text("import symbackprop as sb\nx = sb.input('x', (2,))\n")
    status, _, err = run(capsys, bad)
    assert status == 2 and "must define `net` (an sb.nn module) or `loss`" in err and "(found nothing)" in err
    vec = tmp_path / "vector.py"
    vec.write_text("import symbackprop as sb\nloss = sb.param('w', (2,)) * 2\n")
    status, _, err = run(capsys, vec)
    assert status == 2 and "must be a scalar" in err
    boom = tmp_path / "boom.py"
    boom.write_text("raise RuntimeError('kaput')\n")
    status, _, err = run(capsys, boom)
    assert status == 2 and "boom.py, line 1: RuntimeError: kaput" in err
    status, _, err = run(capsys, EXAMPLES / "linear_regression.py", "--wrt", "nope")
    assert status == 2 and "no leaf named 'nope'" in err and "W, b" in err


@pytest.mark.parametrize("source, message", [
    ("loss = (\n", "m.py, line 1: syntax error"),
    ("import no_such_module_here\n", "m.py, line 1: ModuleNotFoundError"),
    ("w = sb.param('w', (2,))\nloss = sb.sum(w) / undefined\n", "m.py, line 2: NameError"),
    ("loss = 3\n", "`loss` must be a loss name (mse, bce, cross_entropy, hinge), a callable loss(yhat, y) or a "
                   "scalar Expr, got int 3"),
    ("loss = 'mse'\n", "must define `net` (an sb.nn module) or `loss`, a scalar symbackprop Expr (found str 'mse')"),
    ("loss = sb.mean(sb.input('yhat', (None, 1)))\n", "`loss` reads an input named yhat, the output of a `net`"),
    ("net = sb.nn.Linear(2, 1)\nloss = lambda yhat, y: 1 / 0\n", "m.py, line 2: the loss function raised "
                                                                   "ZeroDivisionError"),
    ("w = sb.param('w', (2,))\nloss = sb.sum(w * w)\nwrt = 5\n", "`wrt` must be a node, a leaf name, or a list"),
    ("w = sb.param('w', (2,))\nloss = sb.sum(w * w)\nwrt = [w, 3.5]\n", "got list [<param w"),
    ("w = sb.param('w', (2,))\nloss = sb.sum(w * w)\nwrt = ['v']\n", "`loss` has no leaf named 'v'; its params are w"),
])
def test_every_model_file_mistake_is_exit_2_without_a_traceback(capsys, tmp_path, source, message):
    (tmp_path / "m.py").write_text(source)
    status, _, err = run(capsys, tmp_path / "m.py")
    assert status == 2 and message in err and "Traceback" not in err, err
    assert err.startswith("symbackprop derive: error: ")


def test_sb_and_np_are_predefined_and_wrt_may_be_a_name(capsys, tmp_path):
    (tmp_path / "m.py").write_text("w = sb.param('w', (2,))\nloss = sb.sum(w * w * np.float64(3))\nwrt = 'w'\n")
    status, out, err = run(capsys, tmp_path / "m.py")
    assert status == 0, err
    assert out.splitlines()[-1] == "∂L/∂w = 6w"


@pytest.mark.parametrize("option, message", [(["--N", "0"], "--N must be at least 1, got 0"),
                                             (["--N", "-2"], "--N must be at least 1, got -2"),
                                             (["--expand", "--N", "17"], "above the limit of 16")])
def test_bad_batch_size(capsys, option, message):
    status, _, err = run(capsys, EXAMPLES / "logistic_regression.py", *option)
    assert status == 2 and message in err


def test_text_where_a_number_goes(capsys):
    with pytest.raises(SystemExit) as e:
        run(capsys, EXAMPLES / "logistic_regression.py", "--N", "two")
    assert e.value.code == 2


DEEP = """\
x = sb.input("x", (3,)); v = x
for _ in range({depth}):
    v = sb.sin(v) + v
loss = sb.sum(v)
wrt = x
"""


@pytest.mark.parametrize("depth", [14, 30])
def test_derive_prints_an_exponential_tree_quickly(tmp_path, depth):
    """The gradient's tree has ~2**depth leaves; shared values are named, so it prints fast."""
    (tmp_path / "deep.py").write_text(DEEP.format(depth=depth))
    code = ("import sys, time; from symbackprop.cli import main; t = time.process_time(); "
            "status = main(sys.argv[1:]); print('cpu', time.process_time() - t); sys.exit(status)")
    for extra in ([], ["--latex"]):
        done = subprocess.run([sys.executable, "-c", code, "derive", str(tmp_path / "deep.py"), *extra],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        out = done.stdout.splitlines()
        assert float(out[-1].split()[1]) < 1.5  # CPU seconds of the whole command, imports excluded
        assert len(done.stdout) < 250 * depth
        assert any(line.startswith(("∂L/∂x = ", r"\frac{\partial L}{\partial x} &= ")) for line in out)


def test_derive_expand_of_an_exponential_tree_is_refused(capsys, tmp_path):
    (tmp_path / "deep.py").write_text(DEEP.format(depth=30))
    status, out, err = run(capsys, tmp_path / "deep.py", "--expand")
    assert status == 2 and "expand: the expressions exceed 50000 operations" in err
    assert "∂L/∂x = " in out  # the derivation itself was printed first


@pytest.mark.parametrize("name", ["linear_regression", "logistic_regression", "sigmoid_mlp",
                                  "softmax_classifier", "tanh_mlp"])
def test_every_example_derives(capsys, name):
    status, out, _ = run(capsys, EXAMPLES / f"{name}.py")
    assert status == 0 and "∂L/∂" in out
