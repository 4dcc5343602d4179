"""``symbackprop train MODEL.py --data FILE``: the happy paths and every user error (exit status 2)."""

import numpy as np
import pytest

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


def test_model_file_that_raises_names_the_line(files, capsys):
    (files / "bad.py").write_text("import symbackprop as sb\n\nnet = sb.nn.Linear(2, undefined_name)\n")
    err = error(capsys, files / "bad.py", "--data", files / "moons.npz")
    assert "bad.py, line 3: NameError" in err


def test_model_file_with_a_syntax_error(files, capsys):
    (files / "syn.py").write_text("net = (\n")
    assert "syntax error" in error(capsys, files / "syn.py", "--data", files / "moons.npz")


def test_net_of_the_wrong_type(files, capsys):
    (files / "wrong.py").write_text("net = 3\n")
    assert "must be an sb.nn module" in error(capsys, files / "wrong.py", "--data", files / "moons.npz")


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


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--batch-size", "0"], ["--lr", "-1"]])
def test_bad_numbers(files, capsys, option):
    assert "must be" in error(capsys, files / "model.py", "--data", files / "moons.npz", *option)


def test_unknown_backend(files, capsys):
    assert "unknown backend 'fortran'" in error(capsys, files / "model.py", "--data", files / "moons.npz",
                                                "--backend", "fortran")


def test_save_into_a_missing_directory(files, capsys):
    assert "does not exist" in error(capsys, files / "model.py", "--data", files / "moons.npz", "--epochs", 1,
                                     "--backend", "numpy", "--save", files / "no" / "dir" / "p.npz")


def test_argparse_errors_exit_2(files, capsys):
    with pytest.raises(SystemExit) as e:
        train(files / "model.py")  # --data is required
    assert e.value.code == 2
