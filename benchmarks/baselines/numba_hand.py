"""Training loops written by hand in numba, the way an expert would: the whole fit (epochs ×
minibatches × gather, forward, backward, SGD) in one ``@njit(cache=True, error_model="numpy",
fastmath=True)`` function, buffers preallocated by the caller, matrix products through
``np.dot`` into those buffers (BLAS, transposes as flags: no copies), every elementwise step an
explicit loop fused with its neighbours (bias + activation, activation derivative + bias
gradient, softmax + cross-entropy + its cotangent).  With one batch covering the data set
(W1) the kernel neither shuffles nor gathers.

Transcendentals: numba's ``math.tanh``/``math.exp`` are scalar libm calls that stop LLVM
from vectorising a loop.  An expert who profiled W1 would replace them, so these kernels use
branch-free versions written here (independently of symbackprop's ``mathfns``):

- float64 ``exp`` of a non-positive argument: Cody–Waite reduction, degree-13 Taylor
  polynomial, and 2ᵏ built from the bits of −k as a product of selected constants (no bit
  casts: plain selects and multiplies, which vectorise);
- float64 ``tanh`` from that exp, with a Taylor series near 0;
- float32 ``tanh``: the [13/6] rational approximation Eigen and XLA use (max error a few ulp).

``tanh="libm"`` builds the W1 kernel with ``math.tanh`` instead (the "naive" numba).

This is the ``numba by hand`` row: the bar the generated kernels must match.
"""

import math

import numpy as np

from benchmarks.workloads import PARAM_NAMES, full_batch, permutations


def available():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False, "numba not importable"
    return True, ""


try:
    from numba import njit, types
    from numba.extending import overload
except ImportError:  # the module still imports; available() says why it cannot run
    njit = overload = types = None

OPTS = dict(cache=True, error_model="numpy", fastmath=True, boundscheck=False)
#: the scalar helpers are inlined in numba's IR: as separate functions they exceed LLVM's
#: inlining budget, stay calls, and a loop calling them does not vectorise (20 ns vs 3 ns)
INLINE = dict(OPTS, inline="always")

