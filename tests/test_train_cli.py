"""``symbackprop train MODEL.py --data FILE``: the happy paths and every user error (exit status 2)."""

import os
import shutil
import stat

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.cli import main
from symbackprop.datasets import two_moons

MODEL = """\
import symbackprop as sb
net = sb.nn.Sequential(sb.nn.Linear(2, 8), sb.nn.Tanh(), sb.nn.Linear(8, 2))
loss = "cross_entropy"
optimizer = sb.optim.Adam(lr=0.02)
"""

REGRESSION = """\
net = sb.nn.Linear(3, 1)          # sb is predefined in model files
"""


@pytest.fixture
def files(tmp_path):
    X, y = two_moons(120, seed=3)
    (tmp_path / "model.py").write_text(MODEL)
    np.savez(tmp_path / "moons.npz", X=X, y=y)
    np.savetxt(tmp_path / "moons.csv", np.column_stack([X, y]), delimiter=",", header="x1,x2,label", comments="")
    return tmp_path


def train(*argv):
    return main(["train", *map(str, argv)])


def test_npz_trains_reports_accuracy_and_saves_params(files, capsys):
    save = files / "params.npz"
    assert train(files / "model.py", "--data", files / "moons.npz", "--epochs", 150, "--backend", "numpy",
                 "--save", save) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("training accuracy: ")[1].split("%")[0])
    assert accuracy >= 95
    with np.load(save) as p:
        assert sorted(p.files) == ["0.bias", "0.weight", "2.bias", "2.weight"]
        assert p["0.weight"].shape == (8, 2)


def test_csv_with_header_on_the_numba_backend(files, capsys):
    assert train(files / "model.py", "--data", files / "moons.csv", "--epochs", 100, "--backend", "numba") == 0
    out = capsys.readouterr().out
    assert "header row skipped" in out and "numba backend" in out and "training accuracy" in out


def test_command_line_overrides_the_model_file(files, capsys):
    assert train(files / "model.py", "--data", files / "moons.npz", "--epochs", 5, "--backend", "numpy",
                 "--optimizer", "sgd", "--lr", 0.3, "--batch-size", 1000) == 0
    out = capsys.readouterr().out
    assert "SGD(lr=0.3" in out and "(5 steps)" in out


def test_lr_alone_changes_the_files_optimizer(files, capsys):
    assert train(files / "model.py", "--data", files / "moons.npz", "--epochs", 1, "--backend", "numpy",
                 "--lr", 0.005) == 0
    assert "Adam(lr=0.005" in capsys.readouterr().out


