"""Small seeded data sets made here (no downloads): the demo's two moons, XOR.

>>> X, y = two_moons(100, seed=0)
>>> X.shape, sorted(set(y.tolist()))
((100, 2), [0, 1])
"""

import numpy as np


def two_moons(n=100, noise=0.1, seed=0):
    """Two interleaving half circles, as scikit-learn's ``make_moons``: X (n, 2), labels 0/1.

    >>> int(two_moons(10, seed=1)[1].sum())
    5
    """
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
                        np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    X = X + rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def xor(n=200, noise=0.1, seed=0):
    """Points around the four corners of the unit square labelled by XOR: X (n, 2), labels 0/1.

    >>> xor(8, seed=0)[0].shape
    (8, 2)
    """
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    X = corners + rng.normal(scale=noise, size=(n, 2))
    return X, (corners[:, 0] ^ corners[:, 1]).astype(np.int64)
