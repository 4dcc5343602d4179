"""The direct evaluator: runs a graph node by node with numpy, no lowering.

It is small enough to be obviously right, which is what makes it the oracle every backend
is tested against (DESIGN.md, "Oracles").  It checks nothing a compiled function checks:
give it arrays of the right shapes.

>>> import numpy as np, symbackprop as sb
>>> x = sb.input("x", (None, 2)); w = sb.param("w", (2,))
>>> evaluate([sb.sum(x @ w)], {"x": np.ones((3, 2)), "w": np.array([1.0, 2.0])})[0]
array(9.)
"""

import numpy as np

from symbackprop.graph.scalar import N
from symbackprop.graph.traverse import topo_order
from symbackprop.primitives import definition
from symbackprop.primitives.elementwise import body_function  # noqa: F401 (re-exported)


def batch_size(nodes, feeds):
    """The batch size N implied by the fed arrays (1 when nothing has a batch axis)."""
    for node in nodes:
        if node.op == "input" and N in node.shape and node.name in feeds:
            return int(np.shape(feeds[node.name])[node.shape.index(N)])
    return 1


def evaluate(outputs, feeds):
    """Values of ``outputs`` given ``feeds`` ({input or param name: array}): each node by its
    primitive's numpy definition (``Primitive.evaluate``).

    >>> import symbackprop as sb
    >>> evaluate([sb.exp(sb.input("t", ()))], {"t": np.array(0.0)})
    [array(1.)]
    """
    order = topo_order(outputs)
    n = batch_size(order, feeds)
    values = {}
    with np.errstate(all="ignore"):
        for node in order:
            if node.op in ("input", "param"):
                values[node] = np.asarray(feeds[node.name])
            else:
                values[node] = definition(node).evaluate(node, [values[a] for a in node.args], n)
    return [values[o] for o in outputs]
