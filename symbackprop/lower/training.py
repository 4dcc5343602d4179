"""Lowering a training setup (loss, params, optimizer) to a ``TrainingProgram``: one training
step as a kernel program (gather the minibatch, forward, backward, update every param in
place) that every backend runs with the same few step kinds.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
>>> L = sb.mse(sb.nn.Linear(2, 1)(x), y)
>>> tp = lower_training(L, ["weight", "bias"], x, y, sb.optim.SGD(lr=0.1))
>>> tp.params, tp.hyper_values
(('weight', 'bias'), ('lr', 'momentum', 'weight_decay'))
>>> tp.step.steps[0].describe()
'x = %X[%rows]'
>>> tp.step.steps[-1].describe()
'update bias with t7: p <- -g*lr - lr*p*weight_decay + p'
"""

import numpy as np
import sympy as sp

from codegen.program import Buffer, DropoutMask, Gather, Program, SquaredNorms, TrainingProgram, Update
from symbackprop.autodiff import grad
from symbackprop.errors import CompileError
from symbackprop.graph.traverse import leaves
from symbackprop.lower import lower, plan_memory, prepare
from symbackprop.optim.options import EPOCH, NORMS

#: names of the training program's own buffers ('%' never starts a user's leaf name here:
#: the Trainer names its leaves x, y and the params by their module paths)
DATA_X, DATA_Y, ROWS, HYPER, CHECK = "%X", "%Y", "%rows", "%hyper", "%check"
#: the number of rows of the whole data set, in the data buffers' shapes
M = sp.Symbol("M", integer=True, positive=True)


def lower_training(loss, param_names, x, y, optimizer, stats=(), masks=(), seed=0):
    """The training program of ``loss`` over the params named ``param_names``, with the
    minibatch gathered from data like ``x`` and ``y`` and ``optimizer``'s update rules.

    ``stats`` [(buffer name, graph node, momentum)]: running statistics (BatchNorm's) each
    step updates as buffer ← (1 − momentum)·buffer + momentum·node; they follow the
    optimizer state in the arguments, as one more group of ``TrainingProgram.state``.
    ``masks`` [(input node, p)]: dropout masks the step draws itself (``DropoutMask``, stream
    = position in the list) from ``seed`` and the step number."""
    by_name = {n.name: n for n in leaves([loss]) if n.op == "param"}
    missing = [p for p in param_names if p not in by_name]
    if missing:
        raise CompileError(f"training: params {missing} do not reach the loss")
    params = [by_name[p] for p in param_names]
    grads = grad(loss, params)
    base = lower(prepare([loss] + [grads[p] for p in params] + [node for _, node, _ in stats]),
                 arguments=[x, y] + params + [m for m, _ in masks])
    buffers = dict(base.buffers)
    for leaf, data in ((x, DATA_X), (y, DATA_Y)):  # the minibatch becomes a temporary of each step
        buffers[leaf.name] = Buffer(leaf.name, leaf.shape, leaf.dtype, "temp")
        buffers[data] = Buffer(data, (M,) + tuple(leaf.shape[1:]), leaf.dtype, "data")
    # the driver's own buffers (role "control": set or read by the loop around the step)
    buffers[ROWS] = Buffer(ROWS, (x.shape[0],), "int64", "control")
    buffers[HYPER] = Buffer(HYPER, (1 + len(optimizer.hyper),), "float64", "control")
    buffers[CHECK] = Buffer(CHECK, (len(params),), "float64", "control")
    steps = [Gather(x.name, DATA_X, ROWS), Gather(y.name, DATA_Y, ROWS)]
    consts = dict(base.consts)
    steps += _mask_steps(masks, seed, buffers, consts)
    steps += list(base.steps)
    steps += _stat_updates(stats, base.outputs[1 + len(params):], buffers, params, tuple(optimizer.hyper))
    # an optimizer configured with clipping, a schedule and gradient records (``sb.optim.options``)
    # names hyper slots the loop fills: the epoch, and the squared gradient norms
    hyper_at = {name: 1 + j for j, name in enumerate(optimizer.hyper)}
    epoch_slot, norms_slot = hyper_at.get(EPOCH), hyper_at.get(NORMS)
    if norms_slot is not None:
        steps.append(SquaredNorms(HYPER, tuple(base.outputs[1:1 + len(params)]), norms_slot))
    state = []
    for i, p in enumerate(params):
        names = tuple(f"%{s}.{p.name}" for s in optimizer.state)
        for name in names:
            buffers[name] = Buffer(name, p.shape, p.dtype, "state")
        state.append(names)
        steps.append(Update(p.name, base.outputs[1 + i], names, tuple(optimizer.state), HYPER,
                            tuple(optimizer.hyper), tuple(optimizer.updates), CHECK, i))
    if stats:
        state.append(tuple(name for name, _, _ in stats))
    args = (DATA_X, DATA_Y, ROWS) + tuple(p.name for p in params) + tuple(n for g in state for n in g) + \
        (HYPER, CHECK)
    slots, slot_sizes = plan_memory(steps, buffers, base.aliases, (base.outputs[0],))
    step = Program(buffers=buffers, steps=tuple(steps), args=args, consts=consts, outputs=(base.outputs[0],),
                   origins=base.origins, aliases=base.aliases, slots=slots, slot_sizes=slot_sizes)
    return TrainingProgram(step=step, x=DATA_X, y=DATA_Y, rows=ROWS, loss=base.outputs[0],
                           params=tuple(param_names), state=tuple(state), hyper=HYPER,
                           hyper_values=tuple(optimizer.hyper), check=CHECK, epoch_slot=epoch_slot,
                           norms_slot=norms_slot)


#: the int64 constant holding the seed of dropout masks (a value passed in, not baked into code)
SEED = "%seed"


def _mask_steps(masks, seed, buffers, consts):
    """A ``DropoutMask`` step per mask input, which becomes a temporary of the step."""
    from codegen.numpy_backend.random import threshold
    if not masks:
        return []
    consts[SEED] = np.array([int(seed) & ((1 << 63) - 1)], dtype=np.int64)
    buffers[SEED] = Buffer(SEED, (1,), "int64", "const")
    steps = []
    for stream, (mask, p) in enumerate(masks):
        buffers[mask.name] = Buffer(mask.name, mask.shape, mask.dtype, "temp")
        steps.append(DropoutMask(mask.name, SEED, HYPER, stream, threshold(p), 1.0 / (1.0 - p)))
    return steps


def _stat_updates(stats, outputs, buffers, params, hyper_names):
    """In-place running averages of batch statistics, as ``Update`` steps whose one rule is
    p ← (1 − m)·p + m·g (g: the statistic).  They run before the params' updates and write
    their finiteness into the first param's slot of the check, which that param's update then
    overwrites: a non-finite statistic makes the loss non-finite anyway."""
    if stats and not params:
        raise CompileError("training: running statistics need at least one param")
    p, g = sp.symbols("p g", real=True)
    steps = []
    for (name, node, momentum), out in zip(stats, outputs):
        buffers[name] = Buffer(name, node.shape, node.dtype, "state")
        m = sp.Float(momentum)
        steps.append(Update(name, out, (), (), HYPER, hyper_names, (("p", (1 - m) * p + m * g),), CHECK, 0))
    return steps
