"""The SSA listing of a graph with each named value's name beside its line.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 3))
>>> print(listing([sb.tanh(x @ W)]))
%0 = input x (N, 2) float64
%1 = param W (2, 3) float64
%2 = matmul(%0, %1) (N, 3) float64  # z
%3 = map(%2) (N, 3) float64: tanh(x0)  # ŷ
"""

from symbackprop.graph import text
from symbackprop.graph.traverse import topo_order
from symbackprop.render.namer import Namer


def listing(outputs):
    """``graph.text.listing`` with ``# name`` after every named non-leaf value."""
    outputs = list(outputs)
    namer = Namer(outputs)
    lines = text.listing(outputs).split("\n")
    for i, node in enumerate(topo_order(outputs)):
        name = namer.name(node)
        if name is not None and not node.is_leaf:
            lines[i] += f"  # {name}"
    return "\n".join(lines)
