"""Textbook formulas of graph nodes: named values by name, everything else inline.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1)); b = sb.param("b", (1,))
>>> y = sb.input("y", (None, 1))
>>> print(text(sb.grad(sb.bce(x @ W + b, y), W)))
xᵀ ((ŷ − y)/N)
  where ŷ = σ(z)
        z = x W + b
"""

from symbackprop.graph.traverse import topo_order
from symbackprop.primitives import definition
from symbackprop.render.namer import Namer
from symbackprop.render.printer import ATOM, UNICODE, Piece
from symbackprop.render.shared import SharedNames

#: formulas longer than this fall back to the SSA listing
MAX_CHARS = 3000

#: seconds of sympy simplification one rendering may spend on bodies it has not seen (the
#: textbook models need under 0.1 s; a deep graph's bodies past the budget print as fused,
#: with the same values, so printing stays interactive)
SIMPLIFY_SECONDS = 0.5

class Renderer:
    """Renders nodes of one graph in one style, naming what ``namer`` names and, through
    ``shared`` (a :class:`SharedNames`, one per set of formulas printed together), the
    long values a formula would otherwise repeat."""

    def __init__(self, namer, style, shared=None):
        self.namer, self.style = namer, style
        self.shared = shared if shared is not None else SharedNames(taken=taken_names(namer))
        self.cache = {}
        self.used = []  # named non-leaf nodes met, in order

    def name(self, node):
        """The name ``node`` is printed by (the namer's, else a shared value's), or None."""
        return self.namer.name(node) or self.shared.name(node)

    def name_piece(self, node, name):
        return Piece(str(name), name.latex, ATOM, node.ndim > 0)

    def piece(self, root, define=True):
        """The Piece of ``root``: its definition when ``define``, else its name if it has one."""
        if not define:
            name = self.name(root)
            if name is not None:
                self._use(root)
                return self.name_piece(root, name)
        self.shared.add([root])
        for n in topo_order([root]):
            if n is not root and (n in self.cache or self.namer.name(n) is not None):
                continue  # done, or printed by its name (its definition is printed apart)
            args = []
            for a in n.args:
                name = self.name(a)
                if name is not None:
                    self._use(a)
                    args.append(self.name_piece(a, name))
                else:
                    args.append(self.cache[a])
            p = self._node(n, args)
            if n is root:
                return p
            self.cache[n] = p
            self.shared.decide(n, p.text)  # its readers, rendered later, then print its name
        raise AssertionError("unreachable")

    def _use(self, node):
        if not node.is_leaf and node not in self.used:
            self.used.append(node)

    def _node(self, n, args):
        return definition(n).render(n, args, self)


def prepare(outputs, simplify=True):
    """(simplified outputs, namer) for rendering ``outputs`` with names."""
    from symbackprop.simplify import simplify as simp
    outputs = list(outputs)
    first = Namer(outputs)
    simple = simp(outputs, budget=SIMPLIFY_SECONDS, reuse=first.reusable()) if simplify else outputs
    return simple, Namer(simple, extra=outputs + first.reusable())


def taken_names(namer):
    """Every name ``namer`` gives (so names of shared values never clash with them)."""
    return list(namer.names.values()) + list(namer.derived.values())


def definitions(renderer, skip=(), only=None):
    """[(node, Piece)] defining every named non-leaf value the renderer used, outermost first.

    ``only(node)`` limits them to some names (and to the values their definitions use)."""
    done, out = set(skip), []
    i = 0
    while i < len(renderer.used):
        node = renderer.used[i]
        i += 1
        if node in done or (only is not None and not only(node)):
            continue
        done.add(node)
        out.append((node, renderer.piece(node, define=True)))
    order = {n: k for k, n in enumerate(topo_order([n for n, _ in out]))}
    out.sort(key=lambda item: -order[item[0]])
    return out


def text(node, simplify=True):
    """``node`` as a Unicode textbook formula, followed by the named values it uses."""
    (simple,), namer = prepare([node], simplify)
    r = Renderer(namer, UNICODE)
    main = r.piece(simple).text
    if len(main) > MAX_CHARS:
        from symbackprop.render.listing import listing
        return listing([simple])
    defs = definitions(r, skip=[simple])
    lines = [main]
    for k, (n, p) in enumerate(defs):
        lines.append(("  where " if k == 0 else "        ") + f"{r.name(n)} = {p.text}")
    return "\n".join(lines)


def latex(node, simplify=True):
    """``node`` as a LaTeX formula: values named in the network (ŷ, z₁, …) by name (see
    ``sb.explain`` for their definitions); shared values named for this formula (u₁, …) are
    defined after it, ``…,\\quad \\mathrm{where}\\ u_{1} = …``."""
    (simple,), namer = prepare([node], simplify)
    r = Renderer(namer, UNICODE)
    main = r.piece(simple).latex
    defs = definitions(r, skip=[simple], only=lambda n: namer.name(n) is None)
    if not defs:
        return main
    return main + r",\quad \mathrm{where}\ " + r",\ ".join(f"{r.name(n).latex} = {p.latex}" for n, p in defs)
