"""The tensor graph: interned immutable nodes with static shapes and dtypes.

>>> from symbackprop.graph import input, param
>>> (input("x", (None, 2)) @ param("W", (2, 1))).shape
(N, 1)
"""

from symbackprop.graph.functions import (abs, cos, elementwise, exp, gelu, leaky_relu, log, relu, sigmoid,
                                         sin, softplus, sqrt, tanh)
from symbackprop.graph.node import Expr
from symbackprop.graph.ops import (apply, broadcast_to, concat, const, input, log_softmax, logsumexp, map, matmul,
                                   max, mean, onehot, pad, param, reduce, reshape, softmax, stack, sum, take,
                                   transpose)
from symbackprop.graph.scalar import N

__all__ = ["Expr", "N", "abs", "apply", "broadcast_to", "concat", "const", "cos", "elementwise", "exp", "gelu",
           "input", "leaky_relu", "log", "log_softmax", "logsumexp", "map", "matmul", "max", "mean", "onehot", "pad",
           "param", "reduce", "relu", "reshape", "sigmoid", "sin", "softmax", "softplus", "sqrt", "stack", "sum",
           "take", "tanh", "transpose"]
