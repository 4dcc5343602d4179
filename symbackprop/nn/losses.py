"""Losses with PyTorch's conventions (mean reduction), so a PyTorch user gets the same numbers.

==================  ==========================================  ===========================
name                formula                                     PyTorch
==================  ==========================================  ===========================
``mse``             mean((ŷ − y)²) over all elements            ``MSELoss()``
``bce``             mean(softplus(z) − y·z), z logits           ``BCEWithLogitsLoss()``
``cross_entropy``   mean(logsumexp(z) − z[y]), int labels       ``CrossEntropyLoss()``
``hinge``           mean(relu(1 − y·s)), labels ±1              (``MultiMarginLoss`` for 1 output)
==================  ==========================================  ===========================

>>> import symbackprop as sb
>>> z = sb.input("z", (None, 1)); y = sb.input("y", (None, 1))
>>> bce(z, y).shape
()
"""

from symbackprop.errors import ShapeError
from symbackprop.graph import functions as fn
from symbackprop.graph import ops
from symbackprop.graph.shape import fmt


def _same_shape(name, pred, target):
    if pred.shape != target.shape:
        raise ShapeError(f"{name}: prediction {pred.describe()} and target {target.describe()} "
                         f"must have the same shape (got {fmt(pred.shape)} and {fmt(target.shape)})")


def mse(pred, target):
    """Mean squared error over all elements.

    >>> import symbackprop as sb
    >>> mse(sb.input("p", (None, 2)), sb.input("t", (None, 2))).shape
    ()
    """
    _same_shape("mse", pred, target)
    return ops.mean((pred - target) ** 2)


def bce(logits, target):
    """Binary cross-entropy on logits, stable for any |z| (softplus is evaluated stably).

    >>> import symbackprop as sb
    >>> bce(sb.input("z", (None,)), sb.input("y", (None,))).shape
    ()
    """
    _same_shape("bce", logits, target)
    return ops.mean(fn.softplus(logits) - target * logits)


def cross_entropy(logits, labels):
    """Softmax cross-entropy of logits (N, k) against int64 class labels (N,).

    >>> import symbackprop as sb
    >>> cross_entropy(sb.input("z", (None, 3)), sb.input("y", (None,), dtype="int64")).shape
    ()
    """
    if logits.ndim != 2 or labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ShapeError(f"cross_entropy: logits must be (N, k) and labels (N,), got {logits.describe()} "
                         f"and {labels.describe()}")
    onehot = ops.onehot(labels, logits.shape[1], dtype=logits.dtype)
    return ops.mean(ops.logsumexp(logits, axis=1) - ops.sum(onehot * logits, axis=1))


def hinge(score, target):
    """Mean hinge loss relu(1 − y·s) with labels ±1.

    >>> import symbackprop as sb
    >>> hinge(sb.input("s", (None, 1)), sb.input("y", (None, 1))).shape
    ()
    """
    _same_shape("hinge", score, target)
    return ops.mean(fn.relu(1 - target * score))


def l2(params, weight=1.0):
    """The penalty (weight/2)·Σ‖p‖², whose gradient weight·p matches SGD's weight_decay.

    >>> import symbackprop as sb
    >>> l2([sb.param("W", (2, 2)), sb.param("b", (2,))], 1e-4).shape
    ()
    """
    params = list(params.values()) if isinstance(params, dict) else list(params)
    if not params:
        raise ValueError("l2: no parameters given")
    total = ops.sum(params[0] ** 2)
    for p in params[1:]:
        total = total + ops.sum(p ** 2)
    return total * (weight / 2)


#: the losses ``Trainer(loss=...)`` accepts by name; the target's kind for each
LOSSES = {"mse": mse, "bce": bce, "cross_entropy": cross_entropy, "hinge": hinge}
