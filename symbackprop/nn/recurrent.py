"""Recurrent layers, unrolled over the sequence: ``RNN`` (Elman, tanh or ReLU) and ``LSTM``,
with PyTorch's parameter names, shapes, gate order and initialisation (``batch_first=True``).

Each hidden state is a named node (``h₁ … h_T``, for the LSTM also ``c₁ …``), so the
derived gradients show backpropagation through time: δ at step t gathers the δ of step t+1
through ``W_hh``.

>>> import symbackprop as sb
>>> rnn = RNN(3, 5)
>>> [name for name, _ in rnn.parameter_shapes()]
['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
>>> rnn(sb.input("x", (None, 4, 3))).shape
(N, 4, 5)
"""

import math

import sympy as sp

from symbackprop.errors import ArgumentError, ShapeError
from symbackprop.graph import functions as fn
from symbackprop.graph import ops
from symbackprop.nn.modules import Module
from symbackprop.primitives.elementwise import apply
from symbackprop.render import names


class _Recurrent(Module):
    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=True):
        what = type(self).__name__
        for label, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ShapeError(f"{what}: {label} must be a positive int, got {v!r}")
        if batch_first is not True:
            raise ArgumentError(f"{what}: only batch_first=True is supported (inputs (N, T, features), the "
                                "batch axis first, as every symbackprop input)")
        self.input_size, self.hidden_size, self.num_layers, self.bias = input_size, hidden_size, num_layers, bias

    def parameter_shapes(self, prefix=""):
        G, H = self.gates * self.hidden_size, self.hidden_size
        shapes = []
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else H
            shapes += [(f"{prefix}weight_ih_l{layer}", (G, width)), (f"{prefix}weight_hh_l{layer}", (G, H))]
            if self.bias:
                shapes += [(f"{prefix}bias_ih_l{layer}", (G,)), (f"{prefix}bias_hh_l{layer}", (G,))]
        return shapes

    def _init(self, rng, prefix):
        bound = 1 / math.sqrt(self.hidden_size)  # PyTorch: every param U(±1/√hidden_size)
        for name, shape in self.parameter_shapes(prefix):
            yield name, rng.uniform(-bound, bound, size=shape)

    def build(self, x, prefix=""):
        what = type(self).__name__
        if x.ndim != 3 or x.shape[2] != self.input_size or not isinstance(x.shape[1], int):
            raise ShapeError(f"{what}({self.input_size}, {self.hidden_size}) {prefix or ''}: expects inputs "
                             f"(N, T, {self.input_size}), got {x.describe()}")
        with names.model_scope():
            return self._build(x, prefix)

    def _build(self, x, prefix):
        params = {}
        for name, shape in self.parameter_shapes(prefix):
            kind, _, layer = name[len(prefix):].rpartition("_l")
            short = {"weight_ih": "W_ih", "weight_hh": "W_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}[kind]
            params[name] = names.name(ops.param(name, shape, x.dtype),
                                      short if self.num_layers == 1 else f"{short}^{int(layer) + 1}")
        seq = [x[:, t] for t in range(x.shape[1])]
        for layer in range(self.num_layers):
            p = {k: params.get(f"{prefix}{k}_l{layer}") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            suffix = "" if self.num_layers == 1 else f"^{layer + 1}"
            seq = self._layer(seq, p, suffix)
        return ops.stack(seq, axis=1)

    def _affine(self, x, h, p):
        """x W_ihᵀ + b_ih + h W_hhᵀ + b_hh (h None at the first step: h₀ = 0)."""
        terms = [x @ p["weight_ih"].T] + ([] if h is None else [h @ p["weight_hh"].T])
        if p["bias_ih"] is not None:
            terms += [p["bias_ih"], p["bias_hh"]]
        # one sum of all the terms (one node, so formulas name it once)
        symbols = sp.symbols(f"t0:{len(terms)}", real=True)
        return apply(sum(symbols), dict(zip(symbols, terms)), where=type(self).__name__)


class RNN(_Recurrent):
    """hₜ = tanh(xₜ W_ihᵀ + b_ih + hₜ₋₁ W_hhᵀ + b_hh), h₀ = 0, as ``torch.nn.RNN(input_size,
    hidden_size, nonlinearity="tanh", batch_first=True)``; called on (N, T, I) it returns the
    output sequence (N, T, H) (``out[:, -1]`` is the last state).

    >>> import symbackprop as sb
    >>> RNN(2, 3, nonlinearity="relu")(sb.input("x", (None, 5, 2)))[:, -1].shape
    (N, 3)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=True):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first)
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def _layer(self, seq, p, suffix):
        act = fn.tanh if self.nonlinearity == "tanh" else fn.relu
        h, out = None, []
        for t, x in enumerate(seq):
            z = names.tag(self._affine(x, h, p), "z", names.new_layer())
            h = names.name(act(z), f"h{suffix}_{t + 1}")
            out.append(h)
        return out

    def __repr__(self):
        extra = "" if self.nonlinearity == "tanh" else ", nonlinearity='relu'"
        layers = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        return f"RNN({self.input_size}, {self.hidden_size}{layers}{extra}, batch_first=True)"


class LSTM(_Recurrent):
    """The long short-term memory layer of ``torch.nn.LSTM(input_size, hidden_size,
    batch_first=True)``: gates in PyTorch's order (input i, forget f, cell g, output o) from
    xₜ W_ihᵀ + b_ih + hₜ₋₁ W_hhᵀ + b_hh; cₜ = f ⊙ cₜ₋₁ + i ⊙ g, hₜ = o ⊙ tanh(cₜ), h₀ = c₀ = 0.
    Returns the output sequence (N, T, H).  The cell state's additive path (∂cₜ/∂cₜ₋₁ = f) is
    why gradients survive long sequences.

    >>> import symbackprop as sb
    >>> [s for _, s in LSTM(3, 4).parameter_shapes()]
    [(16, 3), (16, 4), (16,), (16,)]
    """

    gates = 4

    def _layer(self, seq, p, suffix):
        H = self.hidden_size
        h = c = None
        out = []
        for t, x in enumerate(seq):
            z = names.tag(self._affine(x, h, p), "z", names.new_layer())
            i, f = fn.sigmoid(z[:, 0:H]), fn.sigmoid(z[:, H:2 * H])
            g, o = fn.tanh(z[:, 2 * H:3 * H]), fn.sigmoid(z[:, 3 * H:4 * H])
            c = names.name(i * g if c is None else f * c + i * g, f"c{suffix}_{t + 1}")
            h = names.name(o * fn.tanh(c), f"h{suffix}_{t + 1}")
            out.append(h)
        return out

    def __repr__(self):
        layers = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        return f"LSTM({self.input_size}, {self.hidden_size}{layers}, batch_first=True)"
