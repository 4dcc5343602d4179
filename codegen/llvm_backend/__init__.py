"""The LLVM backend: the whole kernel program as LLVM IR built with ``llvmlite.ir``,
compiled for the host at O3 and called through ctypes on numpy buffers.

``build(program)`` returns ``run(arrays, n)`` like every backend; ``build_training(tp)``
the fused training loop (``training.py``).  The IR is readable (one function per step,
each preceded by a comment saying what it computes); its object code is cached on disk
(``jit.py``), so a second run of the same model compiles nothing.

>>> import sympy as sp, numpy as np
>>> from codegen.program import Program, Buffer, Map
>>> x = sp.Symbol("x0", real=True)
>>> p = Program({"a": Buffer("a", (2,), "float64", "input"), "t0": Buffer("t0", (2,), "float64", "temp")},
...             (Map("t0", ("a",), sp.Lambda(x, x + 1)),), ("a",), {}, ("t0",),
...             slots={"t0": ("float64", 0)}, slot_sizes={"float64": (2,)})
>>> build(p)({"a": np.array([1.0, 2.0])}, 1)
[array([2., 3.])]
"""

import ctypes

import numpy as np
import sympy as sp
from llvmlite import ir

from codegen.bodies import described
from codegen.layout import PerThread, aligned_empty, arena_sizes, output_views
from codegen.llvm_backend import jit
from codegen.llvm_backend.emit import I64, VOID, ModuleBuilder, ProgramEmitter, ltype

P = ctypes.c_void_p


def flat(array):
    """A C-contiguous 1-D view (or copy) of ``array``; a scalar becomes one element."""
    return np.ascontiguousarray(array).reshape(-1)


def address(array):
    return array.__array_interface__["data"][0]


def kernel_ir(program, name="kernel", separate=False):
    """(IR, argument count) of ``name(<args>, <consts>, n, <one arena per dtype>)``: one
    module's text, or with ``separate`` a ``jit.Linked`` whose shared kernels are modules of
    their own (compiled and cached each by its structure)."""
    mb = ModuleBuilder("symbackprop_kernel")
    pe = ProgramEmitter(mb, program, separate=separate)
    argtys = [ltype(program.buffers[a].dtype).as_pointer() for a in program.args] + \
             [ltype(program.buffers[c].dtype).as_pointer() for c in program.consts] + [I64] + \
             [ltype(d).as_pointer() for d in program.slot_sizes]
    fn = ir.Function(mb.module, ir.FunctionType(VOID, argtys), name)
    fn.attributes.add("nounwind")
    names = list(program.args) + list(program.consts)
    for arg, a in zip(fn.args, names):
        arg.name = f"arg.{a}"
    n = fn.args[len(names)]
    n.name = "n"
    arenas = dict(zip(program.slot_sizes, fn.args[len(names) + 1:]))
    for d, arg in arenas.items():
        arg.name = f"arena.{d}"
        arg.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    pe.emit(b, n, dict(zip(names, fn.args)), arenas)
    b.ret_void()
    mb.comments[name] = [f"arguments: {', '.join(program.args)}; constants: {', '.join(program.consts)}"]
    return (mb.linked() if separate else mb.text()), len(argtys)


def structure(program):
    """A deterministic description of everything in ``program`` that shapes its code
    (constants by dtype and shape only: their values are arguments)."""
    from codegen.llvm_backend import emit  # its switches shape the code too
    lines = [f"small products as loops up to {emit.SMALL_PRODUCT}", f"args {program.args!r}", f"outputs {program.outputs!r}", f"aliases {sorted(program.aliases.items())!r}",
             f"slots {sorted(program.slots.items())!r}", f"slot_sizes {[(d, described(tuple(s))) for d, s in program.slot_sizes.items()]!r}"]
    for name, b in program.buffers.items():
        lines.append(f"buffer {name} {described(tuple(b.shape))} {b.dtype} {b.role}")
    for name in program.consts:
        lines.append(f"const {name} {np.shape(program.consts[name])}")
    for step in program.steps:
        lines.append(f"{type(step).__name__} {{{', '.join(f'{k!r}: {described(v)}' for k, v in vars(step).items())}}}")
    return "\n".join(lines)


def _signature(program):
    nbefore = len(program.args) + len(program.consts)
    return [P] * nbefore + [ctypes.c_int64] + [P] * len(program.slot_sizes)


def build(program):
    """A function running ``program``: ``run(arrays, n) -> [output arrays]``."""
    kernel = jit.Kernel(lambda: kernel_ir(program, separate=True)[0], {"kernel": (None, _signature(program))},
                        structure="kernel\n" + structure(program))
    fn = kernel.functions["kernel"]
    consts = [flat(np.asarray(program.consts[c], dtype=program.buffers[c].dtype)) for c in program.consts]
    const_ptrs = [address(a) for a in consts]
    dtypes = {a: np.dtype(program.buffers[a].dtype) for a in program.args}
    scratch = PerThread()  # ctypes releases the GIL during the call: each thread has its own arenas

    def arenas(n):
        arena = {d: aligned_empty(max(s, 1), d) for d, s in arena_sizes(program, n).items()}
        return arena, [address(a) for a in arena.values()], output_views(program, n)

    def run(arrays, n):
        arena, arena_ptrs, views = scratch.get(n, lambda: arenas(n))
        args = [flat(np.asarray(arrays[a], dtype=dtypes[a])) for a in program.args]
        fn(*[address(a) for a in args], *const_ptrs, n, *arena_ptrs)
        out = []
        for (root_name, dtype, offset, shape), name in zip(views, program.outputs):
            if dtype is None:  # an argument or constant returned as is
                source_array = arrays[root_name] if root_name in arrays else program.consts[root_name]
                out.append(np.array(source_array, dtype=program.buffers[name].dtype, copy=True).reshape(shape))
            else:
                s = int(np.prod(shape, dtype=np.int64))
                out.append(arena[dtype][offset:offset + s].reshape(shape).copy())
        return out

    return Compiled(run, kernel)


class Compiled:
    """A compiled function: calls ``fn``; ``source`` is the LLVM IR (made on first use)."""

    def __init__(self, fn, kernel):
        self.fn, self.kernel = fn, kernel

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    @property
    def source(self):
        """The LLVM IR for reading: the program's module, then its separately compiled kernels."""
        return self.kernel.source


def build_training(tp):
    """The fused training loop of a ``TrainingProgram`` (see ``training.py``)."""
    from codegen.llvm_backend.training import build_training as build_loop
    return build_loop(tp)
