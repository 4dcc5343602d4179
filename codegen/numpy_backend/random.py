"""The dropout mask's counter-based hash (``codegen.program.DropoutMask``) in numpy: the
reference every backend's translation must reproduce bit for bit.

>>> dropout_mask(seed=0, t=1, stream=0, size=8, threshold=threshold(0.5), scale=2.0)
array([0., 2., 0., 2., 2., 0., 2., 0.])
"""

import math

import numpy as np

from codegen.numpy_backend.steps import concrete_shape, translates
from codegen.program import DropoutMask

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def threshold(p):
    """⌈p·2⁵³⌉: an element is kept when its 53-bit draw is at least this."""
    return int(math.ceil(p * 2.0 ** 53))


def mix(z):
    """splitmix64's finaliser on a Python int (mod 2⁶⁴)."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def _mix_array(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def step_key(seed, t, stream):
    """The key of one step's mask of one dropout layer."""
    return mix((mix((seed + GOLDEN * (stream + 1)) & MASK64) + GOLDEN * t) & MASK64)


def dropout_mask(seed, t, stream, size, threshold, scale, dtype="float64"):
    """The mask's ``size`` elements (flat) for step ``t``."""
    key = np.uint64(step_key(int(seed) & MASK64, int(t), int(stream)))
    with np.errstate(over="ignore"):
        i = np.arange(1, size + 1, dtype=np.uint64)
        z = _mix_array(key + np.uint64(GOLDEN) * i)
    keep = (z >> np.uint64(11)) >= np.uint64(threshold)
    return np.where(keep, np.asarray(scale, dtype=dtype), np.asarray(0, dtype=dtype)).astype(dtype)


@translates(DropoutMask)
def _dropout_mask(step, env, out, n):
    shape = concrete_shape(out.shape, n)
    flat = dropout_mask(int(env[step.seed].reshape(-1)[0]), int(env[step.hyper][0]), step.stream,
                        int(np.prod(shape, dtype=np.int64)), step.threshold, step.scale, out.dtype)
    return flat.reshape(shape)
