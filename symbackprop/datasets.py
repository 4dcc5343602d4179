"""Small seeded data sets made here (no downloads): the demo's two moons, XOR, 8×8 digits.

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


GLYPHS = {  # 5 wide, 7 tall
    0: ".###.#...##..###.#.###..##...#.###.", 1: "..#...##....#....#....#....#...###.",
    2: ".###.#...#....#...#...#...#...#####", 3: "#####...#...#.....#.....##...#.###.",
    4: "...#...##..#.#.#..#.#####...#....#.", 5: "######....####.....#....##...#.###.",
    6: "..##..#...#....####.#...##...#.###.", 7: "#####....#...#...#...#....#....#...",
    8: ".###.#...##...#.###.#...##...#.###.", 9: ".###.#...##...#.####....#...#..##..",
}


def synthetic_digits(n=1800, seed=0):
    """A seeded stand-in for scikit-learn's 8×8 digits: (images (n, 64) in 0..16, labels (n,)),
    5×7 font glyphs at random offsets in an 8×8 frame, thickened at random, noised.

    >>> X, y = synthetic_digits(20); X.shape, y.shape, float(X.min()) >= 0
    ((20, 64), (20,), True)
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 8, 8))
    for i, d in enumerate(labels):
        glyph = np.array([c == "#" for c in GLYPHS[d]], dtype=float).reshape(7, 5)
        if rng.random() < 0.5:  # a thicker stroke: smear one pixel to the right
            glyph = np.maximum(glyph, 0.6 * np.roll(glyph, 1, axis=1))
        r, c = rng.integers(0, 2), rng.integers(0, 4)
        images[i, r:r + 7, c:c + 5] = glyph * rng.uniform(10, 16)
    images += rng.normal(scale=2.0, size=images.shape)
    return np.clip(images, 0, 16).reshape(n, 64), labels