if njit is not None:
    _LN2_HI = 6.93147180369123816490e-01
    _LN2_LO = 1.90821492927058770002e-10
    _INV_LN2 = 1.44269504088896338700e+00

    @njit(**INLINE)
    def exp_nonpos(y):
        """e^y for y ≤ 0 (float64), branch-free; below −708 it returns about 1e-308."""
        y = max(y, -708.0)
        kf = math.floor(y * _INV_LN2 + 0.5)
        r = (y - kf * _LN2_HI) - kf * _LN2_LO
        p = 1.0 + r * (1.0 + r * (0.5 + r * (1.6666666666666666e-01 + r * (4.1666666666666664e-02 + r * (
            8.3333333333333332e-03 + r * (1.3888888888888889e-03 + r * (1.9841269841269841e-04 + r * (
                2.4801587301587302e-05 + r * (2.7557319223985893e-06 + r * (2.7557319223985888e-07 + r * (
                    2.5052108385441720e-08 + r * (2.0876756987868100e-09 + r * 1.6059043836821613e-10))))))))))))
        j = np.int64(-kf)  # 0 ≤ j ≤ 1022: 2^-j as a product over its bits
        s = 0.5 if j & 1 else 1.0
        s *= 0.25 if j & 2 else 1.0
        s *= 0.0625 if j & 4 else 1.0
        s *= 3.90625e-03 if j & 8 else 1.0
        s *= 1.52587890625e-05 if j & 16 else 1.0
        s *= 2.3283064365386963e-10 if j & 32 else 1.0
        s *= 5.421010862427522e-20 if j & 64 else 1.0
        s *= 2.938735877055719e-39 if j & 128 else 1.0
        s *= 8.636168555094445e-78 if j & 256 else 1.0
        s *= 7.458340731200207e-155 if j & 512 else 1.0
        return p * s

    _F = np.float32
    FAST, LIBM = np.int8(0), np.int16(0)  # tanh flavours: the type of ``mode`` picks one

    def tanh_k(x, mode):
        """tanh(x) inside kernels: ``mode`` FAST (vectorisable, by x's float type) or LIBM."""
        return math.tanh(x)

    @overload(tanh_k, inline="always")
    def _tanh_k(x, mode):
        if mode == types.int16:
            def libm(x, mode):
                return math.tanh(x)
            return libm
        if x == types.float32:
            def tanh32(x, mode):
                """float32: the [13/6] rational approximation of Eigen/XLA, clamped at ±7.9053."""
                c = min(max(x, _F(-7.90531110763549805)), _F(7.90531110763549805))
                x2 = c * c
                p = x2 * _F(-2.76076847742355e-16) + _F(2.00018790482477e-13)
                p = x2 * p + _F(-8.60467152213735e-11)
                p = x2 * p + _F(5.12229709037114e-08)
                p = x2 * p + _F(1.48572235717979e-05)
                p = x2 * p + _F(6.37261928875436e-04)
                p = x2 * p + _F(4.89352455891786e-03)
                p = c * p
                q = x2 * _F(1.19825839466702e-06) + _F(1.18534705686654e-04)
                q = x2 * q + _F(2.26843463243900e-03)
                q = x2 * q + _F(4.89352518554385e-03)
                w = np.float32(abs(x) < _F(0.0004))
                return w * x + (_F(1.0) - w) * (p / q)
            return tanh32

        def tanh64(x, mode):
            """float64: sign(x)·(1 − e)/(1 + e), e = exp(−2|x|) as in exp_nonpos; Taylor near 0."""
            a = min(abs(x), 20.0)  # tanh(20) rounds to 1
            y = -2.0 * a
            kf = math.floor(y * _INV_LN2 + 0.5)
            r = (y - kf * _LN2_HI) - kf * _LN2_LO
            p = 1.0 + r * (1.0 + r * (0.5 + r * (1.6666666666666666e-01 + r * (4.1666666666666664e-02 + r * (
                8.3333333333333332e-03 + r * (1.3888888888888889e-03 + r * (1.9841269841269841e-04 + r * (
                    2.4801587301587302e-05 + r * (2.7557319223985893e-06 + r * (2.7557319223985888e-07 + r * (
                        2.5052108385441720e-08 + r * (2.0876756987868100e-09 + r * 1.6059043836821613e-10))))))))))))
            j = np.int64(-kf)  # 0 ≤ j ≤ 58: 2^-j as a product over its bits (arithmetic, no branches)
            s = (1.0 - 0.5 * (j & 1)) * (1.0 - 0.75 * ((j >> 1) & 1)) * (1.0 - 0.9375 * ((j >> 2) & 1)) * \
                (1.0 - 0.99609375 * ((j >> 3) & 1)) * (1.0 - 0.9999847412109375 * ((j >> 4) & 1)) * \
                (1.0 - 0.9999999997671694 * ((j >> 5) & 1))
            e = p * s
            t = (1.0 - e) / (1.0 + e)
            x2 = x * x
            small = x * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 + x2 * (
                -0.05396825396825397 + x2 * (0.021869488536155203 + x2 * (-0.008863235529902197 + x2 * (
                    0.003592128036572481)))))))
            w = np.float64(a < 0.04)  # below 0.04 the quotient loses bits to cancellation
            return w * small + (1.0 - w) * math.copysign(t, x)
        return tanh64

    @njit(**OPTS)
    def tanh64(x):
        return tanh_k(x, FAST)

    @njit(**OPTS)
    def tanh32(x):
        return tanh_k(x, FAST)

    @njit(**OPTS)
    def train_w1(X, Y, W0, b0, W1, b1, W2, b2, perm, bs, c, mode, xb, yb, a0, a1, d0, d1, dz,
                 gW0, gb0, gW1, gb1, losses):
        """The W1 kernel (2-16-16-1, tanh, MSE), sizes fixed as in a kernel written for it."""
        D, H = 2, 16
        ntot = X.shape[0]
        full = perm.shape[1] == 0  # one batch is the data set: no shuffle, no gather
        # constants in the params' dtype (a Python literal would promote float32 to float64)
        lr, zero, one, two = c[0], c[1], c[2], c[3]
        for e in range(perm.shape[0]):
            total = 0.0
            for start in range(0, ntot, bs):
                m = min(bs, ntot - start)
                h0, h1, g0, g1, dzm = a0[:m], a1[:m], d0[:m], d1[:m], dz[:m]
                if full:
                    x, y = X, Y
                else:
                    x, y = xb[:m], yb[:m]
                    for r in range(m):
                        s = perm[e, start + r]
                        x[r, 0] = X[s, 0]
                        x[r, 1] = X[s, 1]
                        y[r] = Y[s]
                # forward: tanh(x W0ᵀ + b0), tanh(h0 W1ᵀ + b1), z = h1 W2ᵀ + b2
                np.dot(x, W0.T, h0)
                for r in range(m):
                    for j in range(H):
                        h0[r, j] = tanh_k(h0[r, j] + b0[j], mode)
                np.dot(h0, W1.T, h1)
                for r in range(m):
                    for j in range(H):
                        h1[r, j] = tanh_k(h1[r, j] + b1[j], mode)
                # output layer (one unit), loss and cotangent dz = 2(z − y)/m
                c[4] = m
                scale = two / c[4]
                loss = 0.0
                gb2 = zero
                for r in range(m):
                    z = b2[0]
                    for j in range(H):
                        z += h1[r, j] * W2[0, j]
                    diff = z - y[r]
                    loss += diff * diff
                    dzm[r] = scale * diff
                    gb2 += dzm[r]
                loss /= m
                # backward: d1 = dz W2 ⊙ (1 − h1²), gW2 = dzᵀ h1 (fused), gb1
                for j in range(H):
                    gb1[j] = zero
                for r in range(m):
                    for j in range(H):
                        v = dzm[r] * W2[0, j] * (one - h1[r, j] * h1[r, j])
                        g1[r, j] = v
                        gb1[j] += v
                # update W2 now: the rest of the backward pass no longer needs it
                for j in range(H):
                    acc = zero
                    for r in range(m):
                        acc += dzm[r] * h1[r, j]
                    W2[0, j] -= lr * acc
                b2[0] -= lr * gb2
                np.dot(g1.T, h0, gW1)
                np.dot(g1, W1, g0)
                for j in range(H):
                    gb0[j] = zero
                for r in range(m):
                    for j in range(H):
                        v = g0[r, j] * (one - h0[r, j] * h0[r, j])
                        g0[r, j] = v
                        gb0[j] += v
                np.dot(g0.T, x, gW0)
                # SGD on the rest
                for j in range(H):
                    for k in range(H):
                        W1[j, k] -= lr * gW1[j, k]
                    b1[j] -= lr * gb1[j]
                    b0[j] -= lr * gb0[j]
                    for k in range(D):
                        W0[j, k] -= lr * gW0[j, k]
                total += loss * m
            losses[e] = total / ntot
        return 0

    @njit(**OPTS)
    def train_relu_ce(X, Y, W0, b0, W1, b1, W2, b2, perm, bs, lr, xb, yb, a0, a1, z, d0, d1, dz,
                      gW0, gb0, gW1, gb1, gW2, gb2, losses):
        """3-layer ReLU net, softmax cross-entropy on integer labels; sizes from the arrays."""
        D, H0, H1, K = W0.shape[1], W0.shape[0], W1.shape[0], W2.shape[0]
        ntot = perm.shape[1]
        zero = lr - lr  # 0 in the params' dtype
        for e in range(perm.shape[0]):
            total = 0.0
            for start in range(0, ntot, bs):
                m = min(bs, ntot - start)
                x, y = xb[:m], yb[:m]
                h0, h1, zm, g0, g1, dzm = a0[:m], a1[:m], z[:m], d0[:m], d1[:m], dz[:m]
                for r in range(m):
                    s = perm[e, start + r]
                    for c in range(D):
                        x[r, c] = X[s, c]
                    y[r] = Y[s]
                # forward
                np.dot(x, W0.T, h0)
                for r in range(m):
                    for j in range(H0):
                        h0[r, j] = max(h0[r, j] + b0[j], zero)
                np.dot(h0, W1.T, h1)
                for r in range(m):
                    for j in range(H1):
                        h1[r, j] = max(h1[r, j] + b1[j], zero)
                np.dot(h1, W2.T, zm)
                # softmax cross-entropy, its cotangent dz = (softmax − onehot)/m, and gb2
                inv_m = 1.0 / m
                loss = 0.0
                for k in range(K):
                    gb2[k] = 0
                for r in range(m):
                    mx = -np.inf
                    for k in range(K):
                        v = zm[r, k] + b2[k]
                        zm[r, k] = v
                        mx = max(mx, v)
                    ssum = 0.0
                    for k in range(K):
                        ssum += exp_nonpos(np.float64(zm[r, k]) - mx)
                    lse = mx + math.log(ssum)
                    loss += lse - zm[r, y[r]]
                    for k in range(K):
                        p = exp_nonpos(np.float64(zm[r, k]) - lse)
                        dzm[r, k] = p * inv_m
                    dzm[r, y[r]] -= inv_m
                    for k in range(K):
                        gb2[k] += dzm[r, k]
                loss *= inv_m
                # backward
                np.dot(dzm.T, h1, gW2)
                np.dot(dzm, W2, g1)
                for j in range(H1):
                    gb1[j] = 0
                for r in range(m):
                    for j in range(H1):
                        v = g1[r, j] if h1[r, j] > 0 else zero
                        g1[r, j] = v
                        gb1[j] += v
                np.dot(g1.T, h0, gW1)
                np.dot(g1, W1, g0)
                for j in range(H0):
                    gb0[j] = 0
                for r in range(m):
                    for j in range(H0):
                        v = g0[r, j] if h0[r, j] > 0 else zero
                        g0[r, j] = v
                        gb0[j] += v
                np.dot(g0.T, x, gW0)
                # SGD
                _sgd(W0.reshape(-1), gW0.reshape(-1), lr)
                _sgd(b0, gb0, lr)
                _sgd(W1.reshape(-1), gW1.reshape(-1), lr)
                _sgd(b1, gb1, lr)
                _sgd(W2.reshape(-1), gW2.reshape(-1), lr)
                _sgd(b2, gb2, lr)
                total += loss * m
            losses[e] = total / ntot
        return 0

    @njit(**OPTS)
    def _sgd(p, g, lr):
        for i in range(p.size):
            p[i] -= lr * g[i]


