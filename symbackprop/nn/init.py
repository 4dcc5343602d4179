"""Initialisation schemes with PyTorch's names and formulas (``torch.nn.init``).

Each function takes either a module and the name of one of its params (``"weight"``, or a
dotted path from a container: ``"fc1.weight"``), and records the scheme so that the
Trainer's seeded initialisation uses it; or a numpy array, filled in place (with
``generator``, a ``numpy.random.Generator``, or a fresh one) and returned, as PyTorch fills a
tensor.

>>> import numpy as np, symbackprop as sb
>>> net = sb.nn.Sequential(sb.nn.Linear(4, 3), sb.nn.ReLU(), sb.nn.Linear(3, 1))
>>> _ = sb.nn.init.zeros_(net, "0.bias")
>>> _ = sb.nn.init.kaiming_normal_(net[0], "weight", nonlinearity="relu")
>>> p = net.init_params(seed=0)
>>> p["0.bias"]
array([0., 0., 0.])
>>> sb.nn.init.calculate_gain("tanh")
1.6666666666666667
"""

import math

import numpy as np

from symbackprop.errors import ArgumentError

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended gain of a nonlinearity, as ``torch.nn.init.calculate_gain``."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
              "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ArgumentError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ArgumentError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of linear, sigmoid, "
                        "tanh, relu, leaky_relu, selu, conv1d, conv2d")


def _fans(shape):
    if len(shape) < 2:
        raise ArgumentError(f"fan in and fan out can not be computed for a param of shape {shape} (fewer than "
                            "2 dimensions): use uniform_, normal_ or constant_")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ArgumentError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def _apply(target, name, rule, generator, what):
    """Fill an array in place, or record ``rule(rng, shape)`` for a module's param ``name``."""
    from symbackprop.nn.modules import Module
    if isinstance(target, np.ndarray):
        rng = generator if generator is not None else np.random.default_rng()
        target[...] = rule(rng, target.shape)
        return target
    if not isinstance(target, Module):
        raise ArgumentError(f"{what}: expected a module and a param name, or a numpy array; got "
                            f"{type(target).__name__}")
    if not isinstance(name, str):
        raise ArgumentError(f"{what}: give the name of the param to initialise, e.g. {what}(layer, 'weight')")
    owner, path = target, name
    *parents, leaf = name.split(".")
    for part in parents:
        children = dict(owner.named_children())
        if part not in children:
            break
        owner = children[part]
    else:
        path = leaf
    shapes = dict(owner.parameter_shapes())
    if path not in shapes:
        raise ArgumentError(f"{what}: {type(target).__name__} has no param named {name!r}; its params are "
                            f"{', '.join(n for n, _ in target.parameter_shapes()) or 'none'}")
    rule(np.random.default_rng(0), shapes[path])  # raises now if the scheme does not fit the shape
    rules = owner.__dict__.get("_init_rules")
    if rules is None:
        rules = {}
        object.__setattr__(owner, "_init_rules", rules)
    rules[path] = rule
    return target


def uniform_(target, name=None, a=0.0, b=1.0, generator=None):
    """U(a, b)."""
    return _apply(target, name, lambda rng, shape: rng.uniform(a, b, size=shape), generator, "uniform_")


def normal_(target, name=None, mean=0.0, std=1.0, generator=None):
    """N(mean, std²)."""
    return _apply(target, name, lambda rng, shape: rng.normal(mean, std, size=shape), generator, "normal_")


def constant_(target, name=None, val=0.0):
    """Every element ``val``."""
    return _apply(target, name, lambda rng, shape: np.full(shape, float(val)), None, "constant_")


def zeros_(target, name=None):
    return _apply(target, name, lambda rng, shape: np.zeros(shape), None, "zeros_")


def ones_(target, name=None):
    return _apply(target, name, lambda rng, shape: np.ones(shape), None, "ones_")


def xavier_uniform_(target, name=None, gain=1.0, generator=None):
    """U(±gain·√(6/(fan_in + fan_out))) (Glorot & Bengio)."""
    def rule(rng, shape):
        fan_in, fan_out = _fans(shape)
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=shape)
    return _apply(target, name, rule, generator, "xavier_uniform_")


def xavier_normal_(target, name=None, gain=1.0, generator=None):
    """N(0, gain²·2/(fan_in + fan_out))."""
    def rule(rng, shape):
        fan_in, fan_out = _fans(shape)
        return rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)
    return _apply(target, name, rule, generator, "xavier_normal_")


def kaiming_uniform_(target, name=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(±gain·√(3/fan)) with gain = calculate_gain(nonlinearity, a) (He et al.)."""
    def rule(rng, shape):
        bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
        return rng.uniform(-bound, bound, size=shape)
    return _apply(target, name, rule, generator, "kaiming_uniform_")


def kaiming_normal_(target, name=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, gain²/fan) with gain = calculate_gain(nonlinearity, a)."""
    def rule(rng, shape):
        return rng.normal(0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode)), size=shape)
    return _apply(target, name, rule, generator, "kaiming_normal_")
