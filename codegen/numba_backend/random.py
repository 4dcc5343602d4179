"""numba source of the dropout mask (``codegen.program.DropoutMask``): the same splitmix64
hash as the numpy reference (``codegen.numpy_backend.random``), in uint64 arithmetic."""

from codegen.layout import size as _size
from codegen.numba_backend.emit import code
from codegen.numba_backend.printer import literal
from codegen.numpy_backend.random import GOLDEN, MIX1, MIX2


def _u(v):
    return f"np.uint64({v})"


def _mix(z):
    return [f"{z} = ({z} ^ ({z} >> {_u(30)})) * {_u(MIX1)}",
            f"{z} = ({z} ^ ({z} >> {_u(27)})) * {_u(MIX2)}",
            f"{z} = {z} ^ ({z} >> {_u(31)})"]


def dropout_mask_lines(em, step, prefix):
    """Lines filling ``step.out`` with the mask of this step."""
    O, S, H = em.var(step.out), em.var(step.seed), em.var(step.hyper)
    dtype = em.p.buffers[step.out].dtype
    key, z, i = f"{prefix}key", f"{prefix}z", f"{prefix}i"
    lines = [f"{key} = np.uint64({S}[0]) + {_u(GOLDEN)} * {_u(step.stream + 1)}"] + _mix(key)
    lines += [f"{key} = {key} + {_u(GOLDEN)} * np.uint64(np.int64({H}[0]))"] + _mix(key)
    count = code(_size(em.shape(step.out)))
    scale, zero = literal(step.scale, dtype), literal(0.0, dtype)
    lines += [f"for {i} in range({count}):",
              f"    {z} = {key} + {_u(GOLDEN)} * np.uint64({i} + 1)"] + ["    " + line for line in _mix(z)]
    lines += [f"    {O}[{i}] = {scale} if ({z} >> {_u(11)}) >= {_u(step.threshold)} else {zero}"]
    return lines
