"""The dropout mask (``codegen.program.DropoutMask``) in jax: splitmix64 in unsigned 64-bit
arithmetic emulated with pairs (hi, lo) of uint32 arrays, so the masks are the numpy
reference's bit for bit whether or not JAX's x64 mode is on (float32 programs run with it
off, and then jax has no uint64).

The seed constant reaches the device as such a pair (``seed_pair``): an int64 would be cut
to int32 without x64.

>>> import jax.numpy as jnp, numpy as np
>>> from codegen.numpy_backend.random import dropout_mask, threshold
>>> key = step_key(pair(seed_pair(7)), pair(np.uint32(0), np.uint32(3)), 1)
>>> m = mask_values(key, 8, threshold(0.5), 2.0, jnp.float32)
>>> bool((np.asarray(m) == dropout_mask(7, 3, 1, 8, threshold(0.5), 2.0, "float32")).all())
True
"""

import jax.numpy as jnp
import numpy as np

from codegen.numpy_backend.random import GOLDEN, MASK64, MIX1, MIX2

LOW = 0xFFFFFFFF


def seed_pair(seed):
    """The seed as the uint32 array [hi, lo] the device holds."""
    seed = int(np.asarray(seed).reshape(-1)[0]) & MASK64
    return np.array([seed >> 32, seed & LOW], dtype=np.uint32)


def pair(hi, lo=None):
    """(hi, lo) uint32 jax arrays, from a [hi, lo] array or from the two halves."""
    if lo is None:
        return jnp.asarray(hi[0], jnp.uint32), jnp.asarray(hi[1], jnp.uint32)
    return jnp.asarray(hi, jnp.uint32), jnp.asarray(lo, jnp.uint32)


def constant(c):
    """A Python int mod 2⁶⁴ as a pair of uint32 scalars."""
    c &= MASK64
    return np.uint32(c >> 32), np.uint32(c & LOW)


def add(a, b):
    lo = a[1] + b[1]
    return a[0] + b[0] + (lo < a[1]).astype(jnp.uint32), lo


def xor_shift(a, k):
    """a ⊕ (a ≫ k) for 0 < k < 32."""
    hi, lo = a
    return hi ^ (hi >> k), lo ^ ((lo >> k) | (hi << (32 - k)))


def mulhi(a, b):
    """The high 32 bits of the 64-bit product of uint32 a and b, in 16-bit pieces."""
    a0, a1, b0, b1 = a & 0xFFFF, a >> 16, b & 0xFFFF, b >> 16
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> 16) + (p01 & 0xFFFF) + (p10 & 0xFFFF)
    return p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16)


def times(a, c):
    """a·c mod 2⁶⁴ for a Python int c."""
    ch, cl = constant(c)
    hi, lo = a
    return mulhi(lo, cl) + lo * ch + hi * cl, lo * cl


def mix(z):
    """splitmix64's finaliser."""
    z = times(xor_shift(z, 30), MIX1)
    z = times(xor_shift(z, 27), MIX2)
    return xor_shift(z, 31)


def step_key(seed, t, stream):
    """key = mix(mix(seed + G·(stream + 1)) + G·t), from pairs ``seed`` and ``t``."""
    return mix(add(mix(add(seed, constant(GOLDEN * (stream + 1)))), times(t, GOLDEN)))


def mask_values(key, size, threshold, scale, dtype):
    """The ``size`` mask elements (flat) under ``key``: scale where mix(key + G·i) ≫ 11 ≥
    threshold (i = 1 … size), else 0."""
    if size >= 1 << 32:
        raise ValueError(f"jax backend: a dropout mask of {size} elements (at most 2³² − 1)")
    i = (jnp.zeros(size, jnp.uint32), jnp.arange(1, size + 1, dtype=jnp.uint32))
    hi, lo = mix(add((jnp.broadcast_to(key[0], (size,)), jnp.broadcast_to(key[1], (size,))), times(i, GOLDEN)))
    top, bottom = hi >> 11, (lo >> 11) | (hi << 21)
    th, tl = constant(threshold)
    keep = (top > th) | ((top == th) & (bottom >= tl))
    return jnp.where(keep, jnp.asarray(scale, dtype=dtype), jnp.asarray(0, dtype=dtype))


def step_pair(t):
    """The step number t (a jax integer or integral float scalar) as a pair."""
    t = jnp.asarray(t)
    if jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.int64 if t.dtype == jnp.float64 else jnp.int32)
    if t.dtype.itemsize == 8:
        return (t >> 32).astype(jnp.uint32), (t & LOW).astype(jnp.uint32)
    return jnp.zeros((), jnp.uint32), t.astype(jnp.uint32)
