"""Batch normalization, layer normalization and dropout, with PyTorch's names and semantics.

In training mode ``BatchNorm`` normalises with the batch's mean and biased variance, built
from ordinary graph ops so that the backward pass is derived (and simplified) like any other;
the running statistics (``running_mean``, ``running_var``: buffers, not params) are updated
by the training program after each step as PyTorch updates them (momentum, unbiased
variance).  In evaluation mode (``Trainer.predict``, or after ``net.eval()``) it uses the
running statistics, and ``Dropout`` is the identity.

>>> import symbackprop as sb
>>> bn = sb.nn.BatchNorm1d(3)
>>> bn.parameter_shapes(), [name for name, _, _ in bn.buffer_shapes()]
([('weight', (3,)), ('bias', (3,))], ['running_mean', 'running_var', 'num_batches_tracked'])
>>> bn(sb.input("x", (None, 3))).shape
(N, 3)
"""

import math
import numbers

import numpy as np
import sympy as sp

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph import functions as fn
from symbackprop.graph import ops
from symbackprop.nn.modules import Module, current_build, is_training
from symbackprop.render import names

_U, _V, _W = sp.symbols("u v w", real=True)


def _positive_int(what, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ShapeError(f"{what} must be a positive int, got {v!r}")
    return int(v)


def _nonnegative(what, v):
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise ArgumentError(f"{what} must be a finite number >= 0, got {v!r}")
    return float(v)


def _scaled(node, factor):
    """``node`` times the sympy number or expression ``factor`` (which may hold the batch size N)."""
    return ops.apply(_U * factor, {_U: node}, where="scale")


def _normalized(x, mean, var, eps):
    """(x − μ)/√(σ² + ε) as one map (so formulas name x̂ where they compute it)."""
    return ops.apply((_U - _V) / sp.sqrt(_W + sp.Float(eps)), {_U: x, _V: mean, _W: var}, where="normalization")


def _affine(xhat, gamma, beta):
    """x̂ ⊙ γ + β as one map (one node a formula can name and reuse)."""
    return ops.apply(_U * _V + _W, {_U: xhat, _V: gamma, _W: beta}, where="normalization")


class _BatchNorm(Module):
    d = None  # spatial dims: 0 or 1 for BatchNorm1d, 2 for BatchNorm2d

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        what = type(self).__name__
        self.num_features = _positive_int(f"{what}: num_features", num_features)
        self.eps = _nonnegative(f"{what}: eps", eps)
        if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ArgumentError(f"{what}: momentum must be a number in [0, 1] (a cumulative average, "
                                f"momentum=None, is not supported), got {momentum!r}")
        self.momentum = float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)

    def parameter_shapes(self, prefix=""):
        if not self.affine:
            return []
        return [(prefix + "weight", (self.num_features,)), (prefix + "bias", (self.num_features,))]

    def buffer_shapes(self, prefix=""):
        if not self.track_running_stats:
            return []
        c = (self.num_features,)
        return [(prefix + "running_mean", c, "float"), (prefix + "running_var", c, "float"),
                (prefix + "num_batches_tracked", (), "int64")]

    def _init(self, rng, prefix):  # PyTorch: weight 1, bias 0
        if self.affine:
            yield prefix + "weight", np.ones(self.num_features)
            yield prefix + "bias", np.zeros(self.num_features)

    def _init_buffers(self, prefix):
        if self.track_running_stats:
            yield prefix + "running_mean", np.zeros(self.num_features), "float"
            yield prefix + "running_var", np.ones(self.num_features), "float"
            yield prefix + "num_batches_tracked", np.array(0), "int64"

    def _check(self, x, prefix):
        ranks = (2, 3) if self.d == 1 else (4,)
        if x.ndim not in ranks or x.shape[1] != self.num_features:
            want = " or ".join(f"(N, {self.num_features}{', …' * (r - 2)})" for r in ranks)
            raise ShapeError(f"{self!r} {prefix or ''}: expects inputs {want}, got {x.describe()}")

    def build(self, x, prefix=""):
        self._check(x, prefix)
        c = self.num_features
        axes = (0,) + tuple(range(2, x.ndim))
        per_channel = (c,) + (1,) * (x.ndim - 2)  # (C,) broadcast against (N, C, ...)

        def channel(v):
            return v if x.ndim == 2 else ops.reshape(v, per_channel)

        with names.model_scope():
            return self._normalize(x, prefix, c, axes, channel, names.new_layer())

    def _normalize(self, x, prefix, c, axes, channel, layer):
        training = is_training(self) or not self.track_running_stats
        if training:
            mean = names.tag(ops.mean(x, axis=axes), "mu", layer)
            centred = x - channel(mean)
            var = names.tag(ops.mean(centred * centred, axis=axes), "var", layer)
            record = current_build()
            if record is not None and self.track_running_stats and is_training(self):
                count = 1
                for a in axes:
                    count = count * x.shape[a]
                unbiased = _scaled(var, count / (count - 1))
                record.stats.append((prefix + "running_mean", mean, self.momentum))
                record.stats.append((prefix + "running_var", unbiased, self.momentum))
        else:
            mean = ops.input(prefix + "running_mean", (c,), x.dtype)
            var = ops.input(prefix + "running_var", (c,), x.dtype)
        xhat = names.tag(_normalized(x, channel(mean), channel(var), self.eps), "xhat", layer)
        if not self.affine:
            return xhat
        gamma = names.tag(ops.param(prefix + "weight", (c,), x.dtype), "gamma", layer)
        beta = names.tag(ops.param(prefix + "bias", (c,), x.dtype), "beta", layer)
        return names.tag(_affine(xhat, channel(gamma), channel(beta)), "z", layer)

    def __repr__(self):
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats})")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L) inputs, as ``torch.nn.BatchNorm1d``:
    params ``weight`` (γ), ``bias`` (β); buffers ``running_mean``, ``running_var``,
    ``num_batches_tracked``."""
    d = 1


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W) inputs, per channel, as ``torch.nn.BatchNorm2d``."""
    d = 2


