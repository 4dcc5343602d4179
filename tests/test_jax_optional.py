"""JAX is optional: without it, ``backend="jax"`` is a clear error saying what to install,
and ``devices=`` belongs to the jax backend alone.  These run everywhere, with or without JAX."""

import pytest

import codegen
import symbackprop as sb


def test_a_missing_jax_is_a_clear_error_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(codegen.OPTIONAL, "jax", (("no_such_jax_module",), codegen.OPTIONAL["jax"][1]))
    x = sb.input("x", (None, 2)); w = sb.param("w", (2,))
    with pytest.raises(sb.BackendUnavailable, match=r"pip install 'symbackprop\[jax\]'.*jax\[cuda12\]"):
        sb.compile(sb.sum(x @ w), backend="jax")
    with pytest.raises(sb.BackendUnavailable, match="no_such_jax_module is not installed"):
        sb.Trainer(sb.nn.Linear(2, 1), backend="jax")
    assert issubclass(sb.BackendUnavailable, sb.SymbackpropError)


def test_devices_are_refused_off_the_jax_backend():
    with pytest.raises(sb.ArgumentError, match="devices= is for backend='jax'"):
        sb.Trainer(sb.nn.Linear(2, 1), backend="numpy", devices=2)
    assert sb.Trainer(sb.nn.Linear(2, 1), backend="numpy").devices is None
