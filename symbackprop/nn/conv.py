"""Convolution, pooling and flatten layers with PyTorch's names, layouts and initialisation.

>>> import symbackprop as sb
>>> net = sb.nn.Sequential(sb.nn.Conv2d(1, 8, 3), sb.nn.ReLU(), sb.nn.MaxPool2d(2), sb.nn.Flatten(),
...                        sb.nn.Linear(8 * 13 * 13, 10))
>>> [name for name, _ in net.parameter_shapes()]
['0.weight', '0.bias', '4.weight', '4.bias']
>>> net(sb.input("x", (None, 1, 28, 28))).shape
(N, 10)
"""

import math

from symbackprop.errors import ShapeError
from symbackprop.graph import ops
from symbackprop.nn.modules import Module
from symbackprop.primitives.windows import pair
from symbackprop.render import names


class _ConvNd(Module):
    d = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        what = f"Conv{self.d}d"
        for label, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ShapeError(f"{what}: {label} must be a positive int, got {v!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, self.d, f"{what}: kernel_size", 1)
        self.stride = pair(stride, self.d, f"{what}: stride", 1)
        self.padding = pair(padding, self.d, f"{what}: padding", 0)
        self.bias = bias

    def parameter_shapes(self, prefix=""):
        shapes = [(prefix + "weight", (self.out_channels, self.in_channels) + self.kernel_size)]
        if self.bias:
            shapes.append((prefix + "bias", (self.out_channels,)))
        return shapes

    def _init(self, rng, prefix):
        # PyTorch: kaiming_uniform_(a=√5) for the weight and U(±1/√fan_in) for the bias: both ±1/√fan_in
        bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
        for name, shape in self.parameter_shapes(prefix):
            yield name, rng.uniform(-bound, bound, size=shape)

    def build(self, x, prefix=""):
        if x.ndim != self.d + 2 or x.shape[1] != self.in_channels:
            raise ShapeError(f"{self!r} {prefix or ''}: expects inputs (N, {self.in_channels}, "
                             f"{', '.join(['…'] * self.d)}), got {x.describe()}")
        with names.model_scope():
            layer = names.new_layer()
            W = names.tag(ops.param(prefix + "weight", (self.out_channels, self.in_channels) + self.kernel_size,
                                    x.dtype), "W", layer)
            b = names.tag(ops.param(prefix + "bias", (self.out_channels,), x.dtype), "b", layer) if self.bias else None
            conv = ops.conv2d if self.d == 2 else ops.conv1d
            return names.tag(conv(x, W, b, self.stride, self.padding), "z", layer)

    def __repr__(self):
        k = self.kernel_size if self.d > 1 else self.kernel_size[0]
        extra = "".join(f", {n}={getattr(self, n) if self.d > 1 else getattr(self, n)[0]}"
                        for n, default in (("stride", 1), ("padding", 0)) if set(getattr(self, n)) != {default})
        return (f"Conv{self.d}d({self.in_channels}, {self.out_channels}, kernel_size={k}{extra}"
                f"{'' if self.bias else ', bias=False'})")


class Conv2d(_ConvNd):
    """2-D convolution layer, as ``torch.nn.Conv2d``: ``weight`` (out, in, kh, kw), ``bias`` (out);
    inputs (N, in, H, W).

    >>> import symbackprop as sb
    >>> Conv2d(3, 4, 3, padding=1)(sb.input("x", (None, 3, 8, 8))).shape
    (N, 4, 8, 8)
    """
    d = 2


class Conv1d(_ConvNd):
    """1-D convolution layer, as ``torch.nn.Conv1d``: ``weight`` (out, in, k), inputs (N, in, L).

    >>> import symbackprop as sb
    >>> Conv1d(2, 4, 3)(sb.input("x", (None, 2, 10))).shape
    (N, 4, 8)
    """
    d = 1


class _PoolNd(Module):
    kind = d = None

    def __init__(self, kernel_size, stride=None):
        what = f"{type(self).__name__}"
        self.kernel_size = pair(kernel_size, self.d, f"{what}: kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, self.d, f"{what}: stride", 1)

    def build(self, x, prefix=""):
        from symbackprop.primitives.pooling import pool
        return names.tag(pool(self.kind, x, self.kernel_size, self.stride, self.d), "p", names.current_layer())

    def __repr__(self):
        k = self.kernel_size if self.d > 1 else self.kernel_size[0]
        s = self.stride if self.d > 1 else self.stride[0]
        return f"{type(self).__name__}(kernel_size={k}, stride={s})"


class MaxPool2d(_PoolNd):
    """Max pooling over (H, W), as ``torch.nn.MaxPool2d(kernel_size, stride=None)``.

    >>> import symbackprop as sb
    >>> MaxPool2d(2)(sb.input("x", (None, 8, 26, 26))).shape
    (N, 8, 13, 13)
    """
    kind, d = "max", 2


class AvgPool2d(_PoolNd):
    """Average pooling over (H, W), as ``torch.nn.AvgPool2d(kernel_size, stride=None)``."""
    kind, d = "avg", 2


class MaxPool1d(_PoolNd):
    """Max pooling over the last axis, as ``torch.nn.MaxPool1d``."""
    kind, d = "max", 1


class AvgPool1d(_PoolNd):
    """Average pooling over the last axis, as ``torch.nn.AvgPool1d``."""
    kind, d = "avg", 1


class Flatten(Module):
    """All axes but the batch merged into one, as ``torch.nn.Flatten()``.

    >>> import symbackprop as sb
    >>> Flatten()(sb.input("x", (None, 16, 5, 5))).shape
    (N, 400)
    """

    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def build(self, x, prefix=""):
        return ops.flatten(x, self.start_dim)

    def __repr__(self):
        return "Flatten()" if self.start_dim == 1 else f"Flatten(start_dim={self.start_dim})"
