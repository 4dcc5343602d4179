"""A training loop written by hand in numpy: every buffer preallocated once, every product a
BLAS call writing into its buffer (``out=``), every elementwise step an in-place ufunc.

With one minibatch covering the data set (W1) it neither shuffles nor gathers: the data is the
batch.  This is the ``numpy by hand`` row: what a careful numpy programmer writes without a
framework.
"""

import numpy as np

from benchmarks.workloads import PARAM_NAMES, full_batch, permutations


def available():
    return True, ""


class NumpyHand:
    jit = False  # nothing compiles: its first fit is a fit like the others

    def __init__(self, workload, dtype, params, X, Y, rng):
        self.w, self.dtype, self.rng = workload, np.dtype(dtype), rng
        self.X, self.Y = np.ascontiguousarray(X, dtype), np.ascontiguousarray(Y)
        self.p = [np.array(params[k], dtype=dtype) for k in PARAM_NAMES]
        self.g = [np.empty_like(p) for p in self.p]
        bs, sizes = workload.batch, workload.sizes
        self.xb = np.empty((bs, sizes[0]), dtype)
        self.yb = np.empty((bs,) + self.Y.shape[1:], self.Y.dtype)
        self.h = [np.empty((bs, s), dtype) for s in sizes[1:]]   # layer outputs (post-activation)
        self.d = [np.empty((bs, s), dtype) for s in sizes[1:]]   # cotangents of pre-activations
        self.tmp = [np.empty((bs, s), dtype) for s in sizes[1:]]
        self.rowtmp = np.empty(bs, dtype)
        self.lr = self.dtype.type(workload.lr)

    def params(self):
        return {k: p.astype(np.float64) for k, p in zip(PARAM_NAMES, self.p)}

    def fit(self, epochs):
        n, bs = self.X.shape[0], self.w.batch
        last = float("nan")
        if full_batch(self.w, n):
            for e in range(epochs):
                last = self._step(None)
            return last
        perm = permutations(self.rng, epochs, n)
        for e in range(epochs):
            total = 0.0
            for start in range(0, n, bs):
                idx = perm[e, start:start + bs]
                total += self._step(idx) * len(idx)
            last = total / n
        return last

    def _step(self, idx):
        """One SGD step on the samples ``idx`` (None: all of them, in order)."""
        if idx is None:
            m = self.X.shape[0]
            xb, yb = self.X, self.Y
        else:
            m = len(idx)
            xb, yb = self.xb[:m], self.yb[:m]
            np.take(self.X, idx, axis=0, out=xb)
            np.take(self.Y, idx, axis=0, out=yb)
        W0, b0, W1, b1, W2, b2 = self.p
        gW0, gb0, gW1, gb1, gW2, gb2 = self.g
        h0, h1, z = (h[:m] for h in self.h)
        d0, d1, dz = (d[:m] for d in self.d)
        t0, t1, tz = (t[:m] for t in self.tmp)
        tanh = self.w.activation == "tanh"
        # forward
        np.dot(xb, W0.T, out=h0); h0 += b0
        np.tanh(h0, out=h0) if tanh else np.maximum(h0, 0, out=h0)
        np.dot(h0, W1.T, out=h1); h1 += b1
        np.tanh(h1, out=h1) if tanh else np.maximum(h1, 0, out=h1)
        np.dot(h1, W2.T, out=z); z += b2
        # loss and its cotangent dz
        if self.w.loss == "mse":
            np.subtract(z, yb, out=dz)
            loss = float(np.vdot(dz, dz)) / dz.size
            dz *= self.dtype.type(2.0 / dz.size)
        else:
            rmax = self.rowtmp[:m]
            np.max(z, axis=1, out=rmax)
            np.subtract(z, rmax[:, None], out=tz)
            np.exp(tz, out=tz)
            s = tz.sum(axis=1)
            rows = np.arange(m)
            loss = float(np.mean(rmax + np.log(s) - z[rows, yb]))
            np.divide(tz, s[:, None], out=dz)
            dz[rows, yb] -= 1
            dz *= self.dtype.type(1.0 / m)
        # backward: grads of layer 2, then through the activations
        np.dot(dz.T, h1, out=gW2); np.sum(dz, axis=0, out=gb2)
        np.dot(dz, W2, out=d1)
        self._act_grad(d1, h1, t1, tanh)
        np.dot(d1.T, h0, out=gW1); np.sum(d1, axis=0, out=gb1)
        np.dot(d1, W1, out=d0)
        self._act_grad(d0, h0, t0, tanh)
        np.dot(d0.T, xb, out=gW0); np.sum(d0, axis=0, out=gb0)
        # SGD
        for p, g in zip(self.p, self.g):
            g *= self.lr
            p -= g
        return loss

    @staticmethod
    def _act_grad(d, h, tmp, tanh):
        """d *= act'(pre-activation), written with the activation's output h."""
        if tanh:
            np.multiply(h, h, out=tmp)
            np.subtract(1, tmp, out=tmp)
            d *= tmp
        else:
            np.greater(h, 0, out=tmp)  # as 0/1 in the float buffer
            d *= tmp
