"""JAX with the whole fit under one ``jax.jit``: ``lax.scan`` over epochs of ``lax.scan`` over
minibatches (gather, ``value_and_grad``, SGD), params donated so XLA updates them in place.
float64 runs need ``jax_enable_x64``, which this module turns on when it is imported (float32
arrays stay float32).  The jitted function is compiled for the (epochs, n) shape of the
permutation array (or the epoch count, when one batch is the whole data set and there is
nothing to shuffle), so the harness's warm-up fit (same epochs as the timed ones) compiles it.
"""

import numpy as np

from benchmarks.workloads import PARAM_NAMES, full_batch, permutations


def available():
    try:
        import jax  # noqa: F401
    except ImportError:
        return False, "jax not importable (pip install jax)"
    return True, ""


class JaxScan:
    jit = True  # compiles in its warm-up fit

    def __init__(self, workload, dtype, params, X, Y, rng):
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax import lax
        self.jax, self.jnp, self.w, self.rng = jax, jnp, workload, rng
        self.params_ = [jnp.asarray(np.asarray(params[k], dtype=dtype)) for k in PARAM_NAMES]
        self.X = jnp.asarray(np.ascontiguousarray(X, dtype))
        self.Y = jnp.asarray(np.ascontiguousarray(Y))
        bs, lr = workload.batch, workload.lr
        n = X.shape[0]
        if n % bs:
            raise ValueError("the JAX loop scans over equal minibatches: samples must be a multiple of batch")
        nb = n // bs
        act = jnp.tanh if workload.activation == "tanh" else (lambda v: jnp.maximum(v, 0))
        mse = workload.loss == "mse"

        def loss_fn(p, xb, yb):
            W0, b0, W1, b1, W2, b2 = p
            h = act(xb @ W0.T + b0)
            h = act(h @ W1.T + b1)
            z = h @ W2.T + b2
            if mse:
                return jnp.mean((z - yb) ** 2)
            lse = jax.nn.logsumexp(z, axis=1)
            return jnp.mean(lse - jnp.take_along_axis(z, yb[:, None], axis=1)[:, 0])

        grad_fn = jax.value_and_grad(loss_fn)

        def step(carry, idx):
            p, X_, Y_ = carry
            loss, g = grad_fn(p, X_[idx], Y_[idx])
            p = [pi - lr * gi for pi, gi in zip(p, g)]
            return (p, X_, Y_), loss

        def epoch(carry, order):
            carry, losses = lax.scan(step, carry, order.reshape(nb, bs))
            return carry, jnp.mean(losses.astype(jnp.float64))

        def fit(p, X_, Y_, perm):
            (p, _, _), losses = lax.scan(epoch, (p, X_, Y_), perm)
            return p, losses

        def fit_full(p, X_, Y_, epochs):  # one batch = the data set: no shuffle, no gather
            def full_step(p, _):
                loss, g = grad_fn(p, X_, Y_)
                return [pi - lr * gi for pi, gi in zip(p, g)], loss
            return lax.scan(full_step, p, None, length=epochs)

        self.full = full_batch(workload, n)
        if self.full:
            self._fit = jax.jit(fit_full, static_argnums=(3,), donate_argnums=(0,))
        else:
            self._fit = jax.jit(fit, donate_argnums=(0,))

    def params(self):
        return {k: np.asarray(v, dtype=np.float64) for k, v in zip(PARAM_NAMES, self.params_)}

    def fit(self, epochs):
        if self.full:
            self.params_, losses = self._fit(self.params_, self.X, self.Y, epochs)
        else:
            perm = permutations(self.rng, epochs, self.X.shape[0])
            self.params_, losses = self._fit(self.params_, self.X, self.Y, self.jnp.asarray(perm))
        losses = np.asarray(losses)  # blocks until done
        return float(losses[-1]) if epochs else float("nan")
