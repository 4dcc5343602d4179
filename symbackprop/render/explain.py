"""``sb.explain(L, wrt)``: the derivation as a chain of textbook steps, output layer first.

Each step is one line: the forward definitions, then ``δₖ = ∂L/∂zₖ`` for every layer from
the output down (with the forward lines it comes from), then every requested ``∂L/∂θ``
written with the δ's.  Text (``str``) and LaTeX (``.latex()``, ``_repr_latex_``).

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1)); b = sb.param("b", (1,))
>>> y = sb.input("y", (None, 1))
>>> print(explain(sb.bce(x @ W + b, y), wrt=[W, b]))
z = x W + b
ŷ = σ(z)
L = Σ (softplus(z) − y ⊙ z)/N
δ = ∂L/∂z = (ŷ − y)/N    from L = Σ (softplus(z) − y ⊙ z)/N
∂L/∂W = xᵀ δ             from z = x W + b
∂L/∂b = Σₙ δ             from z = x W + b
"""

from dataclasses import dataclass, field

from symbackprop.autodiff import backprop, grad
from symbackprop.errors import DerivationError
from symbackprop.graph.node import Expr
from symbackprop.graph.traverse import leaves, topo_order
from symbackprop.render.formula import SIMPLIFY_SECONDS, Renderer, taken_names
from symbackprop.render.namer import Namer, is_affine
from symbackprop.render.names import Name, display_name
from symbackprop.render.printer import LATEX, UNICODE
from symbackprop.render.shared import SharedNames
from symbackprop.render.sums import collapse_sums


@dataclass
class Step:
    """One line of an explanation: ``lhs = rhs`` and where it comes from."""
    kind: str  # "forward", "delta", "gradient"; "shared": a value named because formulas reuse it
    lhs: str
    rhs: str
    lhs_latex: str
    rhs_latex: str
    source: list = field(default_factory=list)  # [(text, latex)]
    node: object = None  # the (simplified) node the right-hand side computes


class Explanation:
    """The steps of a derivation; ``str()`` is the text, ``latex()`` the LaTeX."""

    def __init__(self, steps, gradients):
        self.steps = steps
        #: {wrt node: simplified gradient node}
        self.gradients = gradients

    def __str__(self):
        lines = [f"{s.lhs} = {s.rhs}" for s in self.steps]
        width = max((len(l) for l, s in zip(lines, self.steps) if s.source), default=0)
        width = min(width, 60)
        out = []
        for line, s in zip(lines, self.steps):
            if s.source:
                line = line.ljust(width) + "    from " + ",  ".join(t for t, _ in s.source)
            out.append(line)
        return "\n".join(out)

    def __repr__(self):
        return str(self)

    def latex_lines(self):
        """One LaTeX formula per step (each renders on its own, e.g. in matplotlib's mathtext)."""
        return [f"{s.lhs_latex} = {s.rhs_latex}" for s in self.steps]

    def latex(self):
        """All steps in one ``aligned`` block, with their sources as remarks."""
        rows = []
        for s in self.steps:
            src = ""
            if s.source:
                src = r" && \text{from } " + r",\ ".join(f"${l}$" for _, l in s.source)
            rows.append(f"{s.lhs_latex} &= {s.rhs_latex}{src}")
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self):
        return "$$" + self.latex() + "$$"


def _partial(num, den):
    return (f"∂{num}/∂{den}", r"\frac{\partial %s}{\partial %s}" % (num.latex, den.latex))


