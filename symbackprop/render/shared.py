"""Names for shared values, so a formula never repeats a big sub-formula.

A graph shares nodes, a printed formula is a tree: a value read twice is printed twice, and
a chain of k such values prints 2ᵏ copies (``v = sin(v) + v`` fourteen times gave a
two-gigabyte LaTeX string).  The SSA listing names every node once; formulas name only what
needs it: a value that the printed formulas would show more than once (two readers, or a
body that mentions its operand twice) and whose own text is longer than :data:`MIN_CHARS`
is printed by a fresh name ``u₁, u₂, …`` and defined once, in a ``where`` line (text) or
its own step (``sb.explain``).  Each named value is then printed once, and every value it
would have repeated is shorter than ``MIN_CHARS``, so the output is linear in the graph.

Textbook models rarely meet the rule (their shared values ``ŷ``, ``aₖ``, ``δₖ`` are named
already), so their formulas print as before.

>>> import symbackprop as sb
>>> x = sb.input("x", (3,)); v = x
>>> for _ in range(5): v = sb.sin(v) + v
>>> print(v)
u₂ + sin(u₂)
  where u₂ = u₁ + sin(u₁) + sin(u₁ + sin(u₁))
        u₁ = x + sin(x) + sin(x + sin(x))
"""

import sympy as sp

from symbackprop.graph.traverse import topo_order
from symbackprop.render.names import Name

#: a shared value whose formula is longer than this (in characters of text) gets a name
MIN_CHARS = 24


def occurrences(reader, node):
    """How many times ``reader``'s formula prints its operand ``node``.

    >>> import symbackprop as sb
    >>> t = sb.input("t", (2,))
    >>> (fused,) = sb.simplify([sb.sin(t) + t])  # one map, body x0 + sin(x0)
    >>> occurrences(fused, t), occurrences(sb.sin(t), t)
    (2, 1)
    """
    if reader.op != "map":
        return sum(1 for a in reader.args if a is node)
    body = reader.attrs.body
    # tree occurrences of the variable in the body; conditions of a Piecewise count too,
    # because they are printed
    return sum(_count(body.expr, v) for a, v in zip(reader.args, body.variables) if a is node)


def _count(expr, symbol):
    """Tree occurrences of ``symbol`` in ``expr`` (iterative: no recursion limit)."""
    count, stack = 0, [expr]
    while stack:
        e = stack.pop()
        if e == symbol:
            count += 1
        elif e.args:
            stack.extend(e.args)
    return count


class SharedNames:
    """Decides which shared values of the graphs being rendered get a name, and names them.

    ``roots`` are every node the renderer will print (so a value shared between two
    formulas of one explanation is named once); ``taken`` are names already in use.
    """

    def __init__(self, roots=(), taken=()):
        self.uses = {}
        self.names = {}  # node -> Name, in the order they were made
        self.taken = {str(n) for n in taken}
        self._counted = set()
        self.add(roots)

    def add(self, roots):
        """Count the uses inside ``roots`` not counted yet (renderers call it per formula)."""
        for n in topo_order(list(roots)):
            if n in self._counted:
                continue
            self._counted.add(n)
            for a in set(n.args):
                self.uses[a] = self.uses.get(a, 0) + occurrences(n, a)

    def name(self, node):
        """The name given to ``node``, or None."""
        return self.names.get(node)

    def decide(self, node, text):
        """Name ``node`` (whose formula reads ``text``) if it is shared and long; returns the
        name or None."""
        if node in self.names:
            return self.names[node]
        if node.is_leaf or self.uses.get(node, 0) < 2 or len(text) <= MIN_CHARS:
            return None
        k = len(self.names) + 1
        while str(Name("u", str(k))) in self.taken:
            k += 1
        name = Name("u", str(k))
        self.taken.add(str(name))
        self.names[node] = name
        return name
