"""Smoke test of the benchmark harness: ``symbackprop bench --quick`` on W1
float64 with our numba and llvm backends and the hand-written numpy baseline only (no
torch/jax, even when installed).  It checks that the table prints and that our results are
numbers; it makes no assertion about speed.  The target judgement is tested on made-up
results.
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
                           "--dtypes", "float64", "--backends", "numba,llvm", "--baselines", "numpy",
                           "--json", str(out_json), "--no-progress"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out_json.read_text())


def test_table_prints(quick_run):
    stdout, _ = quick_run
    assert "W1 2-16-16-1 tanh MSE" in stdout
    assert "time/step" in stdout and "÷ ours" in stdout
    assert "symbackprop numba" in stdout and "symbackprop llvm" in stdout and "numpy by hand" in stdout
    assert "targets (llvm backend):" in stdout and "issue" not in stdout.lower()
    assert "PyTorch eager" not in stdout and "JAX jit+scan" not in stdout  # not asked for, even if installed


def test_our_results_are_numbers(quick_run):
    _, data = quick_run
    [result] = data["results"]
    assert (result["workload"], result["dtype"]) == ("W1", "float64")
    rows = {row["label"]: row for row in result["rows"]}
    assert set(rows) == {"symbackprop numba", "symbackprop llvm", "numpy by hand"}
    for label in ("symbackprop numba", "symbackprop llvm"):
        ours = rows[label]
        assert ours["samples"] and all(math.isfinite(s) and s > 0 for s in ours["samples"])
        assert math.isfinite(ours["median"]) and ours["median"] > 0
        assert math.isfinite(ours["loss"]) and ours["loss_ok"]
        for which in ("cold", "cached"):
            probe = ours["compile"][which]
            assert "error" not in probe, probe
            assert math.isfinite(probe["seconds"]) and probe["seconds"] > 0
    groups = {t["group"] for t in data["targets"]}
    assert groups == {"numba", "llvm"}, data["targets"]
    hand = rows["numpy by hand"]
    assert math.isfinite(hand["median"]) and hand["loss_ok"]  # same init, data and batches: same loss


def test_run_py_help():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--workloads" in done.stdout and "--quick" in done.stdout


def _row(label, median, **extra):
    return dict({"label": label, "median": median}, **extra)


def test_targets_judge_each_backend():
    sys.path.insert(0, str(ROOT))
    from benchmarks.run import targets
    w1 = {"workload": "W1", "dtype": "float64", "rows": [
        _row("symbackprop numba", 12e-6, compile={"cold": {"seconds": 4.0}, "cached": {"seconds": 0.4}}),
        _row("symbackprop llvm", 7e-6, compile={"cold": {"seconds": 0.7}, "cached": {"seconds": 0.3}}),
        _row("JAX jit+scan", 15e-6), _row("PyTorch eager", 300e-6)]}
    w2 = {"workload": "W2", "dtype": "float32", "rows": [
        _row("symbackprop numba", 180e-6), _row("symbackprop llvm", 150e-6), _row("JAX jit+scan", 145e-6),
        _row("numba by hand", 160e-6)]}
    got = {(group, text.split(":")[0] + ":" + text.split(":")[1].split("(")[0]): met
           for group, text, met in targets([w1, w2])}
    judged = {(i, t.split(":")[1].strip()): m for (i, t), m in got.items()}
    assert judged[("llvm", "llvm within 1.1× of numba's time")] is True           # W1: faster than numba
    assert judged[("numba", "numba ≥ 2× faster than JAX jit+scan")] is False      # 15/12 = 1.25
    assert judged[("llvm", "fastest of ours")] is True                           # llvm: 15/7 = 2.1
    assert judged[("numba", "numba ≥ 20× faster than PyTorch eager")] is True
    assert judged[("llvm", "symbackprop llvm cached compile < 0.2 s")] is False
    assert judged[("numba", "symbackprop numba within 1.1× of the fastest peer")] is False   # W2: 180/145
    assert judged[("ours", "symbackprop llvm within 1.1× of the fastest peer")] is True  # 150/145


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_threads_limit_pins_the_process():
    """``--threads 1`` must hold every pool to one core, XLA's included (its flags alone do
    not): the process is pinned to one CPU."""
    code = "import os; from benchmarks import threads; print(threads.limit(1)); print(len(os.sched_getaffinity(0)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "1" and "pinned" in done.stdout


def test_the_busy_competitor_ends_when_its_benchmark_is_killed():
    """A benchmark killed by a timeout cannot run ``competitor()``'s cleanup: the busy loop
    must notice its parent is gone and stop, or it distorts every later timing."""
    import time
    from benchmarks import busy
    script = ("import os, subprocess, sys; sys.path.insert(0, sys.argv[1]); from benchmarks import busy\n"
              "child = subprocess.Popen([sys.executable, '-c', busy.LOOP, str(os.getpid())], stdout=subprocess.DEVNULL)\n"
              "print(child.pid, flush=True)\n"
              "os._exit(0)  # as a SIGKILL would: no cleanup\n")
    out = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while busy.running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not busy.running(pid), "the busy loop outlived the benchmark that started it"
