"""The per-product BLAS thread switch: native code, called by compiled kernels before each
BLAS product, that runs a product on ``wanted`` threads when its multiply-adds reach
``min_macs`` and on one thread otherwise (``codegen/threads.py`` says why and sets both).

One small LLVM module, compiled once a process (a few milliseconds), defines:

- ``sbp_blas_threads_for(i64 macs)``: when ``wanted`` > 1, asks OpenBLAS for its thread
  count and sets it only when it differs from the one this product wants (so a step whose
  products are all small, or all large, calls ``openblas_set_num_threads`` at most once);
  when ``wanted`` is 1 (the default) it returns after one load and compare.  The numba
  backend's ``gemm`` (``numba_backend/blas.py``) calls it by this name.
- ``sbp_dgemm_switched``/``sbp_sgemm_switched``: BLAS ``?gemm`` (Fortran convention) that
  call the switch with M·N·K, then scipy's function; the llvm backend binds its kernels'
  ``sbp_dgemm``/``sbp_sgemm`` to them (``llvm_backend/jit.py``), so its IR is the same
  whatever the setting.

Everything the switch reads is a global of this module written from Python (``wanted``,
``min_macs``, the addresses of OpenBLAS's ``set/get_num_threads`` and of scipy's gemm), so
compiled kernels and their disk caches hold only the symbol names: a kernel follows every
later ``set_blas_threads``.

>>> s = switch()
>>> s.configure(wanted=1); s.wanted
1
"""

import ctypes
import threading

import llvmlite.binding as llvm
from llvmlite import ir

#: the symbol compiled code calls with a product's multiply-adds (an i64) before the product
THREADS_FOR = "sbp_blas_threads_for"

_I32, _I64, _I8 = ir.IntType(32), ir.IntType(64), ir.IntType(8)
_lock = threading.Lock()
_built = []


def _gemm_type(ty):
    """BLAS ``?gemm``'s type: every argument by pointer (transa, transb, m, n, k, alpha, a,
    lda, b, ldb, beta, c, ldc)."""
    p32, pt, p8 = _I32.as_pointer(), ty.as_pointer(), _I8.as_pointer()
    return ir.FunctionType(ir.VoidType(), [p8, p8, p32, p32, p32, pt, pt, p32, pt, p32, pt, pt, p32])


def _module():
    """The switch's IR (see the module's docstring)."""
    m = ir.Module(name="sbp_blas_switch")
    m.triple = llvm.get_process_triple()

    def var(name, ty, value):
        g = ir.GlobalVariable(m, ty, name)
        g.initializer = ir.Constant(ty, value)
        return g

    set_ty, get_ty = ir.FunctionType(ir.VoidType(), [_I32]), ir.FunctionType(_I32, [])
    wanted, min_macs = var("sbp_blas_wanted", _I64, 1), var("sbp_blas_min_macs", _I64, 0)
    set_fn = var("sbp_blas_set_threads", set_ty.as_pointer(), None)
    get_fn = var("sbp_blas_get_threads", get_ty.as_pointer(), None)

    f = ir.Function(m, ir.FunctionType(ir.VoidType(), [_I64]), THREADS_FOR)
    b = ir.IRBuilder(f.append_basic_block("entry"))
    choose, change, done = (f.append_basic_block(x) for x in ("choose", "change", "done"))
    w = b.load(wanted)
    b.cbranch(b.icmp_signed(">", w, ir.Constant(_I64, 1)), choose, done)  # one thread: nothing to do
    b.position_at_end(choose)
    big = b.icmp_signed(">=", f.args[0], b.load(min_macs))
    want = b.trunc(b.select(big, w, ir.Constant(_I64, 1)), _I32)
    now = b.call(b.load(get_fn), [])
    b.cbranch(b.icmp_signed("!=", now, want), change, done)
    b.position_at_end(change)
    b.call(b.load(set_fn), [want])
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()

    for kind, ty in (("d", ir.DoubleType()), ("s", ir.FloatType())):
        fnty = _gemm_type(ty)
        real = var(f"sbp_blas_{kind}gemm", fnty.as_pointer(), None)
        g = ir.Function(m, fnty, f"sbp_{kind}gemm_switched")
        b = ir.IRBuilder(g.append_basic_block("entry"))
        sizes = [b.sext(b.load(g.args[i]), _I64) for i in (2, 3, 4)]
        b.call(f, [b.mul(b.mul(sizes[0], sizes[1]), sizes[2])])
        b.call(b.load(real), g.args, tail=True)
        b.ret_void()
    return str(m)


class Switch:
    """The compiled switch: its functions' addresses and its globals (read and written
    through ctypes)."""

    def __init__(self):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        module = llvm.parse_assembly(_module())
        module.verify()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        tm = target.create_target_machine(opt=2, codemodel="jitdefault")
        self._engine = llvm.create_mcjit_compiler(module, tm)  # owns the code: kept alive with this object
        self._engine.finalize_object()
        self.address = {name: self._engine.get_function_address(name)
                        for name in (THREADS_FOR, "sbp_dgemm_switched", "sbp_sgemm_switched")}
        self._globals = {name: ctypes.c_int64.from_address(self._engine.get_global_value_address(f"sbp_blas_{name}"))
                         for name in ("wanted", "min_macs")}
        self._pointers = {name: ctypes.c_void_p.from_address(self._engine.get_global_value_address(f"sbp_blas_{name}"))
                          for name in ("set_threads", "get_threads", "dgemm", "sgemm")}
        llvm.add_symbol(THREADS_FOR, self.address[THREADS_FOR])

    @property
    def wanted(self):
        """The thread count large products get (1: the switch does nothing)."""
        return self._globals["wanted"].value

    @property
    def min_macs(self):
        """Products of fewer multiply-adds (M·N·K) run on one thread."""
        return self._globals["min_macs"].value

    @property
    def can_switch(self):
        """True once OpenBLAS's ``set/get_num_threads`` are bound (``bind_threads``)."""
        return bool(self._pointers["set_threads"].value and self._pointers["get_threads"].value)

    @property
    def thread_functions(self):
        """The addresses (set, get) ``bind_threads`` bound (None when unbound)."""
        return self._pointers["set_threads"].value, self._pointers["get_threads"].value

    def bind_threads(self, set_address, get_address):
        """The addresses of the BLAS's C functions ``void set(int)`` and ``int get(void)``."""
        self._pointers["set_threads"].value = set_address
        self._pointers["get_threads"].value = get_address

    def configure(self, wanted, min_macs=None):
        """Large products get ``wanted`` threads, products below ``min_macs`` one; without
        bound thread functions the switch stays off (wanted 1)."""
        if min_macs is not None:
            self._globals["min_macs"].value = int(min_macs)
        self._globals["wanted"].value = int(wanted) if self.can_switch else 1

    def gemm(self, kind, address):
        """The address of the switched ``?gemm`` (``kind`` "d" or "s") that calls the BLAS
        function at ``address``."""
        self._pointers[f"{kind}gemm"].value = address
        return self.address[f"sbp_{kind}gemm_switched"]


def switch():
    """The process's switch, compiled on first use (its symbol ``sbp_blas_threads_for`` is
    then known to every LLVM engine, numba's too).

    >>> switch() is switch()
    True
    """
    with _lock:
        if not _built:
            _built.append(Switch())
        return _built[0]
