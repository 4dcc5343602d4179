"""Names for one rendering: the tables' names, and names from each value's place in the
network for values nobody named.

An *affine* node (``x @ W`` or ``x @ W + b`` with a param ``W``) is ``z_k`` where ``k`` counts
the affine layers on its longest path from the inputs; a one-operand nonlinear map of
``z_k`` is ``a_k``; the deepest layer's output is ``ŷ`` (when it is logits, i.e. the formulas
apply σ, softplus or logsumexp to it, ``σ(z_L)`` is ``ŷ`` instead).  Subscripts are dropped
when the network has one layer.  The same node gets the same name in every formula,
listing and explanation of a graph.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W1", (2, 3)); b = sb.param("b1", (3,))
>>> a = sb.tanh(x @ W + b)
>>> namer = Namer([a @ sb.param("W2", (3, 1))])
>>> str(namer.name(a)), str(namer.name(a.args[0])), str(namer.name(W))
('a₁', 'z₁', 'W₁')
"""

import sympy as sp

from symbackprop.graph import ops
from symbackprop.graph.scalar import sigmoid, softplus
from symbackprop.graph.traverse import topo_order
from symbackprop.render.names import Name, display_name, layer_tag, user_name


def _strip(node):
    while node.op in ("broadcast_to", "reshape", "transpose"):
        node = node.args[0]
    return node


def _is_weight(node):
    return _strip(node).op == "param"


def is_affine(node):
    """``x @ W`` or ``x @ W + b`` (any order of terms; ``x ⋆ W`` for convolutions) with a param
    ``W`` and ``x`` an input, an activation, a pooled or named value or another affine value
    (so backward products like ``δ Wᵀ`` are not)."""
    if node.op in ("matmul", "conv"):
        a, w = node.args
        if not _is_weight(w):
            return False
        a = a.args[0] if a.op in ("reshape", "slice") else a
        named = user_name(a) is not None or layer_tag(a) is not None  # a hidden value a module named (hₜ)
        return (a.op in ("input", "pool") or named or is_activation(a) or is_affine(a)) and a.op != "transpose"
    if node.op == "map" and len(node.args) >= 2 and node.attrs.body.expr == sum(node.attrs.body.variables) and \
            any(a.op in ("matmul", "conv") and is_affine(a) for a in node.args):
        return True
    if is_residual(node):
        return True
    tag = layer_tag(node)  # a normalization layer's output zₖ = x̂ₖ ⊙ γₖ + βₖ: a layer of its own
    return node.op == "map" and tag is not None and tag[0] == "z" and _reads_gamma(node, 2)


def is_residual(node):
    """A skip connection: the plain sum of two or more layer values (inputs, layers' outputs,
    activations, named values), as ``x + F(x)`` in a residual block; its δ passes to each term."""
    if node.op != "map" or len(node.args) < 2 or node.attrs.body.expr != sum(node.attrs.body.variables):
        return False
    return all(a.op == "input" or _layer_value(a) for a in node.args) and \
        any(a.op != "input" for a in node.args)


def _layer_value(node):
    """A value a layer made: named by the user or a module, affine, or an activation of one."""
    if user_name(node) is not None or (layer_tag(node) is not None and layer_tag(node)[0] in ("z", "a", "p")):
        return True
    if is_affine(node):
        return True
    return is_activation(node) and _layer_value(node.args[0]) and node.args[0].op != "input"


def _reads_gamma(node, depth):
    """Whether a normalization layer's γ is an operand of ``node`` within ``depth`` maps
    (looking through reshapes: a per-channel γ is reshaped to (C, 1, 1))."""
    for a in node.args:
        a = a.args[0] if a.op == "reshape" else a
        tag = layer_tag(a)
        if tag is not None and tag[0] == "gamma":
            return True
        if depth > 1 and a.op == "map" and _reads_gamma(a, depth - 1):
            return True
    return False


def is_activation(node):
    """A one-operand map whose body is a nonlinear function of its operand."""
    if node.op != "map" or len(node.args) != 1:
        return False
    expr = node.attrs.body.expr
    return bool(expr.atoms(sp.Function, sp.Max, sp.Min)) and expr.free_symbols == {node.attrs.body.variables[0]}


class Namer:
    """Resolve display names for the nodes of the graphs under ``outputs``."""

    def __init__(self, outputs, extra=()):
        self.order = topo_order(list(outputs) + list(extra))
        self.names = {}
        self.derived = {}  # node -> Name for nodes made up for formulas (σ(z_L) as ŷ)
        depth = {}
        for n in self.order:
            d = max((depth[a] for a in n.args), default=0)
            depth[n] = d + 1 if is_affine(n) and not (n.op in ("matmul", "conv") and self._has_affine_reader(n)) else d
        self.depth = depth
        layers = {}
        for n in self.order:
            if is_affine(n) and not (n.op in ("matmul", "conv") and self._has_affine_reader(n)):
                layers.setdefault(depth[n], n)
        tagged_total = max((t[2] for t in (layer_tag(n) for n in self.order) if t), default=0)
        self.total = max(len(layers), tagged_total)
        sub = (lambda k: str(k)) if self.total > 1 else (lambda k: "")
        for k, z in layers.items():
            self.names.setdefault(z, Name("z", sub(k)))
        acts = {}
        for n in self.order:
            if is_activation(n) and n.args[0] in self.names and self.names[n.args[0]].base == "z":
                acts.setdefault(depth[n.args[0]], n)
                self.names.setdefault(n, Name("a", sub(depth[n.args[0]])))
        if layers:
            last = max(layers)
            zl = layers[last]
            if last in acts and not acts[last].attrs.body.expr.has(softplus):
                self.names[acts[last]] = Name("y", hat=True)
            elif self._used_as_logits(zl):
                if last in acts:  # softplus(z_L) is the loss's, not a layer's
                    del self.names[acts[last]]
                if self._used_as_logits(zl) == "softmax":
                    return self._tables()
                s = ops.apply(sigmoid(sp.Symbol("u")), {sp.Symbol("u"): zl})
                self.derived[s] = Name("y", hat=True)
            else:
                self.names[zl] = Name("y", hat=True)
        self._tables()

    def _tables(self):
        for n in self.order:  # the user's names and leaves' names win over places
            name = display_name(n)
            if name is None:
                continue
            if user_name(n) is not None or n.is_leaf:
                self.names[n] = name
            elif layer_tag(n) is not None:  # a layer's z_k / a_k where the place gave none
                self.names.setdefault(n, name)

    def _has_affine_reader(self, node):
        return any(r.op == "map" and node in r.args and is_affine(r) for r in self._readers(node))

    def _readers(self, node):
        if not hasattr(self, "_reader_map"):
            self._reader_map = {}
            for n in self.order:
                for a in n.args:
                    self._reader_map.setdefault(a, []).append(n)
        return self._reader_map.get(node, ())

    def _used_as_logits(self, z):
        for r in self._readers(z):
            if r.op == "reduce" and r.attrs.kind == "logsumexp":
                return "softmax"
            if r.op == "map":
                i = r.args.index(z)
                v = r.attrs.body.variables[i]
                for f in r.attrs.body.expr.atoms(sigmoid, softplus):
                    if f.args[0] == v:
                        return "sigmoid"
        return None

    def name(self, node):
        """The display name of ``node`` in this rendering, or None (print its formula)."""
        return self.names.get(node) or self.derived.get(node)

    def reusable(self):
        """Nodes whose values formulas should read by name (for ``simplify(reuse=...)``)."""
        return [n for n in list(self.names) + list(self.derived) if n.op == "map"]