def explain(loss, wrt=None):
    """Explain ∂loss/∂wrt step by step (``wrt``: a node, a list, or None for every param)."""
    from symbackprop.simplify import simplify
    if not isinstance(loss, Expr):
        raise DerivationError(f"explain: the loss must be a graph node, got {type(loss).__name__}")
    forward = Namer([loss])
    if wrt is None:
        targets = _layer_order([n for n in leaves([loss]) if n.op == "param"], loss, forward)
    else:
        targets = [wrt] if isinstance(wrt, Expr) else list(wrt)
    grads = grad(loss, targets)
    layers = [n for n in topo_order([loss]) if forward.name(n) is not None and is_affine(n)]
    cot = backprop(loss, layers + targets) if layers else {}
    deltas = [z for z in layers if z in cot]
    outs = [loss] + [cot[z] for z in deltas] + [grads[t] for t in targets]
    simple = simplify(outs, budget=SIMPLIFY_SECONDS, reuse=forward.reusable())
    collapsed = collapse_sums(simple, forward.reusable(), stop=simple[1:1 + len(deltas)], keep=[simple[0], loss])
    simple = collapsed  # with a normalization layer: its sums as a textbook has them
    s_loss, s_deltas, s_grads = simple[0], simple[1:1 + len(deltas)], simple[1 + len(deltas):]
    namer = Namer(simple, extra=[loss] + forward.reusable())
    for n, name in forward.names.items():
        namer.names.setdefault(n, name)
    loss_name = namer.name(loss) or Name("L")
    delta_names = {}
    for z, d in zip(deltas, s_deltas):
        zname = forward.name(z)
        sub = zname.sub if zname.base == "z" else (str(forward.total) if forward.total > 1 else "")
        delta_names[d] = (Name("δ", sub, latex_base=r"\delta"), zname)
    # one set of shared names for both styles and every step, counted over all of them, so a
    # value reused across steps is defined once, in its own step before the first reader
    shared = SharedNames(simple + [loss] + forward.reusable(), taken=taken_names(namer))
    text_r, latex_r = Renderer(namer, UNICODE, shared), Renderer(namer, LATEX, shared)

    def rhs(node):
        return text_r.piece(node).text, latex_r.piece(node).latex

    defined = set()

    def shared_steps():
        """Steps defining the shared values used so far and not defined yet, innermost first."""
        new, i = [], 0
        while i < len(text_r.used):
            n = text_r.used[i]
            i += 1
            if n not in defined and namer.name(n) is None and shared.name(n) is not None:
                defined.add(n)
                new.append((n, rhs(n)))  # may use (append) more shared values
        order = {n: k for k, n in enumerate(topo_order([n for n, _ in new]))}
        new.sort(key=lambda item: order[item[0]])
        return [Step("shared", str(shared.name(n)), t, shared.name(n).latex, l, node=n) for n, (t, l) in new]

    def add(step):
        steps.extend(shared_steps())
        steps.append(step)

    def definition(node):
        t, l = rhs(s_loss if node is loss else node)
        name = namer.name(node) or loss_name
        return (f"{name} = {t}", f"{name.latex} = {l}")

    steps = []
    fwd_nodes = [n for n in topo_order([loss] + forward.reusable()) if forward.name(n) is not None
                 and not n.is_leaf and n is not loss]
    for n in fwd_nodes:
        t, l = rhs(n)
        add(Step("forward", str(forward.name(n)), t, forward.name(n).latex, l, node=n))
    lt, ll = rhs(s_loss)
    add(Step("forward", str(loss_name), lt, loss_name.latex, ll, node=s_loss))
    for d in s_deltas:  # named, so gradient formulas read δ's
        namer.names[d] = delta_names[d][0]
    text_r.cache.clear(); latex_r.cache.clear()
    later = {}  # z -> forward nodes between it and the next layer (its sources)
    for z, d in reversed(list(zip(deltas, s_deltas))):
        dname, zname = delta_names[d]
        t, l = rhs(d)
        pt, pl = _partial(loss_name, zname)
        source = _sources(z, loss, forward, layers, definition)
        add(Step("delta", f"{dname} = {pt}", t, f"{dname.latex} = {pl}", l, source, node=d))
        later[z] = source
    for target, g in zip(targets, s_grads):
        tname = namer.name(target) or display_name(target) or Name(target.describe())  # a leaf L does not read
        pt, pl = _partial(loss_name, tname)
        t, l = rhs(g)
        readers = [z for z in layers if target in topo_order([z]) and z in cot]
        source = [definition(readers[0])] if readers else []
        add(Step("gradient", pt, t, pl, l, source, node=g))
    return Explanation(steps, dict(zip(targets, s_grads)))


def _layer_order(params, loss, forward):
    """Params in textbook order: by the layer that reads them, weights before biases."""
    layer = {}
    for n in topo_order([loss]):
        if is_affine(n) and forward.name(n) is not None:
            for leaf in leaves([n]):
                layer.setdefault(leaf, forward.depth[n])
    return sorted(params, key=lambda p: (layer.get(p, 10 ** 9), -p.ndim, p.name))


def _sources(z, loss, forward, layers, definition):
    """Definitions of the named forward values that read ``z`` on the way to the next layer
    (or to the loss)."""
    out = []
    frontier = [z]
    seen = set()
    order = topo_order([loss])
    readers = {}
    for n in order:
        for a in n.args:
            readers.setdefault(a, []).append(n)
    while frontier:
        n = frontier.pop()
        for r in readers.get(n, ()):
            if r in seen:
                continue
            seen.add(r)
            if r is loss or r in layers:
                out.append(r)
                continue
            if forward.name(r) is not None:
                out.append(r)
            frontier.append(r)
    out.sort(key=lambda n: order.index(n), reverse=True)
    return [definition(n) for n in out]