def test_regression_csv_without_header_and_default_loss(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.25
    np.savetxt(tmp_path / "lin.csv", np.column_stack([X, y]), delimiter=",")
    (tmp_path / "lin.py").write_text(REGRESSION)
    assert train(tmp_path / "lin.py", "--data", tmp_path / "lin.csv", "--epochs", 300, "--backend", "numpy",
                 "--optimizer", "sgd", "--lr", 0.1, "--batch-size", 64, "--save", tmp_path / "w.npz") == 0
    out = capsys.readouterr().out
    assert "loss mse" in out and "accuracy" not in out
    with np.load(tmp_path / "w.npz") as p:
        np.testing.assert_allclose(p["weight"], [[1.0, -2.0, 0.5]], atol=1e-4)


# ---- user errors: exit status 2 and a message naming the file -----------------------------

def error(capsys, *argv):
    status = train(*argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("symbackprop train: error: ")
    return err


def test_missing_model_file(files, capsys):
    assert "model file" in error(capsys, files / "nope.py", "--data", files / "moons.npz")


def test_missing_data_file(files, capsys):
    err = error(capsys, files / "model.py", "--data", files / "nope.csv")
    assert "data file" in err and "nope.csv" in err and "does not exist" in err


def test_unknown_data_format(files, capsys):
    (files / "d.txt").write_text("1,2,3\n")
    assert "unknown format '.txt'" in error(capsys, files / "model.py", "--data", files / "d.txt")


def test_model_file_without_net(files, capsys):
    (files / "empty.py").write_text("x = 1\n")
    assert "defines no `net`" in error(capsys, files / "empty.py", "--data", files / "moons.npz")


def test_unknown_loss_in_model_file(files, capsys):
    (files / "l.py").write_text("net = sb.nn.Linear(2, 1)\nloss = 'l7'\n")
    assert "unknown loss 'l7'" in error(capsys, files / "l.py", "--data", files / "moons.npz")


def test_npz_without_y(files, capsys):
    np.savez(files / "noy.npz", X=np.zeros((4, 2)), labels=np.zeros(4))
    err = error(capsys, files / "model.py", "--data", files / "noy.npz")
    assert "missing 'y'" in err and "'labels'" in err


def test_npz_rows_differ(files, capsys):
    np.savez(files / "rows.npz", X=np.zeros((4, 2)), y=np.zeros(5))
    assert "X has 4 rows but y has 5" in error(capsys, files / "model.py", "--data", files / "rows.npz")


def test_not_an_npz(files, capsys):
    (files / "junk.npz").write_bytes(b"not a zip")
    assert "not a readable .npz" in error(capsys, files / "model.py", "--data", files / "junk.npz")


def test_wrong_number_of_feature_columns(files, capsys):
    np.savetxt(files / "three.csv", np.zeros((5, 4)), delimiter=",")
    err = error(capsys, files / "model.py", "--data", files / "three.csv")
    assert "has 3 feature column(s)" in err and "takes 2 inputs" in err


def test_ragged_csv_names_the_line(files, capsys):
    (files / "ragged.csv").write_text("a,b,c\n1,2,0\n3,4\n")
    assert "ragged.csv, line 3: 2 columns, but the header has 3" in error(
        capsys, files / "model.py", "--data", files / "ragged.csv")


def test_nan_in_csv_names_line_and_column(files, capsys):
    (files / "nan.csv").write_text("x1,x2,label\n1,2,0\n# a comment\n3,nan,1\n")
    assert "nan.csv, line 4, column 2 (x2): is 'nan'" in error(
        capsys, files / "model.py", "--data", files / "nan.csv")


def test_empty_cell_and_text_in_csv(files, capsys):
    (files / "gap.csv").write_text("1,2,0\n3,,1\n")
    assert "gap.csv, line 2, column 2: is empty" in error(capsys, files / "model.py", "--data", files / "gap.csv")
    (files / "text.csv").write_text("1,2,0\n3,abc,1\n")
    assert "line 2, column 2: is 'abc'" in error(capsys, files / "model.py", "--data", files / "text.csv")


def test_nan_in_npz(files, capsys):
    X = np.zeros((4, 2)); X[2, 1] = np.nan
    np.savez(files / "nan.npz", X=X, y=np.zeros(4))
    assert "X[2, 1] is nan" in error(capsys, files / "model.py", "--data", files / "nan.npz")


def test_labels_outside_the_classes(files, capsys):
    np.savez(files / "labels.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 2, 1]))
    err = error(capsys, files / "model.py", "--data", files / "labels.npz", "--backend", "numpy")
    assert "labels.npz does not fit the model" in err and "[0, 2)" in err


def test_labels_that_do_not_fit_bce(files, capsys):
    (files / "bce.py").write_text("net = sb.nn.Linear(2, 1)\nloss = 'bce'\n")
    np.savez(files / "five.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 5, 1]))
    assert "bce takes targets in [0, 1]" in error(capsys, files / "bce.py", "--data", files / "five.npz",
                                                  "--backend", "numpy")


def test_targets_leaving_no_features(files, capsys):
    assert "leaves 0 feature column(s)" in error(capsys, files / "model.py", "--data", files / "moons.csv",
                                                 "--targets", 3)


@pytest.mark.parametrize("option, message", [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--epochs", "-3"], "--epochs must be at least 1, got -3"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
    (["--targets", "0"], "--targets must be at least 1, got 0"),
    (["--seed", "-1"], "--seed must be at least 0, got -1"),
    (["--lr", "-1"], "--lr must be a finite number > 0, got -1.0"),
    (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["--optimizer", "sgd", "--lr=-inf"], "--lr must be a finite number > 0, got -inf"),
])
def test_bad_numbers_stop_before_anything_runs(files, capsys, option, message):
    err = error(capsys, files / "model.py", "--data", files / "moons.npz", "--backend", "numpy", *option)
    assert err.strip() == f"symbackprop train: error: {message}"
    assert "Traceback" not in err


@pytest.mark.parametrize("option", [["--epochs", "ten"], ["--epochs", "1.5"], ["--batch-size", "x"],
                                    ["--lr", "fast"], ["--seed", "0.5"], ["--targets", "last"],
                                    ["--dtype", "float16"], ["--optimizer", "rmsprop"], ["--loss", "l1"]])
def test_text_where_a_number_or_a_choice_goes_is_an_argparse_error(files, capsys, option):
    with pytest.raises(SystemExit) as e:
        train(files / "model.py", "--data", files / "moons.npz", *option)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {option[0]}: invalid" in err and "Traceback" not in err


def test_unknown_backend(files, capsys):
    assert "unknown backend 'fortran'" in error(capsys, files / "model.py", "--data", files / "moons.npz",
                                                "--backend", "fortran")


def test_argparse_errors_exit_2(files, capsys):
    with pytest.raises(SystemExit) as e:
        train(files / "model.py")  # --data is required
    assert e.value.code == 2


def test_data_file_that_is_a_directory(files, capsys):
    (files / "dir.csv").mkdir()
    assert "is not a file" in error(capsys, files / "model.py", "--data", files / "dir.csv")


# ---- the model file's mistakes: the user's exception and line, not our stack ----------------

def model_error(files, capsys, source, name="m.py"):
    (files / name).write_text(source)
    err = error(capsys, files / name, "--data", files / "moons.npz", "--backend", "numpy", "--epochs", 1)
    assert "Traceback" not in err and "symbackprop/" not in err  # none of our frames or files
    return err


@pytest.mark.parametrize("body, message", [
    ("def loss(yhat, y):\n    raise ValueError('my mistake')\n",
     "m.py, line 3: the loss function raised ValueError: my mistake"),
    ("loss = lambda yhat, y: 1 / 0\n", "m.py, line 2: the loss function raised ZeroDivisionError: division by zero"),
    ("def loss(yhat, y):\n    return sb.sin('abc')\n", "m.py, line 3: sin: expected a graph node"),
    ("loss = lambda yhat: yhat\n", "m.py: the loss function raised TypeError: <lambda>() takes 1 positional "
                                   "argument but 2 were given"),
    ("loss = lambda yhat, y: 3\n", "m.py: the loss must be a scalar Expr, got 3"),
    ("loss = lambda yhat, y: 'abc'\n", "m.py: the loss must be a scalar Expr, got 'abc'"),
    ("loss = lambda yhat, y: None\n", "m.py: the loss must be a scalar Expr, got None"),
    ("loss = lambda yhat, y: yhat - y\n", "m.py: the loss must be a scalar Expr, got (N, 1)"),
    ("loss = 3\n", "m.py: `loss` must be a loss name (mse, bce, cross_entropy, hinge), a callable loss(yhat, y) "
                   "or a scalar Expr, got int 3"),
    ("loss = sb.sum(sb.input('q', (None, 1)))\n", "m.py: a loss Expr must use an input named 'yhat'"),
    ("optimizer = 'adam'\n", "m.py: `optimizer` must be sb.optim.SGD(...) or sb.optim.Adam(...), got str"),
])
def test_a_bad_loss_is_the_model_files_error(files, capsys, body, message):
    err = model_error(files, capsys, "net = sb.nn.Linear(2, 1)\n" + body)
    assert f"model file {files / message}" in err and "does not fit" not in err


def test_a_loss_expr_trains(files, capsys):
    (files / "expr.py").write_text("net = sb.nn.Linear(2, 1)\n"
                                   "loss = sb.mean((sb.input('yhat', (None, 1)) - sb.input('y', (None, 1))) ** 2)\n")
    assert train(files / "expr.py", "--data", files / "moons.npz", "--backend", "numpy", "--epochs", 2) == 0
    assert "loss custom" in capsys.readouterr().out


@pytest.mark.parametrize("source, message", [
    ("import symbackprop as sb\n\nnet = sb.nn.Linear(2, undefined_name)\n", "m.py, line 3: NameError"),
    ("net = (\n", "m.py, line 1: syntax error"),
    ("if True:\nnet = 1\n", "m.py, line 2: syntax error: expected an indented block"),
    ("import no_such_module_here\n", "m.py, line 1: ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("net = sb.nn.Linear(2, 1)\nraise KeyError('x')\n", "m.py, line 2: KeyError: 'x'"),
    ("x = 1\n", "m.py defines no `net`"),
    ("net = 3\n", "m.py: `net` must be an sb.nn module, got int"),
    ("net = sb.nn.Linear(2, 'three')\n", "m.py, line 1: ShapeError: Linear: out_features must be a positive int"),
    ("class Mine(sb.nn.Module):\n    def build(self, x, prefix=''):\n        return x @ np.ones(7)\nnet = Mine()\n",
     "m.py, line 3: matmul: inner dimensions differ"),
    ("class Mine(sb.nn.Module):\n    def build(self, x, prefix=''):\n        raise KeyError('k')\nnet = Mine()\n",
     "m.py, line 3: KeyError: 'k'"),
])
def test_a_model_file_that_fails_names_its_line(files, capsys, source, message):
    assert f"model file {files / message}" in model_error(files, capsys, source)


def test_a_bug_of_ours_keeps_its_traceback(files, capsys, monkeypatch):
    """An untyped exception raised inside symbackprop is not reported as the user's mistake."""
    code = {}
    exec(compile("def boom(*args, **kwargs):\n    raise RuntimeError('internal')\n", sb.__file__, "exec"), code)
    monkeypatch.setattr(sb, "mean", code["boom"])  # now a function of ours that fails
    (files / "m.py").write_text("net = sb.nn.Linear(2, 1)\nloss = lambda yhat, y: sb.mean((yhat - y) ** 2)\n")
    with pytest.raises(RuntimeError, match="internal"):
        train(files / "m.py", "--data", files / "moons.npz", "--backend", "numpy", "--epochs", 1)
    (files / "m.py").write_text("net = sb.nn.Linear(2, 1)\nm = sb.mean(3)\n")
    with pytest.raises(RuntimeError, match="internal"):
        train(files / "m.py", "--data", files / "moons.npz", "--backend", "numpy", "--epochs", 1)


# ---- --save ------------------------------------------------------------------------------

def trained(files, capsys, *save, data="moons.npz"):
    status = train(files / "model.py", "--data", files / data, "--backend", "numpy", "--epochs", 2, *save)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("given, written", [("params", "params.npz"), ("params.npz", "params.npz"),
                                            ("params.bin", "params.bin"), ("w.v2.npz", "w.v2.npz")])
def test_save_writes_exactly_the_path_it_prints(files, capsys, given, written):
    status, out, _ = trained(files, capsys, "--save", files / given)
    assert status == 0
    assert f"saved 4 params to {files / written} (0.weight" in out
    assert sorted(p.name for p in files.iterdir() if p.name.startswith(("params", "w."))) == [written]
    with np.load(files / written) as p:
        assert sorted(p.files) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert not [p for p in files.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_save_overwrites_an_old_params_file_keeping_its_mode(files, capsys):
    (files / "p.npz").write_bytes(b"old")
    os.chmod(files / "p.npz", 0o640)
    assert trained(files, capsys, "--save", files / "p.npz")[0] == 0
    assert stat.S_IMODE(os.stat(files / "p.npz").st_mode) == 0o640
    with np.load(files / "p.npz") as p:
        assert "0.weight" in p.files


def links(files):
    os.symlink(files / "moons.npz", files / "link.npz")
    os.link(files / "moons.npz", files / "hard.npz")


@pytest.mark.parametrize("save, what", [("moons.npz", "data"), ("moons", "data"), ("link.npz", "data"),
                                        ("hard.npz", "data"), ("./sub/../moons.npz", "data"),
                                        ("model.py", "model")])
def test_save_refuses_to_overwrite_the_data_or_model_file_before_training(files, capsys, save, what):
    links(files)
    (files / "sub").mkdir()
    before = {p: p.read_bytes() for p in (files / "moons.npz", files / "model.py")}
    status, out, err = trained(files, capsys, "--save", f"{files}/{save}")
    assert status == 2 and "would overwrite the " + what + " file" in err and "Traceback" not in err
    assert "epoch" not in out  # refused before training
    assert {p: p.read_bytes() for p in before} == before


def test_save_refuses_when_the_data_is_reached_through_a_link(files, capsys):
    links(files)
    status, _, err = trained(files, capsys, "--save", files / "moons.npz", data="link.npz")
    assert status == 2 and "would overwrite the data file" in err


@pytest.mark.parametrize("save, message", [
    ("no/dir/p.npz", "directory does not exist"),
    ("model.py/p.npz", "is not a directory"),
    ("sub/", "is a directory"),
    ("sub", "is a directory"),
    ("", "--save needs a file name"),
])
def test_save_target_problems_stop_before_training(files, capsys, save, message):
    (files / "sub").mkdir()
    status, out, err = trained(files, capsys, "--save", f"{files}/{save}" if save else "")
    assert status == 2 and message in err and "epoch" not in out, err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc, where nobody can create files")
def test_save_into_a_directory_nobody_can_write_stops_before_training(files, capsys):
    status, out, err = trained(files, capsys, "--save", "/proc/params.npz")
    assert status == 2 and "--save /proc/params.npz: cannot write in /proc" in err and "epoch" not in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_save_into_a_read_only_directory_stops_before_training(files, capsys):
    (files / "ro").mkdir()
    os.chmod(files / "ro", 0o555)
    status, out, err = trained(files, capsys, "--save", files / "ro" / "p.npz")
    assert status == 2 and "cannot write in" in err and "epoch" not in out


def test_a_save_that_fails_after_training_keeps_the_params(files, capsys, monkeypatch):
    """The target directory vanishes while training: exit 2, the params go to a fallback file."""
    (files / "out").mkdir()
    fit = sb.Trainer.fit

    def fit_then_lose_the_directory(self, *args, **kwargs):
        hist = fit(self, *args, **kwargs)
        shutil.rmtree(files / "out")
        return hist

    monkeypatch.setattr(sb.Trainer, "fit", fit_then_lose_the_directory)
    monkeypatch.chdir(files)
    status, out, err = trained(files, capsys, "--save", files / "out" / "p.npz")
    assert status == 2 and "training accuracy" in out and "Traceback" not in err
    assert f"could not write the trained params to {files / 'out' / 'p.npz'} (FileNotFoundError" in err
    fallback = err.split("saved them to ")[1].split(" instead")[0]
    assert os.path.dirname(fallback) == str(files)
    with np.load(fallback) as p:
        assert sorted(p.files) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_an_interrupted_write_leaves_the_old_file_whole(files, monkeypatch):
    from symbackprop.cli import train as cli_train
    (files / "p.npz").write_bytes(b"the old params")

    def savez_then_fail(f, **arrays):
        f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli_train.np, "savez", savez_then_fail)
    with pytest.raises(OSError):
        cli_train.write_params(str(files / "p.npz"), {"w": np.zeros(2)})
    assert (files / "p.npz").read_bytes() == b"the old params"
    assert sorted(p.name for p in files.iterdir() if p.name.startswith((".", "p"))) == ["p.npz"]
