"""numba backend: temporaries are views of the arenas made by ``views.arena_view``, not by
numba's slicing (which cost 0.45 s of W1's cold compile), and such a view is the slice."""

import re

import numpy as np
import pytest

pytest.importorskip("numba")
from numba import njit

import symbackprop as sb
from codegen.numba_backend.training import training_source
from codegen.numba_backend.views import arena_view
from symbackprop.lower.training import lower_training


@njit
def _write_through(arena, lo, hi, value):
    v = arena_view(arena, lo, hi)
    for i in range(v.size):
        v[i] = value + i
    return v.size


@njit
def _nested(arena):
    outer = arena_view(arena, 2, 8)
    inner = arena_view(outer, 1, 3)   # a view of a view: offsets add up
    inner[0] = -1.0
    return inner.size, outer.size


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_a_view_is_the_slice_and_writes_reach_the_arena(dtype):
    arena = np.zeros(10, dtype=dtype)
    assert _write_through(arena, 3, 7, 5) == 4
    expected = np.zeros(10, dtype=dtype)
    expected[3:7] = 5 + np.arange(4)
    np.testing.assert_array_equal(arena, expected)
    assert _write_through(arena, 4, 4, 1) == 0       # an empty view writes nothing
    np.testing.assert_array_equal(arena, expected)


def test_views_of_views_and_sizes():
    arena = np.zeros(10)
    assert _nested(arena) == (2, 6)
    assert arena[3] == -1.0 and np.count_nonzero(arena) == 1


def test_a_view_leaves_the_arenas_reference_count_alone():
    arena = np.zeros(6)
    before = __import__("sys").getrefcount(arena)
    for _ in range(100):
        _write_through(arena, 0, 6, 1)
    assert __import__("sys").getrefcount(arena) == before


def test_generated_training_code_slices_no_arena_with_numbas_slicing():
    net = sb.nn.Sequential(sb.nn.Linear(2, 4), sb.nn.Tanh(), sb.nn.Linear(4, 4), sb.nn.Tanh(), sb.nn.Linear(4, 1))
    x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
    tp = lower_training(sb.mse(net(x), y), [n for n, _ in net.parameter_shapes()], x, y, sb.optim.SGD(lr=0.1))
    source = training_source(tp)
    assert re.search(r"= arena_view\(arena_float64, ", source)
    assert not re.search(r"arena_\w+\[", source)          # no arena[lo:hi]
    assert not re.search(r"\ba\d+\[\d+:\d+\]", source)      # nor check[i:i + 1] for an update
