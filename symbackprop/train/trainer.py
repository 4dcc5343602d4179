"""``sb.Trainer``: build the loss graph of a network, derive its gradient, compile, train.

>>> import numpy as np, symbackprop as sb
>>> X = np.linspace(-1, 1, 40)[:, None]; Y = 3 * X - 1
>>> tr = sb.Trainer(sb.nn.Linear(1, 1), loss="mse", optimizer=sb.optim.SGD(lr=0.5), seed=0)
>>> hist = tr.fit(X, Y, epochs=200, batch_size=40)
>>> np.round(tr.params["weight"], 6), np.round(tr.params["bias"], 6)
(array([[3.]]), array([-1.]))
"""

import time
from dataclasses import dataclass, field

import numpy as np

from symbackprop.autodiff import grad
from symbackprop.compiled import compile
from symbackprop.errors import DTypeError, ShapeError, TrainingDiverged
from symbackprop.graph import ops
from symbackprop.graph.node import Expr
from symbackprop.graph.rewrite import substitute
from symbackprop.graph.traverse import leaves
from symbackprop.nn.losses import LOSSES
from symbackprop.nn.modules import Module
from symbackprop.optim import SGD, Optimizer
from symbackprop.train import data
from symbackprop.train.updates import Updater


@dataclass
class History:
    """What ``fit`` did: ``loss`` holds one mean training loss per epoch."""
    loss: list = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    @property
    def epochs(self):
        return len(self.loss)

    @property
    def seconds_per_step(self):
        return self.seconds / self.steps if self.steps else float("nan")


