"""Iterative graph traversal: deep graphs (a 5,000-node chain) never hit the recursion limit.

>>> import symbackprop as sb
>>> x = sb.input("x", (2,))
>>> [n.op for n in topo_order([sb.tanh(x) * 2])]
['input', 'map', 'map']
"""


def topo_order(outputs):
    """Every node the outputs depend on, each after all of its operands.

    >>> topo_order([])
    []
    """
    order, seen = [], set()
    for root in outputs:
        if root in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            for arg in reversed(node.args):
                if arg not in seen:
                    stack.append((arg, False))
    return order


def leaves(outputs):
    """The input, param and const nodes the outputs depend on, in topological order.

    >>> import symbackprop as sb
    >>> sorted(n.name for n in leaves([sb.input("x", (2,)) * sb.param("w", (2,))]))
    ['w', 'x']
    """
    return [n for n in topo_order(outputs) if n.is_leaf]


def consumers(order):
    """node -> number of uses among ``order`` (to spot shared subexpressions).

    >>> import symbackprop as sb
    >>> x = sb.input("x", (2,))
    >>> consumers(topo_order([x * sb.exp(x)]))[x]
    2
    """
    uses = {n: 0 for n in order}
    for n in order:
        for a in n.args:
            uses[a] = uses.get(a, 0) + 1
    return uses
