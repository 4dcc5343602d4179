"""Layers and losses with PyTorch's names and conventions.

>>> import symbackprop as sb
>>> sb.nn.Sequential(sb.nn.Linear(2, 8), sb.nn.ReLU(), sb.nn.Linear(8, 3))[0]
Linear(in_features=2, out_features=8, bias=True)
"""

from symbackprop.nn.losses import LOSSES, bce, cross_entropy, hinge, l2, mse
from symbackprop.nn.modules import (GELU, Activation, LeakyReLU, Linear, Module, ReLU, Sequential, Sigmoid,
                                    Softplus, Tanh)
from symbackprop.nn.conv import AvgPool1d, AvgPool2d, Conv1d, Conv2d, Flatten, MaxPool1d, MaxPool2d
from symbackprop.nn.recurrent import LSTM, RNN
from symbackprop.nn.modules import ModuleList
from symbackprop.nn.normalization import BatchNorm1d, BatchNorm2d, Dropout, LayerNorm
from symbackprop.nn import init

__all__ = ["LOSSES", "bce", "cross_entropy", "hinge", "l2", "mse", "GELU", "Activation", "LeakyReLU", "Linear",
           "Module", "ReLU", "Sequential", "Sigmoid", "Softplus", "Tanh", "AvgPool1d", "AvgPool2d", "Conv1d", "Conv2d",
           "Flatten", "MaxPool1d", "MaxPool2d", "LSTM", "RNN",
           "ModuleList", "BatchNorm1d", "BatchNorm2d", "Dropout", "LayerNorm", "init"]
