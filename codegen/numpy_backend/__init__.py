"""The reference backend: runs a kernel program step by step with numpy.

Readable and with no compile time; the other backends are tested against it.

>>> import sympy as sp, numpy as np
>>> from codegen.program import Program, Buffer, Map
>>> x = sp.Symbol("x0", real=True)
>>> p = Program({"a": Buffer("a", (2,), "float64", "input"), "t": Buffer("t", (2,), "float64", "temp")},
...             (Map("t", ("a",), sp.Lambda(x, x + 1)),), ("a",), {}, ("t",))
>>> build(p)({"a": np.array([1.0, 2.0])}, 1)
[array([2., 3.])]
"""

import numpy as np

from codegen.numpy_backend.steps import run_step


def build(program):
    """A function running ``program``: ``run(arrays, n) -> [output arrays]``."""

    def run(arrays, n):
        env = dict(program.consts)
        env.update(arrays)
        with np.errstate(all="ignore"):
            for step in program.steps:
                env[step.out] = run_step(step, env, program.buffers[step.out], n)
        # outputs are fresh, writeable arrays the caller owns
        return [np.array(env[name], dtype=program.buffers[name].dtype, copy=True) for name in program.outputs]

    return run
