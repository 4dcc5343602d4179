"""Shared test helpers: central finite differences on the direct evaluator, and a relative check.

The finite differences use the 4-point central stencil
``f'(x) ≈ (8(f(x+h) − f(x−h)) − (f(x+2h) − f(x−2h))) / 12h`` (truncation error O(h⁴)), so a
gradient can be held to a relative error of 1e-6 with room to spare.  They only call
``sb.evaluate`` (numpy, node by node), which shares no code with autodiff or lowering.
"""

import os

import numpy as np
from hypothesis import settings

import symbackprop as sb

H = 1e-4

# CI (``.ci/run`` sets SYMBACKPROP_CI=1; CI services set CI) draws the same Hypothesis examples on every run, so a
# red build is reproducible; a local run explores new examples each time (and prints the
# failing example's reproduction blob).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("SYMBACKPROP_CI") or os.environ.get("CI") else "dev")


def central(f, h=H):
    """d/dt f(t) at t = 0 for an array- or float-valued ``f``, by the 4-point central stencil."""
    return (8 * (np.asarray(f(h)) - np.asarray(f(-h))) - (np.asarray(f(2 * h)) - np.asarray(f(-2 * h)))) / (12 * h)


def fd_grad(f, x, h=H):
    """∂f/∂x for a float-valued ``f`` of one float64 array ``x``, element by element."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        def at(d, i=i):
            y = x.copy()
            y[i] += d
            return f(y)
        g[i] = central(at, h)
    return g


def fd_grads(loss, feeds, names, h=H):
    """{name: ∂loss/∂feeds[name]} by finite differences of ``sb.evaluate(loss)``."""
    out = {}
    for name in names:
        def f(v, name=name):
            return float(sb.evaluate([loss], {**feeds, name: v})[0])
        out[name] = fd_grad(f, feeds[name], h)
    return out


def assert_rel(got, want, rtol=1e-6, atol=0.0, what="value"):
    """max|got − want| ≤ rtol·max|want| + atol, with the same shape; says by how much it failed."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != expected {want.shape}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite values {got}"
    err = float(np.max(np.abs(got - want), initial=0.0))
    scale = float(np.max(np.abs(want), initial=0.0))
    assert err <= rtol * scale + atol, (
        f"{what}: max abs error {err:.3e} > {rtol:g} * scale {scale:.3e} + {atol:.1e}\ngot\n{got}\nexpected\n{want}")


def optional_backends():
    """The optional backends this install can run (jax when it imports): tests that run
    every backend add these, so without the library they are skipped, not failed."""
    import codegen
    return [name for name in sorted(codegen.OPTIONAL) if codegen.unavailable(name) is None]
