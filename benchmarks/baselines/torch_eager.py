"""PyTorch eager: the textbook loop (``nn.Sequential``, ``nn.MSELoss``/``nn.CrossEntropyLoss``,
``optim.SGD``, ``zero_grad``/``backward``/``step``), minibatches gathered by ``index_select``
from tensors that share memory with the numpy data (no shuffle, no gather when the batch is
the whole data set).  Threads: PyTorch's default (or
``--threads N``).
"""

import numpy as np

from benchmarks.workloads import PARAM_NAMES, full_batch, permutations


def available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False, "torch not importable"
    return True, ""


class TorchEager:
    jit = False  # nothing compiles: its first fit is a fit like the others

    def __init__(self, workload, dtype, params, X, Y, rng):
        import torch

        from benchmarks import threads
        if threads.LIMIT:  # --threads N; otherwise PyTorch's default
            torch.set_num_threads(threads.LIMIT)
        self.torch, self.w, self.rng = torch, workload, rng
        tdtype = {"float64": torch.float64, "float32": torch.float32}[np.dtype(dtype).name]
        layers = []
        for i, (a, b) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(workload.sizes) - 2:
                layers.append(torch.nn.Tanh() if workload.activation == "tanh" else torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers).to(tdtype)
        with torch.no_grad():
            state = self.model.state_dict()
            for name in PARAM_NAMES:
                state[name].copy_(torch.from_numpy(np.asarray(params[name], dtype=dtype)))
        self.loss_fn = torch.nn.MSELoss() if workload.loss == "mse" else torch.nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=workload.lr)
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype))
        self.Y = torch.from_numpy(np.ascontiguousarray(Y))

    def params(self):
        return {k: v.detach().numpy().astype(np.float64) for k, v in self.model.state_dict().items()}

    def fit(self, epochs):
        torch = self.torch
        n, bs = self.X.shape[0], self.w.batch
        model, loss_fn, opt, X, Y = self.model, self.loss_fn, self.opt, self.X, self.Y
        last = float("nan")
        if full_batch(self.w, n):  # the batch is the data set: no shuffle, no gather
            for e in range(epochs):
                loss = loss_fn(model(X), Y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return float(loss.detach()) if epochs else last
        perm = torch.from_numpy(permutations(self.rng, epochs, n))
        for e in range(epochs):
            total = torch.zeros((), dtype=torch.float64)
            for start in range(0, n, bs):
                idx = perm[e, start:start + bs]
                xb, yb = X.index_select(0, idx), Y.index_select(0, idx)
                loss = loss_fn(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * len(idx)
            last = float(total) / n
        return last