class Trainer:
    """Train ``net`` (an ``sb.nn`` module) with a loss and an optimizer.

    ``loss`` is ``"mse"``, ``"bce"`` (logits), ``"cross_entropy"`` (logits, int labels),
    ``"hinge"`` (labels ±1), a callable ``loss(yhat, y) -> scalar Expr``, or a scalar Expr over
    inputs named ``yhat`` and ``y``.  The graph is built on the first call that sees data.
    """

    def __init__(self, net, loss="mse", optimizer=None, backend="numpy", dtype="float64", seed=0):
        if not isinstance(net, Module):
            raise TypeError(f"Trainer: net must be an sb.nn module, got {type(net).__name__}")
        if isinstance(loss, str) and loss not in LOSSES:
            raise ValueError(f"Trainer: unknown loss {loss!r}; use one of {', '.join(LOSSES)}, a callable or an Expr")
        if dtype not in ops.FLOAT_DTYPES:
            raise DTypeError(f"Trainer: dtype must be one of {', '.join(ops.FLOAT_DTYPES)}, got {dtype!r}")
        self.net, self.loss, self.backend, self.dtype, self.seed = net, loss, backend, dtype, seed
        self.optimizer = optimizer if optimizer is not None else SGD(lr=0.01)
        if not isinstance(self.optimizer, Optimizer):
            raise TypeError(f"Trainer: optimizer must be sb.optim.SGD/Adam, got {type(self.optimizer).__name__}")
        init_seed, self._shuffle_seed = np.random.SeedSequence(seed).spawn(2)
        self._params = net.init_params(seed=init_seed, dtype=dtype)
        self._rng = np.random.default_rng(self._shuffle_seed)
        self._built_for = None
        self._updater = None

    # ---- graph --------------------------------------------------------------------------
    def build(self, n_features):
        """Build graphs and compiled functions for inputs with ``n_features`` features."""
        if self._built_for == n_features:
            return
        x = ops.input("x", (None,) + tuple(n_features), self.dtype)
        out = self.net(x)
        if out.ndim != 2:
            raise ShapeError(f"Trainer: the network's output must be (N, k), got {out.describe()}")
        self.out_dim = out.shape[1]
        kind = self.loss if isinstance(self.loss, str) else "custom"
        if kind == "cross_entropy":
            y = ops.input("y", (None,), "int64")
        else:
            y = ops.input("y", (None, self.out_dim), self.dtype)
        self.x, self.y, self.output = x, y, out
        self.loss_expr = self._loss_graph(out, y)
        self.param_nodes = {n.name: n for n in leaves([self.loss_expr]) if n.op == "param"}
        missing = [name for name, _ in self.net.parameter_shapes() if name not in self.param_nodes]
        if missing:
            raise ShapeError(f"Trainer: params {missing} do not reach the loss")
        self.grad_exprs = grad(self.loss_expr, list(self.param_nodes.values()))
        names = list(self.param_nodes)
        self._names = names
        self._step_fn = compile([self.loss_expr] + [self.grad_exprs[self.param_nodes[n]] for n in names],
                                backend=self.backend)
        self._predict_fn = compile(out, backend=self.backend)
        self._built_for = n_features
        if self._updater is None:
            self._updater = Updater(self.optimizer, self._params)

    def _loss_graph(self, out, y):
        loss = self.loss
        if isinstance(loss, str):
            L = LOSSES[loss](out, y)
        elif isinstance(loss, Expr):
            named = {n.name: n for n in leaves([loss]) if n.op == "input"}
            if "yhat" not in named:
                raise ShapeError("Trainer: a loss Expr must use an input named 'yhat' for the network's output")
            mapping = {named["yhat"]: out}
            if "y" in named:
                mapping[named["y"]] = y
            L = substitute([loss], mapping)[0]
        elif callable(loss):
            L = loss(out, y)
        else:
            raise TypeError(f"Trainer: loss must be a name, a callable or an Expr, got {type(loss).__name__}")
        if not isinstance(L, Expr) or L.shape != ():
            raise ShapeError(f"Trainer: the loss must be a scalar Expr, got {getattr(L, 'shape', L)!r}")
        return L

    def _prepare(self, X, Y=None):
        X = data.features(X, self.dtype)
        self.build(X.shape[1:])
        if Y is None:
            return X, None
        kind = self.loss if isinstance(self.loss, str) else "custom"
        Y = data.targets(Y, kind, self.out_dim, self.dtype)
        if Y.shape[0] != X.shape[0]:
            raise ShapeError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
        return X, Y

    # ---- public -------------------------------------------------------------------------
    @property
    def params(self):
        """Current params {name: array} with PyTorch's state_dict names (copies)."""
        return {k: v.copy() for k, v in self._params.items()}

    @params.setter
    def params(self, values):
        for name, value in values.items():
            if name not in self._params:
                raise KeyError(f"no param named {name!r}; params are {', '.join(self._params)}")
            value = np.asarray(value, dtype=self.dtype)
            if value.shape != self._params[name].shape:
                raise ShapeError(f"param {name}: expected shape {self._params[name].shape}, got {value.shape}")
            self._params[name][...] = value

    def predict(self, X):
        """The network's output on X (raw scores: logits for bce and cross_entropy)."""
        X, _ = self._prepare(X)
        return self._predict_fn(x=X, **self._params)

    def gradients(self, X, Y):
        """(loss, {name: ∂loss/∂param}) on all of X, Y at the current params."""
        X, Y = self._prepare(X, Y)
        loss, *grads = self._step_fn(x=X, y=Y, **self._params)
        return float(loss), dict(zip(self._names, grads))

    def fit(self, X, Y, epochs=1, batch_size=None, shuffle=True):
        """Train for ``epochs`` over shuffled minibatches (the last one may be smaller).

        Returns a ``History`` with the mean training loss of each epoch.  Stops with
        ``TrainingDiverged`` naming the epoch and step if a loss or gradient is NaN/inf.
        """
        X, Y = self._prepare(X, Y)
        n = X.shape[0]
        bs = n if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError(f"fit: batch_size must be >= 1, got {batch_size!r}")
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
        hist = History()
        t0 = time.perf_counter()
        for epoch in range(epochs):
            order = self._rng.permutation(n) if shuffle else np.arange(n)
            total = 0.0
            for step, start in enumerate(range(0, n, bs)):
                idx = order[start:start + bs]
                xb, yb = (X, Y) if len(idx) == n and not shuffle else (X[idx], Y[idx])
                loss, *grads = self._step_fn(x=xb, y=yb, **self._params)
                if not np.isfinite(loss) or not all(np.isfinite(g).all() for g in grads):
                    bad = "loss" if not np.isfinite(loss) else "gradient of " + next(
                        nm for nm, g in zip(self._names, grads) if not np.isfinite(g).all())
                    raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {step + 1}: {bad} is "
                                           f"NaN or inf (loss {float(loss)}); lower the learning rate",
                                           epoch=epoch + 1, step=step + 1)
                self._updater.step(self._params, dict(zip(self._names, grads)))
                total += float(loss) * len(idx)
                hist.steps += 1
            hist.loss.append(total / n)
        hist.seconds = time.perf_counter() - t0
        return hist
