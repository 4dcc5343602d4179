"""Rebuilding graphs: substitute nodes, re-run a node's constructor on new operands.

>>> import symbackprop as sb
>>> yhat = sb.input("yhat", (None, 1)); z = sb.input("z", (None, 1))
>>> L = sb.mean(yhat ** 2)
>>> from symbackprop.graph.text import formula
>>> formula(substitute([L], {yhat: sb.tanh(z)})[0])
'sum(tanh(z)**2, axis=(0, 1))/N'
"""

from symbackprop.graph.traverse import topo_order
from symbackprop.primitives import definition


def rebuild(node, args):
    """``node``'s op applied to new operands ``args`` (same attributes, same dtype).

    >>> import symbackprop as sb
    >>> x = sb.input("x", (3,))
    >>> rebuild(sb.exp(x), [sb.input("u", (3,))]).args[0].name
    'u'
    """
    if not args:
        raise AssertionError(f"rebuild: {node.op} has no operands")
    return definition(node).make(args, node.attrs, node.dtype)


def substitute(outputs, mapping):
    """``outputs`` with every node in ``mapping`` replaced by its value (shapes must fit).

    >>> import symbackprop as sb
    >>> x = sb.input("x", (2,))
    >>> substitute([x + 1], {x: sb.param("p", (2,))})[0].args[0].name
    'p'
    """
    new = {}
    for node in topo_order(outputs):
        if node in mapping:
            new[node] = mapping[node]
        elif node.is_leaf:
            new[node] = node
        else:
            args = [new[a] for a in node.args]
            new[node] = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
    return [new[o] for o in outputs]


__all__ = ["rebuild", "substitute"]
