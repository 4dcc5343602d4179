"""``symbackprop demo`` end to end: formulas, compile report, accuracy, timing, the plot."""

import re
import struct

import pytest

from symbackprop.cli import main
from symbackprop.cli.demo import PLOT_NAME, pick_backend
from symbackprop.plot import FIGURE_PIXELS, available


def _png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_demo_runs_end_to_end_without_plot(tmp_path, capsys):
    status = main(["demo", "--epochs", "50", "--no-plot", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "∂L/∂W₃" in out and "δ₂ = ∂L/∂z₂" in out  # the formulas and the explain chain
    assert re.search(r"compiled .* in [0-9.]+ s \((warm|cold) cache", out) or "nothing to compile" in out
    assert re.search(r"training accuracy: [0-9.]+%", out)
    assert re.search(r"time per step: \w+ \d+ µs, numpy reference backend \d+ µs", out) or "numpy backend" in out
    assert not (tmp_path / PLOT_NAME).exists()


def test_demo_default_epochs_reach_97_percent(tmp_path, capsys):
    assert main(["demo", "--no-plot"]) == 0
    accuracy = float(re.search(r"accuracy[^0-9]*([0-9.]+)%", capsys.readouterr().out).group(1))
    assert accuracy >= 97.0


@pytest.mark.skipif(not available(), reason="matplotlib is not installed")
def test_demo_writes_the_plot(tmp_path, capsys):
    out_dir = tmp_path / "figs"  # created by the demo
    assert main(["demo", "--epochs", "50", "--out", str(out_dir)]) == 0
    path = out_dir / PLOT_NAME
    assert path.exists()
    assert f"wrote {path}" in capsys.readouterr().out
    assert _png_size(path) == FIGURE_PIXELS
    from matplotlib.image import imread
    image = imread(path)
    assert image.shape[:2] == (FIGURE_PIXELS[1], FIGURE_PIXELS[0])
    assert image.std() > 0.05  # not blank


def test_demo_without_matplotlib_says_how_to_get_plots(tmp_path, capsys, monkeypatch):
    import symbackprop.plot
    monkeypatch.setattr(symbackprop.plot, "available", lambda: False)
    assert main(["demo", "--epochs", "20", "--backend", "numpy", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'pip install -e ".[plot]"' in out
    assert re.search(r"training accuracy: [0-9.]+%", out)
    assert not (tmp_path / PLOT_NAME).exists()


def test_auto_backend_is_llvm_then_numba_then_numpy(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    assert pick_backend("auto") == ("llvm", "")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("llvmlite") else real(name, *a))
    backend, note = pick_backend("auto")
    assert backend == "numba" and "llvmlite.binding is not installed" in note
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith(("llvmlite", "numba")) else real(name, *a))
    backend, note = pick_backend("auto")
    assert backend == "numpy" and "numba is not installed" in note


def test_demo_unknown_backend_is_a_user_error(capsys):
    assert main(["demo", "--backend", "fortran", "--no-plot", "--epochs", "5"]) == 2
    assert "fortran" in capsys.readouterr().err


def test_demo_float32_on_the_numpy_backend(capsys):
    assert main(["demo", "--dtype", "float32", "--backend", "numpy", "--epochs", "30", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "nothing to compile" in out and "time per step" not in out
