"""Layers with PyTorch's names, layouts and default initialisation.

A module called on a graph node builds the graph, creating its params with the names
PyTorch's ``state_dict`` would give them (``0.weight``, ``0.bias``, ``2.weight``, ...).

>>> import symbackprop as sb
>>> net = sb.nn.Sequential(sb.nn.Linear(2, 16), sb.nn.Tanh(), sb.nn.Linear(16, 1))
>>> [name for name, shape in net.parameter_shapes()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> net(sb.input("x", (None, 2))).shape
(N, 1)
"""

import math

import numpy as np

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph import functions as fn
from symbackprop.graph import ops
from symbackprop.render import names


class Module:
    """Base class: ``build(x, prefix)`` makes the graph; ``parameter_shapes()`` lists params."""

    def build(self, x, prefix=""):
        raise ArgumentError(f"{type(self).__name__}: a module must define build(self, x, prefix) returning "
                            "the graph node of its output")

    def parameter_shapes(self, prefix=""):
        """[(name, shape)] of this module's params in PyTorch's order."""
        return []

    def init_params(self, seed=0, dtype="float64"):
        """Initial values {name: array}, seeded; PyTorch's default distributions.

        >>> sorted(Linear(3, 2).init_params(seed=0))
        ['bias', 'weight']
        """
        rng = np.random.default_rng(seed)
        return {name: value.astype(dtype) for name, value in self._init(rng, "")}

    def _init(self, rng, prefix):
        return []

    def __call__(self, x):
        out = self.build(x, "")
        if not isinstance(out, ops.Expr):
            raise ArgumentError(f"{type(self).__name__}.build returned {type(out).__name__} {out!r:.60}, "
                                "not a graph node")
        return out


class Linear(Module):
    """y = x Wᵀ + b with ``weight`` (out × in) and ``bias`` (out), as ``torch.nn.Linear``.

    Initialised like PyTorch: weight and bias uniform in ±1/√in.

    >>> import symbackprop as sb
    >>> Linear(2, 3)(sb.input("x", (None, 2))).shape
    (N, 3)
    """

    def __init__(self, in_features, out_features, bias=True):
        for what, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or v < 1:
                raise ShapeError(f"Linear: {what} must be a positive int, got {v!r}")
        self.in_features, self.out_features, self.bias = in_features, out_features, bias

    def parameter_shapes(self, prefix=""):
        shapes = [(prefix + "weight", (self.out_features, self.in_features))]
        if self.bias:
            shapes.append((prefix + "bias", (self.out_features,)))
        return shapes

    def _init(self, rng, prefix):
        bound = 1 / math.sqrt(self.in_features)
        for name, shape in self.parameter_shapes(prefix):
            yield name, rng.uniform(-bound, bound, size=shape)

    def build(self, x, prefix=""):
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}) {prefix or ''}: expects inputs with "
                             f"last dimension {self.in_features}, got {x.describe()}")
        with names.model_scope():
            layer = names.new_layer()
            W = names.tag(ops.param(prefix + "weight", (self.out_features, self.in_features), x.dtype), "W", layer)
            out = x @ W.T
            if self.bias:
                out = out + names.tag(ops.param(prefix + "bias", (self.out_features,), x.dtype), "b", layer)
            return names.tag(out, "z", layer)

    def __repr__(self):
        return f"Linear(in_features={self.in_features}, out_features={self.out_features}, bias={self.bias})"


class Sequential(Module):
    """Modules applied in order; params are named ``<index>.<name>``.

    >>> Sequential(Linear(2, 4), ReLU(), Linear(4, 1)).parameter_shapes()[2]
    ('2.weight', (1, 4))
    """

    def __init__(self, *modules):
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a module")
        self.modules = list(modules)

    def parameter_shapes(self, prefix=""):
        return [s for i, m in enumerate(self.modules) for s in m.parameter_shapes(f"{prefix}{i}.")]

    def _init(self, rng, prefix):
        for i, m in enumerate(self.modules):
            yield from m._init(rng, f"{prefix}{i}.")

    def build(self, x, prefix=""):
        with names.model_scope():
            for i, m in enumerate(self.modules):
                x = m.build(x, f"{prefix}{i}.")
            return x

    def __len__(self):
        return len(self.modules)

    def __getitem__(self, i):
        return self.modules[i]

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential(\n{inner}\n)"


class Activation(Module):
    """An elementwise function as a layer (no params)."""

    function = None

    def build(self, x, prefix=""):
        return names.tag(type(self).function(x), "a", names.current_layer())

    def __repr__(self):
        return f"{type(self).__name__}()"


class Tanh(Activation):
    """tanh, as ``torch.nn.Tanh``."""
    function = staticmethod(fn.tanh)


class ReLU(Activation):
    """max(x, 0), as ``torch.nn.ReLU``."""
    function = staticmethod(fn.relu)


class Sigmoid(Activation):
    """σ(x), as ``torch.nn.Sigmoid``."""
    function = staticmethod(fn.sigmoid)


class GELU(Activation):
    """x·Φ(x) with the erf form, as ``torch.nn.GELU()``."""
    function = staticmethod(fn.gelu)


class Softplus(Activation):
    """log(1 + eˣ) computed stably, as ``torch.nn.Softplus()`` (beta 1; no threshold needed)."""
    function = staticmethod(fn.softplus)


class LeakyReLU(Activation):
    """max(x, 0) + slope·min(x, 0), as ``torch.nn.LeakyReLU(negative_slope)``."""

    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def build(self, x, prefix=""):
        return names.tag(fn.leaky_relu(x, self.negative_slope), "a", names.current_layer())

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"
