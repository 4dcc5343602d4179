"""``sb.gradcheck``: it passes correct gradients on every backend and catches the two kinds of
wrong ones: a derivation that differs from finite differences, and a backend that differs
from the evaluator on the same derived gradient."""

import numpy as np
import pytest

import symbackprop as sb
from tests.conftest import optional_backends

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()
x = sb.input("x", (None, 3)); w = sb.param("w", (3,)); b = sb.param("b", ())
swish = sb.elementwise(lambda u: u * sb.scalar.sigmoid(u), name="swish")
softsign = sb.elementwise(lambda u: u / (1 + abs(u)), name="softsign")  # the squared denominator once miscompiled


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_custom_activation_checks_in_one_line(backend):
    report = sb.gradcheck(sb.mean(softsign(x @ sb.param("v", (3, 2))) ** 2), [sb.param("v", (3, 2))],
                          backend=backend)
    assert report.ok, str(report)
    assert report.results[0].checked == 6 and len(report.directions) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_scalar_outputs_are_checked_through_a_random_projection(backend):
    report = sb.gradcheck([swish(x * w + b), sb.tanh(x) * b], [w, b], backend=backend)
    assert report.ok, str(report)
    assert [r.name for r in report.results] == ["w", "b"]


def test_float32_graphs_use_float32_tolerances():
    x32 = sb.input("x", (None, 3), "float32"); w32 = sb.param("w", (3,), "float32")
    report = sb.gradcheck(sb.sum(sb.tanh(x32 * w32)), w32, backend="llvm")
    assert report.ok and report.rtol == 1e-2, str(report)


def test_a_kink_at_the_point_is_reported_against_finite_differences():
    report = sb.gradcheck(sb.sum(sb.relu(x)), [x], {"x": np.array([[0.0, 1.0, -1.0]])})
    assert not report.ok
    worst = report.worst
    assert worst.worst_index == (0, 0) and worst.fd_value == pytest.approx(0.5) and worst.backend_value == 0
    assert "kink" in str(report)
    with pytest.raises(sb.GradcheckError, match="FAILED"):
        sb.gradcheck(sb.sum(sb.relu(x)), [x], {"x": np.array([[0.0, 1.0, -1.0]])}, raise_on_failure=True)


def test_a_backend_that_disagrees_with_the_evaluator_is_named(monkeypatch):
    import codegen.numpy_backend as numpy_backend
    build = numpy_backend.build

    def broken(program):  # a "miscompiled" kernel: every output off by one part in a million
        run = build(program)
        return lambda arrays, n: [a * (1 + 1e-6) for a in run(arrays, n)]

    monkeypatch.setattr(numpy_backend, "build", broken)
    report = sb.gradcheck(sb.sum(sb.tanh(x * w)), [w], backend="numpy")
    assert not report.ok
    assert report.results[0].evaluator_error > 1e-7 and "code-generation bug" in str(report)


def test_large_tensors_are_sampled_and_the_largest_gradient_is_among_the_samples():
    W = sb.param("W", (40, 30))
    X = np.random.default_rng(0).normal(size=(5, 40))
    report = sb.gradcheck(sb.sum(sb.tanh(sb.input("x", (None, 40)) @ W)), W, {"x": X, "W": np.zeros((40, 30))},
                          samples=50)
    assert report.ok and report.results[0].checked == 50


@pytest.mark.parametrize("bad, fragment", [
    (dict(outputs="L"), "outputs must be a graph node"),
    (dict(wrt=["w"]), "wrt must be an input or param node"),
    (dict(wrt=sb.tanh(x)), "wrt must be an input or param node"),
    (dict(feeds=[1, 2]), "feeds must be a dict"),
    (dict(feeds={"x": np.ones((2, 3))}), "feeds lack w"),
    (dict(rtol=-1.0), "rtol must be a finite number"),
    (dict(samples=0), "samples must be a positive int"),
])
def test_bad_arguments_are_typed_errors(bad, fragment):
    args = dict(outputs=sb.sum(x * w), wrt=[w], feeds=None)
    args.update(bad)
    with pytest.raises(sb.ArgumentError, match=fragment.replace("(", r"\(")):
        sb.gradcheck(args.pop("outputs"), args.pop("wrt"), args.pop("feeds"), **args)
