"""Lowering: graph nodes -> a kernel program (``codegen.program``) of buffers and steps.

``prepare`` runs the graph passes every backend wants (simplification when available,
elementwise fusion); ``lower`` turns the result into steps: products with transposes
folded into their flags (``aᵀ·δ`` needs no transposed copy), fused maps, reductions
(logsumexp always over trailing axes), views for reshapes, and a memory plan in which
temporaries share slots when their lifetimes allow.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 3))
>>> print(lower([sb.tanh(x @ W)]).describe())
t0 = x @ W
t1 = map(t0): tanh(x0)
"""

from collections.abc import Mapping
import numpy as np

from codegen.program import Buffer, Program, Reshape, View, reads
from symbackprop.errors import CompileError
from symbackprop.graph import ops
from symbackprop.graph.fusion import fuse
from symbackprop.graph.node import Expr
from symbackprop.graph.shape import size
from symbackprop.graph.text import short_formulas
from symbackprop.graph.traverse import topo_order
from symbackprop.lower.buffers import plan_slots
from symbackprop.primitives import definition


def prepare(outputs):
    """The graph passes run before lowering: simplify (if built) then fuse elementwise chains.

    >>> import symbackprop as sb
    >>> x = sb.input("x", (3,))
    >>> prepare([sb.exp(x) * 2 + 1])[0].attrs.body
    Lambda(x0, 2*exp(x0) + 1)
    """
    try:
        from symbackprop.simplify import simplify
    except ImportError:  # simplification is optional for correctness
        simplify = None
    if simplify is not None:
        outputs = simplify(list(outputs))
    return fuse(list(outputs))


def _check_names(leaves):
    by_name = {}
    for node in leaves:
        other = by_name.setdefault(node.name, node)
        if other is not node:
            raise CompileError(f"two different leaves are both named {node.name!r}: "
                               f"{other.describe()} and {node.describe()}; give them different names")


def _trailing_logsumexp(outputs):
    """Rewrite logsumexp over non-trailing axes as a transpose then a trailing logsumexp.

    One bottom-up rebuild, so a logsumexp whose operand holds another one (softmax of a
    softmax) sees its operand already rewritten.
    """
    from symbackprop.graph.rewrite import rebuild
    new = {}
    for node in topo_order(outputs):
        if node.is_leaf:
            new[node] = node
            continue
        args = [new[a] for a in node.args]
        if node.op == "reduce" and node.attrs.kind == "logsumexp":
            axes, x = node.attrs.axes, args[0]
            if axes != tuple(range(x.ndim - len(axes), x.ndim)):
                perm = tuple(a for a in range(x.ndim) if a not in axes) + axes
                moved = ops.transpose(x, perm)
                new[node] = ops.reduce("logsumexp", moved, tuple(range(x.ndim - len(axes), x.ndim)))
                continue
        new[node] = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
    return [new[o] for o in outputs]


class _Lowering:
    """What a primitive's ``lower`` may ask: its operands' buffer names and the decisions
    lowering took about its neighbours."""

    def __init__(self, outputs, readers, names, buffers, consts):
        self.outputs, self.readers, self.names = set(outputs), readers, names
        self.buffers, self.consts = buffers, consts

    def constant(self, array):
        """A constant buffer holding ``array`` (passed to kernels as an argument, never baked
        into code); equal arrays share one buffer."""
        array = np.ascontiguousarray(array)
        for name, held in self.consts.items():
            if held.dtype == array.dtype and held.shape == array.shape and np.array_equal(held, array):
                return name
        name = f"c{len(self.consts)}"
        self.buffers[name] = Buffer(name, tuple(int(d) for d in array.shape), array.dtype.name, "const")
        self.consts[name] = array
        return name

    def name(self, node):
        """The buffer holding ``node``'s value."""
        return self.names[node]

    def is_output(self, node):
        return node in self.outputs

    def folded(self, node):
        """A 2-D transpose read only by products: it becomes a flag of each product."""
        return node.op == "transpose" and node.ndim == 2 and all(
            c.op == "matmul" for c in self.readers.get(node, ()))

    def swapped(self, node):
        """A product read only by one 2-D transpose: (op(a)·op(b))ᵀ is computed as op(b)ᵀ·op(a)ᵀ."""
        return (node.op == "matmul" and node not in self.outputs and len(self.readers.get(node, ())) == 1
                and self.readers[node][0].op == "transpose")

    def step_of(self, node):
        """The step ``node``'s primitive would write (for a reader that computes it instead)."""
        return definition(node).step(node, None, self)