class NumbaHand:
    """``tanh``: "fast" (vectorisable, default) or "libm" (``math.tanh``), for W1 only."""
    jit = True  # compiles in its warm-up fit

    def __init__(self, workload, dtype, params, X, Y, rng, tanh="fast"):
        self.w, self.dtype, self.rng = workload, np.dtype(dtype), rng
        self.X = np.ascontiguousarray(X, dtype)
        self.Y = np.ascontiguousarray(Y)
        self.p = [np.array(params[k], dtype=dtype) for k in PARAM_NAMES]
        self.g = [np.empty_like(p) for p in self.p]
        bs, sizes = workload.batch, workload.sizes
        self.buffers = dict(
            xb=np.empty((bs, sizes[0]), dtype), yb=np.empty((bs,), self.Y.dtype),
            a0=np.empty((bs, sizes[1]), dtype), a1=np.empty((bs, sizes[2]), dtype),
            z=np.empty((bs, sizes[3]), dtype), d0=np.empty((bs, sizes[1]), dtype),
            d1=np.empty((bs, sizes[2]), dtype),
            dz=np.empty((bs, sizes[3]) if sizes[3] > 1 else (bs,), dtype))
        self.lr = self.dtype.type(workload.lr)
        self.consts = np.array([workload.lr, 0, 1, 2, 0], dtype)  # lr, 0, 1, 2, scratch
        if workload.key == "W1":
            if sizes != (2, 16, 16, 1) or workload.activation != "tanh" or workload.loss != "mse":
                raise ValueError("the W1 kernel is written for 2-16-16-1 tanh MSE")
            self.kernel = train_w1
            self.mode = FAST if tanh == "fast" else LIBM
        else:
            if workload.activation != "relu" or workload.loss != "cross_entropy" or len(sizes) != 4:
                raise ValueError("the ReLU kernel is written for 3-layer ReLU softmax-CE nets")
            self.kernel = train_relu_ce

    def params(self):
        return {k: p.astype(np.float64) for k, p in zip(PARAM_NAMES, self.p)}

    def fit(self, epochs):
        n = self.X.shape[0]
        if self.kernel is train_w1 and full_batch(self.w, n):
            perm = np.empty((epochs, 0), np.int64)  # the W1 kernel's "no shuffle" (see its source)
        else:
            perm = permutations(self.rng, epochs, n)
        losses = np.zeros(epochs)
        b = self.buffers
        W0, b0, W1, b1, W2, b2 = self.p
        gW0, gb0, gW1, gb1, gW2, gb2 = self.g
        if self.kernel is train_relu_ce:
            self.kernel(self.X, self.Y, W0, b0, W1, b1, W2, b2, perm, self.w.batch, self.lr, b["xb"], b["yb"],
                        b["a0"], b["a1"], b["z"], b["d0"], b["d1"], b["dz"], gW0, gb0, gW1, gb1, gW2, gb2, losses)
        else:
            self.kernel(self.X, self.Y.reshape(-1), W0, b0, W1, b1, W2, b2, perm, self.w.batch, self.consts, self.mode,
                        b["xb"], b["yb"],
                        b["a0"], b["a1"], b["d0"], b["d1"], b["dz"], gW0, gb0, gW1, gb1, losses)
        return float(losses[-1]) if epochs else float("nan")
