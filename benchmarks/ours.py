"""symbackprop itself as a benchmark implementation: ``sb.Trainer`` on a backend, timed through
its public ``fit`` (so the numbers include everything a user's call pays: data checks, the
per-epoch permutations, the chunking of epochs for the progress bar, the native call).
"""

import numpy as np


class Ours:
    def __init__(self, workload, dtype, backend, X, Y, seed=0):
        self.w, self.backend = workload, backend
        self.jit = backend != "numpy"  # compiles (or loads its kernel) in its warm-up fit
        self.trainer = workload.trainer(backend, dtype, seed=seed)
        self.X, self.Y = X, Y

    def initial_params(self):
        return self.trainer.params

    def params(self):
        return {k: v.astype(np.float64) for k, v in self.trainer.params.items()}

    def fit(self, epochs):
        hist = self.trainer.fit(self.X, self.Y, epochs=epochs, batch_size=self.w.batch, verbose=False)
        return hist.loss[-1] if hist.loss else float("nan")

    def source(self):
        try:
            return self.trainer.export_source()
        except Exception:  # backends without generated code
            return None
