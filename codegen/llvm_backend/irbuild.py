"""Small llvmlite helpers shared by the LLVM backend's emitters: integer types, loops and
stack slots.

>>> from llvmlite import ir
>>> m = ir.Module(); f = ir.Function(m, ir.FunctionType(VOID, [I64]), "f")
>>> b = ir.IRBuilder(f.append_basic_block("entry"))
>>> with loop(b, f.args[0]) as i:
...     _ = b.add(i, i64(1))
>>> _ = b.ret_void(); "i.head" in str(m)
True
"""

from contextlib import contextmanager

from llvmlite import ir

I64 = ir.IntType(64)
I32 = ir.IntType(32)
I8 = ir.IntType(8)
VOID = ir.VoidType()


def i64(v):
    """An i64 constant."""
    return ir.Constant(I64, int(v))


def load(b, ptr, index):
    """``ptr[index]``."""
    return b.load(b.gep(ptr, [index], inbounds=True))


def store(b, value, ptr, index):
    """``ptr[index] = value``."""
    b.store(value, b.gep(ptr, [index], inbounds=True))


def entry_alloca(b, ty, name=""):
    """An alloca in the function's entry block (promoted to a register by LLVM)."""
    block = b.block
    b.position_at_start(b.function.entry_basic_block)
    slot = b.alloca(ty, name=name)
    b.position_at_end(block)
    return slot


@contextmanager
def loop(b, count, name="i"):
    """``for i in range(count)`` (an i64 ``count``); yields the index; code after the
    ``with`` continues after the loop."""
    fn = b.function
    pre = b.block
    head = fn.append_basic_block(f"{name}.head")
    body = fn.append_basic_block(f"{name}.body")
    end = fn.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(i64(0), pre)
    b.cbranch(b.icmp_signed("<", i, count), body, end)
    b.position_at_end(body)
    yield i
    nxt = b.add(i, i64(1), flags=["nsw", "nuw"])
    i.add_incoming(nxt, b.block)
    b.branch(head)
    b.position_at_end(end)


def nest(b, counts, emit, name="i"):
    """Nested loops over ``counts`` (outermost first); ``emit(indices)`` writes the body."""
    def level(d, indices):
        if d == len(counts):
            emit(indices)
            return
        with loop(b, counts[d], f"{name}{d}") as i:
            level(d + 1, indices + [i])
    level(0, [])
