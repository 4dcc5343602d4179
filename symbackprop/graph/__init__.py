"""The tensor graph: interned immutable nodes with static shapes and dtypes.

>>> from symbackprop.graph import input, param
>>> (input("x", (None, 2)) @ param("W", (2, 1))).shape
(N, 1)
"""

from symbackprop.graph.functions import (abs, cos, elementwise, exp, gelu, leaky_relu, log, relu, sigmoid,
                                         sin, softplus, sqrt, tanh)
from symbackprop.graph.node import Expr
from symbackprop.graph.ops import (apply, avg_pool1d, avg_pool2d, broadcast_to, concat, const, conv1d, conv2d,
                                   flatten, input, log_softmax, logsumexp, map, matmul, max, max_pool1d, max_pool2d,
                                   mean, onehot, pad, param, reduce, reshape, softmax, stack, sum, take, transpose)
from symbackprop.graph.scalar import N

__all__ = ["Expr", "N", "abs", "apply", "avg_pool1d", "avg_pool2d", "conv1d", "conv2d", "flatten", "max_pool1d",
           "max_pool2d", "broadcast_to", "concat", "const", "cos", "elementwise", "exp", "gelu",
           "input", "leaky_relu", "log", "log_softmax", "logsumexp", "map", "matmul", "max", "mean", "onehot", "pad",
           "param", "reduce", "relu", "reshape", "sigmoid", "sin", "softmax", "softplus", "sqrt", "stack", "sum",
           "take", "tanh", "transpose"]
