"""Checking and shaping training data for a loss before it reaches a compiled function.

>>> import numpy as np
>>> targets(np.array([0, 1, 1]), "cross_entropy", out_dim=2, dtype="float64").dtype
dtype('int64')
"""

import numpy as np

from symbackprop.errors import DataError, ShapeError


def _array(value, what):
    """``np.asarray(value)``, with ragged nested lists reported as the data's fault."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise DataError(f"{what}: cannot be read as an array ({e.args[0].split('.')[0] if e.args else e}); "
                        "rows of nested lists must all have the same length") from None


def features(X, dtype):
    """X as a float array of ``dtype`` with a batch axis; NaN/inf rejected.

    >>> features([[1, 2]], "float32").dtype
    dtype('float32')
    """
    X = _array(X, "X")
    if X.dtype.kind not in "iuf":
        raise DataError(f"X: expected numbers, got an array of dtype {X.dtype}")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim < 2 or X.shape[0] == 0:
        raise ShapeError(f"X: expected shape (n_samples, n_features) with n_samples > 0, got {X.shape}")
    X = X.astype(dtype, copy=False)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise DataError(f"X: non-finite value {X[tuple(bad)]} at row {bad[0]}, column {bad[1] if len(bad) > 1 else 0}")
    return X


def targets(Y, loss, out_dim, dtype):
    """Targets shaped and typed for ``loss``: int64 labels in [0, k) for cross_entropy,
    else floats of shape (n, out_dim); values checked against the loss's range.

    >>> targets(np.array([1.0, -1.0]), "hinge", out_dim=1, dtype="float64").shape
    (2, 1)
    """
    Y = _array(Y, "Y")
    if Y.dtype.kind not in "iufb":
        raise DataError(f"Y: expected numbers, got an array of dtype {Y.dtype}")
    if loss == "cross_entropy":
        if Y.ndim == 2 and Y.shape[1] == 1:
            Y = Y[:, 0]
        if Y.ndim != 1:
            raise ShapeError(f"Y: cross_entropy takes integer class labels of shape (n,), got shape {Y.shape}")
        if Y.dtype.kind == "f":
            if not np.isfinite(Y).all() or not np.all(Y == np.round(Y)):
                raise DataError("Y: cross_entropy takes integer class labels; got non-integer values")
        labels = Y.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= out_dim):
            raise DataError(f"Y: class labels must lie in [0, {out_dim}) for a network with {out_dim} outputs; "
                            f"got labels from {labels.min()} to {labels.max()}")
        return labels
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[1] != out_dim:
        raise ShapeError(f"Y: the network has {out_dim} output(s), so targets must have shape (n, {out_dim}); "
                         f"got {Y.shape}")
    Y = Y.astype(dtype)
    if not np.isfinite(Y).all():
        raise DataError(f"Y: non-finite target at row {int(np.argwhere(~np.isfinite(Y))[0][0])}")
    if loss == "bce" and (Y.min() < 0 or Y.max() > 1):
        raise DataError(f"Y: bce takes targets in [0, 1]; got values from {Y.min()} to {Y.max()}")
    if loss == "hinge" and not np.all(np.abs(Y) == 1):
        raise DataError("Y: hinge takes labels -1 and +1; got other values")
    return Y
