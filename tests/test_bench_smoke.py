"""Smoke test of the benchmark harness (issue 4): ``symbackprop bench --quick`` on W1 float64
with our numba backend and the hand-written numpy baseline only (no torch/jax, even when
installed).  It checks that the table prints and that our results are numbers; it makes no
assertion about speed.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("numba")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out_json = tmp / "bench.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    done = subprocess.run([sys.executable, "-m", "symbackprop", "bench", "--quick", "--workloads", "W1",
                           "--dtypes", "float64", "--backends", "numba", "--baselines", "numpy",
                           "--json", str(out_json), "--no-progress"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out_json.read_text())


def test_table_prints(quick_run):
    stdout, _ = quick_run
    assert "W1 2-16-16-1 tanh MSE" in stdout
    assert "time/step" in stdout and "÷ ours" in stdout
    assert "symbackprop numba" in stdout and "numpy by hand" in stdout
    assert "PyTorch eager" not in stdout and "JAX jit+scan" not in stdout  # not asked for, even if installed


def test_our_results_are_numbers(quick_run):
    _, data = quick_run
    [result] = data["results"]
    assert (result["workload"], result["dtype"]) == ("W1", "float64")
    rows = {row["label"]: row for row in result["rows"]}
    assert set(rows) == {"symbackprop numba", "numpy by hand"}
    ours = rows["symbackprop numba"]
    assert ours["samples"] and all(math.isfinite(s) and s > 0 for s in ours["samples"])
    assert math.isfinite(ours["median"]) and ours["median"] > 0
    assert math.isfinite(ours["loss"])
    for which in ("cold", "cached"):
        probe = ours["compile"][which]
        assert "error" not in probe, probe
        assert math.isfinite(probe["seconds"]) and probe["seconds"] > 0
    hand = rows["numpy by hand"]
    assert math.isfinite(hand["median"]) and hand["loss_ok"]  # same init, data and batches: same loss


def test_run_py_help():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--workloads" in done.stdout and "--quick" in done.stdout