class LayerNorm(Module):
    """Normalization over the trailing ``normalized_shape`` axes of each sample, as
    ``torch.nn.LayerNorm``: params ``weight`` and ``bias`` of that shape.

    >>> import symbackprop as sb
    >>> sb.nn.LayerNorm(4)(sb.input("x", (None, 4))).shape
    (N, 4)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
        self.normalized_shape = tuple(_positive_int("LayerNorm: normalized_shape", d) for d in shape)
        if not self.normalized_shape:
            raise ShapeError("LayerNorm: normalized_shape must have at least one dimension")
        self.eps = _nonnegative("LayerNorm: eps", eps)
        self.elementwise_affine = bool(elementwise_affine)

    def parameter_shapes(self, prefix=""):
        if not self.elementwise_affine:
            return []
        return [(prefix + "weight", self.normalized_shape), (prefix + "bias", self.normalized_shape)]

    def _init(self, rng, prefix):
        if self.elementwise_affine:
            yield prefix + "weight", np.ones(self.normalized_shape)
            yield prefix + "bias", np.zeros(self.normalized_shape)

    def build(self, x, prefix=""):
        k = len(self.normalized_shape)
        if x.ndim <= k or tuple(x.shape[-k:]) != self.normalized_shape:
            raise ShapeError(f"{self!r} {prefix or ''}: expects inputs ending in {self.normalized_shape}, "
                             f"got {x.describe()}")
        with names.model_scope():
            return self._normalize(x, prefix, k, names.new_layer())

    def _normalize(self, x, prefix, k, layer):
        axes = tuple(range(x.ndim - k, x.ndim))
        mean = names.tag(ops.mean(x, axis=axes, keepdims=True), "mu", layer)
        centred = x - mean
        var = names.tag(ops.mean(centred * centred, axis=axes, keepdims=True), "var", layer)
        xhat = names.tag(_normalized(x, mean, var, self.eps), "xhat", layer)
        if not self.elementwise_affine:
            return xhat
        gamma = names.tag(ops.param(prefix + "weight", self.normalized_shape, x.dtype), "gamma", layer)
        beta = names.tag(ops.param(prefix + "bias", self.normalized_shape, x.dtype), "beta", layer)
        return names.tag(_affine(xhat, gamma, beta), "z", layer)

    def __repr__(self):
        shape = self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape
        return f"LayerNorm({shape}, eps={self.eps:g}, elementwise_affine={self.elementwise_affine})"


#: prefix of the names of dropout masks: inputs of the training graph that the training
#: program draws itself (``DropoutMask`` steps), from the Trainer's seed and the step number
MASK_PREFIX = "%dropout"


class Dropout(Module):
    """Inverted dropout, as ``torch.nn.Dropout(p)``: while training each element is zeroed
    with probability p and the others scaled by 1/(1−p); the identity in evaluation mode.

    The training graph multiplies by a mask, an input named ``%dropout<k>.<path>``; inside
    ``fit`` the fused training loop draws it from the Trainer's seed and the step number
    (reproducible, the same on every backend).

    >>> import symbackprop as sb
    >>> x = sb.input("x", (None, 3))
    >>> sb.nn.Dropout(0.2)(x).op, sb.nn.Dropout(0.2).eval()(x) is x
    ('map', True)
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p < 1:
            raise ArgumentError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)

    def build(self, x, prefix=""):
        if not is_training(self) or self.p == 0:
            return x
        record = current_build()
        k = len(record.masks) if record is not None else 0
        mask = ops.input(f"{MASK_PREFIX}{k}.{prefix.rstrip('.') or 'mask'}", (None,) + tuple(x.shape[1:]), x.dtype)
        names.name(mask, "m" if k == 0 else f"m_{k}")
        if record is not None:
            record.masks.append((mask, self.p))
        return names.tag(x * mask, "dropped", names.current_layer())  # ã = m ⊙ a

    def __repr__(self):
        return f"Dropout(p={self.p:g})"
