"""The benchmark workloads W1–W3: network, loss, batch size, data, learning rate.

Every implementation of a workload starts from the same initial params (PyTorch's layout and
names: ``0.weight`` is out × in) and sees the same data and the same minibatches in the same
order (see ``shuffle_rng``), so their losses after the timed epochs agree up to rounding.

>>> w = WORKLOADS["W2"]
>>> w.sizes, w.activation, w.loss, w.batch, w.steps_per_epoch
((64, 128, 64, 10), 'relu', 'cross_entropy', 128, 10)
>>> X, Y = w.data("float32"); X.shape, X.dtype, Y.dtype
((1280, 64), dtype('float32'), dtype('int64'))
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    key: str                 # "W1"
    sizes: tuple             # layer widths, input first
    activation: str          # "tanh" | "relu" (hidden layers)
    loss: str                # "mse" | "cross_entropy"
    batch: int
    samples: int
    lr: float
    epochs: int              # epochs per timed repeat (full run)
    quick_epochs: int        # epochs per timed repeat (--quick)

    @property
    def steps_per_epoch(self):
        return -(-self.samples // self.batch)

    @property
    def title(self):
        act = {"tanh": "tanh", "relu": "ReLU"}[self.activation]
        loss = {"mse": "MSE", "cross_entropy": "softmax-CE"}[self.loss]
        return f"{self.key} {'-'.join(map(str, self.sizes))} {act} {loss}, batch {self.batch} of {self.samples}"

    def data(self, dtype):
        """(X, Y) for this workload: seeded, made here, no downloads."""
        if self.key == "W1":
            from symbackprop.datasets import two_moons
            X, labels = two_moons(self.samples, noise=0.1, seed=0)
            Y = (2.0 * labels - 1.0)[:, None]  # ±1 targets, as in `symbackprop demo`
            return X.astype(dtype), Y.astype(dtype)
        # a learnable synthetic task: labels from a random linear teacher on Gaussian inputs
        rng = np.random.default_rng(1000 + self.sizes[0])
        X = rng.normal(size=(self.samples, self.sizes[0]))
        teacher = rng.normal(size=(self.sizes[0], self.sizes[-1]))
        Y = np.argmax(X @ teacher + 0.5 * rng.normal(size=(self.samples, self.sizes[-1])), axis=1)
        return X.astype(dtype), Y.astype(np.int64)

    def network(self):
        """The symbackprop ``nn.Sequential`` of this workload."""
        import symbackprop as sb
        layers = []
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            layers.append(sb.nn.Linear(a, b))
            if i < len(self.sizes) - 2:
                layers.append(sb.nn.Tanh() if self.activation == "tanh" else sb.nn.ReLU())
        return sb.nn.Sequential(*layers)

    def trainer(self, backend, dtype, seed=0):
        """A fresh ``sb.Trainer`` for this workload (SGD with ``lr``)."""
        import symbackprop as sb
        return sb.Trainer(self.network(), loss=self.loss, optimizer=sb.optim.SGD(lr=self.lr), backend=backend,
                          dtype=dtype, seed=seed)


WORKLOADS = {
    "W1": Workload("W1", (2, 16, 16, 1), "tanh", "mse", batch=100, samples=100, lr=0.05,
                   epochs=1000, quick_epochs=200),
    "W2": Workload("W2", (64, 128, 64, 10), "relu", "cross_entropy", batch=128, samples=1280, lr=0.05,
                   epochs=20, quick_epochs=4),
    "W3": Workload("W3", (784, 256, 256, 10), "relu", "cross_entropy", batch=256, samples=2560, lr=0.05,
                   epochs=3, quick_epochs=1),
}

#: names of the params in ``Trainer.params`` / ``state_dict`` order, for 3-layer nets
PARAM_NAMES = ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias")


def shuffle_rng(trainer, seed=0):
    """A copy of the generator ``trainer`` will draw its per-epoch permutations from.

    ``Trainer.fit`` draws ``rng.permutation(n)`` once per epoch; a baseline drawing from this
    copy in the same way visits the same minibatches.  Falls back to the Trainer's documented
    seeding (``SeedSequence(seed).spawn(2)[1]``) if the attribute is not there.
    """
    import copy
    rng = getattr(trainer, "_rng", None)
    if isinstance(rng, np.random.Generator):
        return copy.deepcopy(rng)
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])


def full_batch(workload, n):
    """True when one minibatch is the whole data set: the order of samples cannot change the
    loss or the gradient (a mean over all of them), so a hand-written loop does not shuffle.

    >>> full_batch(WORKLOADS["W1"], 100), full_batch(WORKLOADS["W2"], 1280)
    (True, False)
    """
    return workload.batch >= n


def permutations(rng, epochs, n):
    """One permutation of range(n) per epoch, drawn as ``Trainer.fit`` draws them."""
    perm = np.empty((epochs, n), dtype=np.int64)
    for e in range(epochs):
        perm[e] = rng.permutation(n)
    return perm


def reference_loss(params, X, Y, workload):
    """The workload's loss at ``params`` on all of X, Y, in float64 numpy (for checks).

    >>> w = WORKLOADS["W1"]; X, Y = w.data("float64")
    >>> p = {k: np.zeros(s) for k, s in zip(PARAM_NAMES, [(16, 2), 16, (16, 16), 16, (1, 16), 1])}
    >>> round(reference_loss(p, X, Y, w), 12)
    1.0
    """
    h = X.astype(np.float64)
    act = np.tanh if workload.activation == "tanh" else (lambda v: np.maximum(v, 0.0))
    for i in range(3):
        W, b = params[PARAM_NAMES[2 * i]], params[PARAM_NAMES[2 * i + 1]]
        h = h @ W.astype(np.float64).T + b.astype(np.float64)
        if i < 2:
            h = act(h)
    if workload.loss == "mse":
        return float(np.mean((h - Y) ** 2))
    m = h.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(h - m).sum(axis=1))
    return float(np.mean(lse - h[np.arange(len(Y)), Y]))
