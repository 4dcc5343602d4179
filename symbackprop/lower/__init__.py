"""Lowering: graph nodes -> a kernel program (``codegen.program``) of buffers and steps.

Today one step per node, with transposes folded into the flags of the products that read
them (so ``aᵀ·δ`` needs no transposed copy).  Fusion and buffer reuse belong here too.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 3))
>>> print(lower([sb.tanh(x @ W)]).describe())
t0 = x @ W
t1 = map(t0): tanh(x0)
"""

from codegen.program import Broadcast, Buffer, Map, MatMul, OneHot, Program, Reduce, Reshape, Transpose
from symbackprop.errors import CompileError
from symbackprop.graph.node import Expr
from symbackprop.graph.traverse import topo_order


def _check_names(leaves):
    by_name = {}
    for node in leaves:
        other = by_name.setdefault(node.name, node)
        if other is not node:
            raise CompileError(f"two different leaves are both named {node.name!r}: "
                               f"{other.describe()} and {node.describe()}; give them different names")


def lower(outputs):
    """The kernel program computing ``outputs`` (a list of graph nodes).

    Arguments of the program are the inputs and params, by name, in order of first use.
    """
    for o in outputs:
        if not isinstance(o, Expr):
            raise CompileError(f"compile: outputs must be graph nodes, got {type(o).__name__}")
    order = topo_order(outputs)
    _check_names([n for n in order if n.op in ("input", "param")])
    readers = {}
    for n in order:
        for arg in n.args:
            readers.setdefault(arg, []).append(n)
    names, buffers, steps, consts, args = {}, {}, [], {}, []

    def buffer(node, name, role):
        names[node] = name
        buffers[name] = Buffer(name, node.shape, node.dtype, role)

    def folded(node):
        # a 2-D transpose read only by products becomes a flag of each product
        return node.op == "transpose" and node.ndim == 2 and all(
            c.op == "matmul" for c in readers.get(node, ()))

    temp = 0
    for node in order:
        if node.op in ("input", "param"):
            buffer(node, node.name, node.op)
            args.append(node.name)
            continue
        if node.op == "const":
            name = f"c{len(consts)}"
            buffer(node, name, "const")
            consts[name] = node.attrs[0].array
            continue
        if folded(node) and node not in outputs:
            continue
        name = f"t{temp}"
        temp += 1
        buffer(node, name, "temp")
        steps.append(_step(node, name, names, folded))
    return Program(buffers=buffers, steps=tuple(steps), args=tuple(args), consts=consts,
                   outputs=tuple(names[o] for o in outputs))


def _step(node, out, names, folded):
    op, a = node.op, node.args
    if op == "map":
        return Map(out, tuple(names[x] for x in a), node.attrs[0])
    if op == "matmul":
        (x, tx), (y, ty) = [(arg.args[0], True) if folded(arg) else (arg, False) for arg in a]
        return MatMul(out, names[x], names[y], tx, ty)
    if op == "reduce":
        return Reduce(out, names[a[0]], node.attrs[0], node.attrs[1])
    if op == "transpose":
        return Transpose(out, names[a[0]], node.attrs[0])
    if op == "broadcast_to":
        return Broadcast(out, names[a[0]])
    if op == "reshape":
        return Reshape(out, names[a[0]])
    if op == "onehot":
        return OneHot(out, names[a[0]], node.attrs[0])
    raise AssertionError(op)
