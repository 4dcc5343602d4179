"""Every examples/*.py runs as ``python examples/NAME.py``, exits 0 and prints what it shows.

Each runs in a subprocess in a temporary directory (moons.py writes moons.png there), with
the numba kernel cache at its default location, so reruns load compiled kernels from disk.
Each example asserts its own claims (accuracy, agreement with closed forms and finite
differences); the checks here are on what it prints.
"""

import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

#: a line each example must print (a regular expression)
EXPECTED = {
    "moons.py": r"training accuracy: (9[7-9]|100)\.\d%",
    "xor.py": r"2-4-1 tanh network: .* training accuracy: (9[7-9]|100)\.\d%",
    "linear_regression.py": r"max \|learned − closed form\| = \d\.\d\de-\d\d",
    "logistic_regression.py": r"compiled gradient == xᵀ\(σ\(xW \+ b\) − y\)/N computed by hand: yes",
    "digits.py": r"test accuracy: \d+\.\d%",
    "seed_networks.py": r"all gradients agree with finite differences",
    "custom_op.py": r"swish'\(u\) = .*sigmoid",
    "tutorial.py": r"7\. training .*\n.*\n.*training accuracy",
    "cnn_digits.py": r"∂L/∂W₁ = x ⋆\[p=1\] δ₁[\s\S]*test accuracy: (9\d|100)\.\d%",
    "rnn_sequence.py": r"δ₁ = ∂L/∂z₁ = \(δ₂ W_hh\) ⊙ \(1 − h₁²\)[\s\S]*LSTM .*test MSE",
    "vanishing_gradients.py": r"δ₁ = ∂L/∂z₁ = \(δ₂ W₂\) ⊙ a₁ ⊙ \(1 − a₁\)[\s\S]*first/last[\s\S]*"
                              r"the sigmoid net's first layer gets \d\.\de\+\d\d times less gradient than its last",
    "exploding_gradients.py": r"without clipping:[\s\S]*training diverged at[\s\S]*with clip_grad_norm=1\.0:"
                              r"[\s\S]*converged: training MSE",
}

#: generous per-example limit (the target is < 30 s with a cold kernel cache)
TIMEOUT = 120


def test_every_example_has_a_check():
    found = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert found == sorted(EXPECTED), f"examples/ has {found}; checks for {sorted(EXPECTED)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name, tmp_path):
    # the checkout under test comes first, whatever an editable install points at
    path = os.pathsep.join(p for p in (str(EXAMPLES.parent), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=path)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=TIMEOUT)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, f"{name} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert re.search(EXPECTED[name], done.stdout), f"{name} did not print /{EXPECTED[name]}/:\n{done.stdout}"
    assert "Traceback" not in done.stderr
    if name == "moons.py":
        from symbackprop.plot import available
        assert (tmp_path / "moons.png").exists() == available()
    print(f"{name}: {seconds:.1f} s")