def lower(outputs, arguments=()):
    """The kernel program computing ``outputs`` (a list of graph nodes): one step per node,
    made by its primitive's ``lower``.

    Arguments of the program are ``arguments`` (leaves that must be accepted even if a
    simplification removed them), then the other inputs and params in order of first use.
    """
    for o in outputs:
        if not isinstance(o, Expr):
            raise CompileError(f"compile: outputs must be graph nodes, got {type(o).__name__}")
    outputs = _trailing_logsumexp(outputs)
    order = topo_order(outputs)
    _check_names([n for n in order if n.op in ("input", "param")])
    readers = {}
    for n in order:
        for arg in n.args:
            readers.setdefault(arg, []).append(n)
    names, buffers, steps, consts, args, aliases = {}, {}, [], {}, [], {}
    present = set(order)
    formula_order = order
    order = [a for a in arguments if a not in present] + order
    origin_nodes = {}
    lo = _Lowering(outputs, readers, names, buffers, consts)
    for node in order:
        prim = definition(node)
        if prim.leaf and prim.argument:
            names[node] = node.name
            buffers[node.name] = Buffer(node.name, node.shape, node.dtype, node.op)
            args.append(node.name)
            continue
        if prim.leaf:
            name = f"c{len(consts)}"
            names[node] = name
            buffers[name] = Buffer(name, node.shape, node.dtype, "const")
            consts[name] = node.attrs.value.array
            continue
        name = f"t{len(steps)}"
        step = prim.lower(node, name, lo)
        if step is None:  # computed by its readers
            continue
        names[node] = name
        buffers[name] = Buffer(name, node.shape, node.dtype, "temp")
        if isinstance(step, (Reshape, View)):  # names memory of its operand: no slot of its own
            aliases[name] = step.x
        origin_nodes[name] = node
        steps.append(step)
    out_names = tuple(names[o] for o in outputs)
    slots, slot_sizes = plan_memory(steps, buffers, aliases, out_names)
    return Program(buffers=buffers, steps=tuple(steps), args=tuple(args), consts=consts, outputs=out_names,
                   origins=Origins(formula_order, origin_nodes), aliases=aliases, slots=slots,
                   slot_sizes=slot_sizes)


class Origins(Mapping):
    """{buffer name: the short formula of the graph node it computes}, for comments in
    generated code; the formulas are printed on first use (a backend that writes no
    comments, or finds its kernel cached, never prints a body)."""

    def __init__(self, order, nodes):
        self._order, self._nodes, self._texts = order, nodes, None

    def _formulas(self):
        if self._texts is None:
            texts = short_formulas(self._order)
            self._texts = {name: texts[node] for name, node in self._nodes.items()}
        return self._texts

    def __getitem__(self, name):
        return self._formulas()[name]

    def __iter__(self):
        return iter(self._nodes)

    def __len__(self):
        return len(self._nodes)


def plan_memory(steps, buffers, aliases, outputs):
    """(slots, slot sizes): each temporary (a buffer some step writes, with role temp) gets a
    slot of its dtype's arena, shared with temporaries whose lifetimes do not overlap."""
    last_use = {}
    for i, step in enumerate(steps):
        for r in reads(step):
            last_use[r] = i
    for o in outputs:
        last_use[o] = len(steps)
    slots, sizes = {}, {}
    for dtype in sorted({buffers[s.out].dtype for s in steps if buffers[s.out].role == "temp"}):
        # one arena per dtype: a step of another dtype, or one writing in place into an
        # argument (an optimizer's update), is a gap in this one's timeline
        temps = [(s.out if buffers[s.out].dtype == dtype and buffers[s.out].role == "temp" else f"#{i}",
                  size(buffers[s.out].shape)) for i, s in enumerate(steps)]
        skip = {name for name, _ in temps if name.startswith("#")}
        group, group_sizes = plan_slots(temps, last_use, aliases, skip)
        slots.update({name: (dtype, slot) for name, slot in group.items()})
        sizes[dtype] = tuple(group_sizes)
    return slots, sizes
