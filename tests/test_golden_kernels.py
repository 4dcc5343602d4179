"""Golden tests of generated kernels: a change to generated code is seen and reviewed.

To accept a deliberate change, regenerate with
``SYMBACKPROP_UPDATE_GOLDEN=1 pytest tests/test_golden_kernels.py`` and read the diff.
"""

import difflib
import os
from pathlib import Path

import pytest

import symbackprop as sb

GOLDEN = Path(__file__).parent / "golden"


def linear_regression():
    return sb.Trainer(sb.nn.Linear(3, 1), loss="mse", optimizer=sb.optim.SGD(lr=0.1, momentum=0.9),
                      backend="numba"), 3


def sigmoid_net_bce():
    net = sb.nn.Sequential(sb.nn.Linear(2, 3), sb.nn.Sigmoid(), sb.nn.Linear(3, 1))
    return sb.Trainer(net, loss="bce", optimizer=sb.optim.Adam(lr=0.01), backend="numba"), 2


def tanh_net_float32_adam():
    # float32: float32 literals and math, hyperparameters rounded to float32 once per step
    net = sb.nn.Sequential(sb.nn.Linear(2, 4), sb.nn.Tanh(), sb.nn.Linear(4, 1))
    return sb.Trainer(net, loss="mse", optimizer=sb.optim.Adam(lr=0.01), backend="numba", dtype="float32"), 2


@pytest.mark.parametrize("model", [linear_regression, sigmoid_net_bce, tanh_net_float32_adam])
def test_generated_training_kernel_matches_golden(model):
    pytest.importorskip("numba")
    tr, features = model()
    tr.build((features,))
    source = tr.export_source()
    path = GOLDEN / f"numba_{model.__name__}.py.txt"
    if os.environ.get("SYMBACKPROP_UPDATE_GOLDEN"):
        path.write_text(source)
    if not path.exists():  # a missing golden file is a failure, never silently written
        pytest.fail(f"golden file {path.name} is missing; generate it (see module docstring) and review it")
    expected = path.read_text()
    if source != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), source.splitlines(True),
                                            "golden", "generated"))
        pytest.fail(f"generated kernel changed; if intended, regenerate (see module docstring):\n{diff}")
