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

import contextlib
import math

import numpy as np

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph import functions as fn
from symbackprop.graph import ops
from symbackprop.render import names


class _Build:
    """One top-level build of a network: where each module sits (its name prefix), the mode,
    and what training needs besides the loss (batch statistics, dropout masks)."""

    def __init__(self, training=None):
        self.training = training   # None: each module's own ``training`` flag decides
        self.prefixes = []         # stack of {id(module): prefix} of the forward being built
        self.stats = []            # (buffer name, graph node of the new statistic, momentum)
        self.masks = []            # (mask input node, p)


_BUILDS = []


@contextlib.contextmanager
def building(training=None):
    """Build a network's graph in training (True) or evaluation (False) mode, whatever the
    modules' own flags say (None: their flags); yields the build's record (``stats``: running
    statistics to update, ``masks``: dropout masks to draw)."""
    record = _Build(training)
    _BUILDS.append(record)
    try:
        yield record
    finally:
        _BUILDS.pop()


def current_build():
    """The record of the build under way (one is made for a top-level call)."""
    return _BUILDS[-1] if _BUILDS else None


def is_training(module):
    """Whether ``module`` builds its training-mode graph now."""
    record = current_build()
    if record is not None and record.training is not None:
        return record.training
    return module.training


class Module:
    """Base class of layers and networks, as ``torch.nn.Module``.

    Write a network as in PyTorch: submodules assigned as attributes after
    ``super().__init__()`` and a ``forward(self, x)`` that builds the graph; params are named
    by attribute path (``fc1.weight``, ``blocks.0.weight``).  Layers of this package define
    ``build(x, prefix)`` instead.

    >>> import symbackprop as sb
    >>> class Net(sb.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = sb.nn.Linear(2, 4)
    ...         self.fc2 = sb.nn.Linear(4, 1)
    ...     def forward(self, x):
    ...         return self.fc2(sb.tanh(self.fc1(x)))
    >>> [name for name, _ in Net().parameter_shapes()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training = True

    def __init__(self):
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if isinstance(value, Module):
            if "_modules" not in self.__dict__:
                raise ArgumentError(f"{type(self).__name__}: cannot assign submodule {name!r} before "
                                    "super().__init__() is called")
            self._modules[name] = value
        elif name in self.__dict__.get("_modules", {}):
            del self._modules[name]
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self.__dict__.get("_modules", {}).pop(name, None)
        object.__delattr__(self, name)

    # ---- structure ------------------------------------------------------------------------
    def named_children(self):
        """[(attribute name, submodule)] in the order they were assigned."""
        return list(self.__dict__.get("_modules", {}).items())

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        """[(dotted path, module)] of this module and every submodule, each once, as PyTorch lists them."""
        out, seen, todo = [], set(), [(prefix, self)]
        while todo:
            path, m = todo.pop(0)
            if id(m) in seen:
                continue
            seen.add(id(m))
            out.append((path, m))
            todo[0:0] = [((f"{path}.{name}" if path else name), c) for name, c in m.named_children()]
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def parameter_shapes(self, prefix=""):
        """[(name, shape)] of this module's params in PyTorch's order."""
        return [s for name, c in self.named_children() for s in c.parameter_shapes(f"{prefix}{name}.")]

    def buffer_shapes(self, prefix=""):
        """[(name, shape, kind)] of this module's buffers (kind "float" or "int64"), PyTorch's order."""
        return [s for name, c in self.named_children() for s in c.buffer_shapes(f"{prefix}{name}.")]

    def state_shapes(self, prefix=""):
        """[(name, shape, "param" or "buffer")] in the order of PyTorch's ``state_dict``: a
        module's own params, then its own buffers, then its children's."""
        children = self.named_children()
        if not children:
            return [(n, s, "param") for n, s in self.parameter_shapes(prefix)] + \
                [(n, s, "buffer") for n, s, _ in self.buffer_shapes(prefix)]
        return [e for name, c in children for e in c.state_shapes(f"{prefix}{name}.")]

    def init_params(self, seed=0, dtype="float64"):
        """Initial values {name: array}, seeded; PyTorch's default distributions, or the
        ones chosen with ``sb.nn.init``.

        >>> sorted(Linear(3, 2).init_params(seed=0))
        ['bias', 'weight']
        """
        rng = np.random.default_rng(seed)
        values = {name: value.astype(dtype) for name, value in self._init(rng, "")}
        for path, m in self.named_modules():
            for name, rule in m.__dict__.get("_init_rules", {}).items():
                full = f"{path}.{name}" if path else name
                if full in values:
                    values[full] = np.asarray(rule(rng, values[full].shape), dtype=dtype)
        return values

    def init_buffers(self, dtype="float64"):
        """Initial buffers {name: array} (running statistics as PyTorch starts them)."""
        return {name: value.astype("int64" if kind == "int64" else dtype)
                for name, value, kind in self._init_buffers("")}

    def _init(self, rng, prefix):
        for name, c in self.named_children():
            yield from c._init(rng, f"{prefix}{name}.")

    def _init_buffers(self, prefix):
        for name, c in self.named_children():
            yield from c._init_buffers(f"{prefix}{name}.")

    def train(self, mode=True):
        """Set training mode (batch statistics, dropout) on this module and its submodules."""
        for _, m in self.named_modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: running statistics, no dropout (``predict`` always uses it)."""
        return self.train(False)

    def __repr__(self):
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}()"
        inner = "\n".join(f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in children)
        return f"{type(self).__name__}(\n{inner}\n)"

    # ---- building the graph ---------------------------------------------------------------
    def forward(self, x):
        raise ArgumentError(f"{type(self).__name__}: a module must define forward(self, x) returning the graph "
                            "node of its output (or build(self, x, prefix))")

    def build(self, x, prefix=""):
        """The graph of ``forward(x)`` with every submodule's params named ``prefix`` + its path."""
        if type(self).forward is Module.forward:
            self.forward(x)  # raises: says what to define
        record = current_build()
        if record is None:
            with building():
                return self.build(x, prefix)
        record.prefixes.append({id(m): (prefix + path + "." if path else prefix)
                                for path, m in self.named_modules()})
        try:
            with names.model_scope():
                out = self.forward(x)
        finally:
            record.prefixes.pop()
        if not isinstance(out, ops.Expr):
            raise ArgumentError(f"{type(self).__name__}.forward returned {type(out).__name__} {out!r:.60}, "
                                "not a graph node")
        return out

    def __call__(self, x):
        if not isinstance(x, ops.Expr):
            raise ArgumentError(f"{type(self).__name__}: expected a graph node (e.g. sb.input), got "
                                f"{type(x).__name__}")
        record = current_build()
        if record is None:
            with building() as record:
                return self(x)
        prefix = ""
        if record.prefixes:
            prefix = record.prefixes[-1].get(id(self))
            if prefix is None:
                if self.parameter_shapes() or self.buffer_shapes():
                    raise ArgumentError(f"{type(self).__name__} called inside forward is not a submodule of the "
                                        "network: assign it as an attribute in __init__ so its params have names")
                prefix = ""
        out = self.build(x, prefix)
        if not isinstance(out, ops.Expr):
            raise ArgumentError(f"{type(self).__name__}.build returned {type(out).__name__} {out!r:.60}, "
                                "not a graph node")
        return out


def first_layer(net):
    """The first submodule of ``net``, recursively (the layer its input meets first when
    submodules are assigned in the order they run)."""
    while True:
        children = net.named_children()
        if not children:
            return net
        net = children[0][1]


class ModuleList(Module):
    """Submodules held in a list, named by index (``blocks.0.weight``), as ``torch.nn.ModuleList``.

    >>> ml = ModuleList([Linear(2, 2) for _ in range(3)])
    >>> len(ml), [n for n, _ in ml.parameter_shapes("blocks.")][2]
    (3, 'blocks.1.weight')
    """

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        if not isinstance(module, Module):
            raise ArgumentError(f"ModuleList: item {len(self)} is a {type(module).__name__}, not a module")
        self._modules[str(len(self))] = module
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        items = list(self._modules.values())
        if isinstance(i, slice):
            return ModuleList(items[i])
        return items[i]

    def forward(self, x):
        raise ArgumentError("ModuleList is not a layer: iterate over it in forward (for block in self.blocks: "
                            "x = block(x))")

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {m!r}" for i, m in enumerate(self))
        return f"ModuleList(\n{inner}\n)"


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

    def named_children(self):
        return [(str(i), m) for i, m in enumerate(self.modules)]

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
