"""The fused training loop as one jitted XLA computation: a loop over epochs, and in each
epoch ``lax.scan`` over the full minibatches (then the last, smaller one), each step the
training program's steps (gather, forward, backward, update) traced by ``steps.Steps``.

Data parallelism: the devices form a one-axis ``Mesh`` ("batch").  The data set, the
params and the optimizer state are replicated; each gathered minibatch is constrained to
``NamedSharding(mesh, P("batch"))``, so XLA's partitioner runs every row-wise step on the
device holding the rows and inserts the all-reduce where a gradient sums over the batch.
The numbers are those of one device (same minibatches, same order).  A full minibatch
must divide by the device count (refused otherwise, before anything runs); the last,
smaller minibatch of an epoch is sharded when it divides too, else computed replicated on
every device (correct, not parallel).

The same contract as the other drivers (numba's ``training.py``): ``train(X, Y, params,
state, hyper, perm, t0, bs, limit=-1, norms=None) -> (steps, losses, status)`` with params
and state (the optimizer's, then the running statistics' group when the program has one)
updated in place, ``status`` None or (epoch, step, what) with ``what`` 0 for the loss and
1 + i for param i, and ``limit`` the number of steps to run (−1: all).  ``hyper`` may be
shorter than the step's hyper buffer (the rest starts at 0); with ``tp.epoch_slot`` the loop
sets hyper[slot] = e0 + e at each epoch e, and with ``tp.norms_slot`` it adds up the square
roots of the squared gradient norms of each finite step and writes their epoch means into
``norms`` (epochs × params) when given.  Dropout masks take the integer step number, so
they are the numpy reference's bit for bit in float32 too (``random.py``).  As in the native
drivers, the step that meets NaN/inf has been applied when the loop stops (after that
epoch); the caller, which kept the params from before the call, replays the finite steps
with ``limit``, which runs a guarded variant of the loop (compiled only then) in which a
step past the limit or a failing step changes nothing.  (Selecting every updated value
against its previous one at every step costs a kernel per param: on W1, 10–20 %.)

Compiled once per shape set (data, minibatch size): one call of the compiled loop takes
the minibatch order of a fixed block of epochs (``block``: up to 4096, fewer for large
data sets) and runs as many of them as asked (a ``lax.while_loop``, which also stops
after a failing step); a call of ``train`` runs as many blocks as its epochs need.  So
``Trainer.compile`` compiles what ``fit`` runs, whatever the epoch count, and params stay
on the devices between blocks.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from codegen.jax_backend import device_consts, host_dtype, needs_x64, x64
from codegen.jax_backend.steps import Steps
from codegen.program import Gather

#: when a list, every traced minibatch gather appends the sharding XLA gave it (tests use it
#: to see that the step really runs sharded)
SHARDING_PROBE = None


class DeviceError(ValueError):
    """The devices asked for cannot be used (too many, none, not JAX devices)."""


def resolve_devices(devices):
    """The list of JAX devices ``devices`` means: None -> every device of JAX's default
    platform (the GPUs when there are any; with ``jax.distributed``, every host's), an int k
    -> the first k of them, a list -> those devices."""
    available = jax.devices()
    if devices is None:
        return list(available)
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        k = int(devices)
        if k < 1 or k > len(available):
            hint = ("; on a CPU-only machine, XLA_FLAGS=--xla_force_host_platform_device_count=K (set before jax "
                    "is imported) gives K CPU devices") if available[0].platform == "cpu" else ""
            raise DeviceError(f"devices={k}: JAX's {available[0].platform} platform has {len(available)} "
                              f"device(s){hint}")
        return list(available[:k])
    try:
        chosen = list(devices)
    except TypeError:
        raise DeviceError(f"devices must be None, an int or a list of JAX devices, got {type(devices).__name__}") \
            from None
    if not chosen or not all(isinstance(d, jax.Device) for d in chosen):
        raise DeviceError(f"devices must be a non-empty list of JAX devices (jax.devices()), got {devices!r}")
    if len(set(chosen)) != len(chosen):
        raise DeviceError(f"devices lists a device twice: {chosen!r}")
    return chosen


def check_batch(bs, count):
    """Refuse a minibatch size that does not divide over ``count`` devices."""
    if count > 1 and bs % count:
        lower, upper = bs - bs % count, bs + count - bs % count
        raise DeviceError(f"batch_size={bs} does not divide over {count} devices (each device takes an equal "
                          f"share of every minibatch); use a multiple of {count}, e.g. {lower or upper} or {upper}")


#: most epochs one call of the compiled loop runs, and most minibatch-order entries it receives
BLOCK_EPOCHS, BLOCK_ELEMENTS = 4096, 1 << 20


def block(rows):
    """Epochs per call of the compiled loop for a data set of ``rows`` rows: a power of two
    that depends on nothing else, so one compiled program serves every epoch count.

    >>> block(100), block(60000), block(10 ** 7)
    (4096, 16, 1)
    """
    fit = max(1, min(BLOCK_EPOCHS, BLOCK_ELEMENTS // max(rows, 1)))
    return 1 << (fit.bit_length() - 1)


def local(array):
    """This host's copy of a replicated array, as numpy."""
    return np.asarray(array.addressable_data(0))


def _lower(jitted, call, wide):
    with x64(wide):
        return jitted.lower(*call[0], **call[1])


def build_training(tp, devices=None):
    """A function ``train(X, Y, params, state, hyper, perm, t0, bs, limit=-1, norms=None) -> (steps,
    losses, status)`` running the fused loop on ``devices``; see the module doc."""
    step = tp.step
    devices = resolve_devices(devices)
    mesh = Mesh(np.array(devices), ("batch",))
    replicated, batched = NamedSharding(mesh, P()), NamedSharding(mesh, P("batch"))
    count = len(devices)
    wide = needs_x64(step)
    steps = Steps(step)
    nparams = len(tp.params)
    state_names = [list(names) for names in tp.state]
    float_dtype = np.float64 if wide else np.float32
    int_dtype = np.int64 if wide else np.int32

    def one_step(fixed, carry, rows, n, shard, epoch, j, whole=False, guarded=False):
        step_number = fixed["t0"] + carry["steps"] + 1
        hyper = jnp.concatenate([step_number.astype(fixed["hyper"].dtype)[None], fixed["hyper"]])
        if tp.epoch_slot is not None:  # e0 + the epoch's number within the call
            hyper = hyper.at[tp.epoch_slot].set(fixed["e0"] + epoch.astype(hyper.dtype))
        env = dict(fixed["consts"])
        env[(tp.hyper, "t")] = step_number  # the integer t, exact for the dropout masks' hash
        env.update({tp.x: fixed["X"], tp.y: fixed["Y"], tp.rows: rows, tp.hyper: hyper,
                    tp.check: jnp.zeros(nparams, dtype=host_dtype(step.buffers[tp.check].dtype, wide))})
        env.update(zip(tp.params, carry["params"]))
        env.update({name: v for names, group in zip(state_names, carry["state"]) for name, v in zip(names, group)})
        for s in step.steps:
            if whole and isinstance(s, Gather):  # the minibatch is the data set in order: no gather
                value = env[s.src]
            else:
                value = steps.apply(s, env, n)
            if isinstance(s, Gather):
                if shard:
                    value = lax.with_sharding_constraint(value, batched)
                if SHARDING_PROBE is not None:
                    jax.debug.inspect_array_sharding(value, callback=SHARDING_PROBE.append)
            env.update(value if isinstance(value, dict) else {s.out: value})
        loss = jnp.reshape(env[tp.loss], (-1,))[0]
        bad = ~jnp.isfinite(env[tp.check])
        what = jnp.where(jnp.isfinite(loss), jnp.where(jnp.any(bad), 1 + jnp.argmax(bad), -1), 0)
        active = (carry["status"][2] < 0) & ((fixed["limit"] < 0) | (carry["steps"] < fixed["limit"]))
        ok, failed = active & (what < 0), active & (what >= 0)

        def keep(new, old):  # unguarded: every step is applied (a failing run is replayed, guarded)
            return jnp.where(ok, new.astype(old.dtype), old) if guarded else new.astype(old.dtype)

        acc = carry["acc"]
        if tp.norms_slot is not None:  # the gradient norms of the finite steps
            norms = jnp.sqrt(env[tp.hyper][tp.norms_slot:tp.norms_slot + nparams]).astype(acc.dtype)
            acc = acc + jnp.where(ok, norms, 0)
        return {"params": tuple(keep(env[p], old) for p, old in zip(tp.params, carry["params"])),
                "acc": acc,
                "state": tuple(tuple(keep(env[name], old) for name, old in zip(names, group))
                               for names, group in zip(state_names, carry["state"])),
                "steps": carry["steps"] + ok.astype(carry["steps"].dtype),
                "status": jnp.where(failed, jnp.stack([epoch, j, what]).astype(carry["status"].dtype),
                                    carry["status"]),
                "total": carry["total"] + jnp.where(ok, loss.astype(carry["total"].dtype) * n, 0)}

    def chunk(fixed, carry, perm, bs, whole, guarded):
        ntot = perm.shape[1]
        nfull, rest = divmod(ntot, bs)

        def epoch(carry, e, row):
            """One epoch (its minibatches: a scan of the full ones, then the rest): (carry, mean loss)."""
            number = fixed["epoch0"] + e  # of the call, for the status
            carry = dict(carry, total=jnp.zeros((), carry["total"].dtype), acc=jnp.zeros_like(carry["acc"]))

            def batch(c, jr):
                j, rows = jr
                return one_step(fixed, c, rows, bs, count > 1, number, j, whole, guarded), None

            if nfull == 1:  # no loop of one iteration
                carry, _ = batch(carry, (jnp.zeros((), e.dtype), row[:bs]))
            else:
                carry, _ = lax.scan(batch, carry, (jnp.arange(nfull, dtype=e.dtype),
                                                   row[:nfull * bs].reshape(nfull, bs)))
            if rest:
                carry = one_step(fixed, carry, row[nfull * bs:], rest, count > 1 and rest % count == 0, number,
                                 jnp.asarray(nfull, dtype=e.dtype), guarded=guarded)
            # each epoch's mean gradient norms over its steps (none recorded for a failing epoch)
            norms = jnp.where(carry["status"][2] < 0, carry["acc"] / -(-ntot // bs), 0)
            return carry, carry["total"] / ntot, norms

        # the epochs of the block: a loop whose trip count is a runtime value (the epochs asked,
        # fewer after a failing step), so one compiled program serves every count
        def more(state):
            e, carry = state[:2]
            return (e < fixed["count"]) & (carry["status"][2] < 0)

        def next_epoch(state):
            e, carry, losses, norms = state
            carry, loss, row = epoch(carry, e, lax.dynamic_index_in_dim(perm, e, keepdims=False))
            return e + 1, carry, losses.at[e].set(loss), norms.at[e].set(row)

        start = (jnp.zeros((), perm.dtype), carry, jnp.zeros(perm.shape[0], carry["total"].dtype),
                 jnp.zeros((perm.shape[0], nparams), carry["acc"].dtype))
        _, carry, losses, norms = lax.while_loop(more, next_epoch, start)
        return carry, losses, norms

    jitted = jax.jit(chunk, static_argnames=("bs", "whole", "guarded"), out_shardings=replicated)
    held = {}

    def consts():
        if "consts" not in held:
            held["consts"] = {c: jax.device_put(v, replicated) for c, v in device_consts(step, wide).items()}
        return held["consts"]

    def train(X, Y, params, state, hyper, perm, t0, bs, limit=-1, norms=None):
        epochs, ntot = perm.shape
        bs = min(int(bs), ntot) if ntot else int(bs)
        check_batch(bs, count)
        with x64(wide):
            def put(a, dtype=None):  # replicated on every device, also devices of other hosts (jax.distributed)
                a = np.asarray(a, dtype=dtype)
                return jax.make_array_from_callback(a.shape, replicated, lambda index: a[index])

            # hyper[1:] of the step: the values given, then zeros (the slots the step fills)
            values = np.zeros(step.buffers[tp.hyper].shape[0] - 1)
            values[:len(hyper)] = hyper
            e0 = values[tp.epoch_slot - 1] if tp.epoch_slot is not None else 0.0
            fixed = {"X": put(X, host_dtype(X.dtype, wide)), "Y": put(Y, host_dtype(Y.dtype, wide)),
                     "consts": consts(), "hyper": put(values, float_dtype), "e0": put(e0, float_dtype),
                     "t0": put(t0, int_dtype), "limit": put(limit, int_dtype)}
            carry = {"params": tuple(put(p) for p in params),
                     "state": tuple(tuple(put(v) for v in group) for group in state),
                     "steps": put(0, int_dtype), "status": put(np.full(3, -1), int_dtype),
                     "total": put(0.0, float_dtype), "acc": put(np.zeros(nparams), float_dtype)}
            if ntot == 0:
                return 0, np.zeros(epochs), None
            # one minibatch of every row in order (no shuffle: the Trainer's full-batch case)
            whole = bs == ntot and bool((perm == np.arange(ntot)).all())
            size = block(ntot)
            losses = []
            for start in range(0, max(epochs, 1), size):  # zero epochs: one call that compiles
                piece = perm[start:start + size]
                padded = np.zeros((size, ntot), dtype=int_dtype)
                padded[:len(piece)] = piece
                call = (dict(fixed, count=put(len(piece), int_dtype), epoch0=put(start, int_dtype)), carry,
                        put(padded)), dict(bs=bs, whole=whole, guarded=limit >= 0)
                train.lower = lambda call=call: _lower(jitted, call, wide)  # a call's XLA program, to inspect
                carry, part, rows = jitted(*call[0], **call[1])
                losses.append((part, len(piece)))
                if norms is not None and tp.norms_slot is not None:
                    norms[start:start + len(piece)] = local(rows)[:len(piece)]
            for p, new in zip(params, carry["params"]):
                p[...] = local(new)
            for group, new in zip(state, carry["state"]):
                for v, value in zip(group, new):
                    v[...] = local(value)
            status = tuple(int(v) for v in local(carry["status"]))
            losses = np.concatenate([local(p).astype(np.float64)[:k] for p, k in losses])[:epochs]
            return int(local(carry["steps"])), losses, status if status[2] >= 0 else None

    train.devices = devices
    train.keeps_finite = False  # a failing step was applied: the caller replays the finite ones (guarded)
    train.mesh = mesh
    train.jitted = jitted
    return train


__all__ = ["build_training", "resolve_devices", "check_batch", "DeviceError", "SHARDING_PROBE"]
