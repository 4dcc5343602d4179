"""Plain text views of a graph: an infix formula and an SSA listing (for debugging).

The textbook rendering (``∂L/∂W₂``, ``δ₂``, LaTeX) lives in ``symbackprop.render``; this
module only has to be unambiguous.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1))
>>> formula(sb.tanh(x @ W))
'tanh(x @ W)'
"""

from symbackprop.graph.shape import fmt
from symbackprop.graph.traverse import consumers, topo_order
from symbackprop.primitives import definition

_MAX_CHARS = 4000


def _text(node, texts):
    return definition(node).formula(node, texts)


def atomic(text):
    """True for a name, a number, or one call ``f(...)`` whose first paren closes last."""
    if text.replace("_", "").replace(".", "").isalnum():
        return True
    head, paren, _ = text.partition("(")
    if not (paren and head.replace("_", "").isalnum() and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch == ")" and i != len(text) - 1:
            return False
    return True


def formula(node):
    """The node as one infix formula; falls back to the listing when it would be huge.

    >>> import symbackprop as sb
    >>> formula(sb.mean(sb.input("y", (None,)) ** 2))
    'sum(y**2, axis=0)/N'
    """
    order = topo_order([node])
    texts = {}
    for n in order:
        texts[n] = _text(n, [texts[a] for a in n.args])
        if len(texts[n]) > _MAX_CHARS:
            return listing([node])
    return texts[node]


def listing(outputs):
    """An SSA listing: ``%i = op(operands) shape dtype: detail`` one node a line.

    >>> import symbackprop as sb
    >>> print(listing([sb.sum(sb.param("w", (3,)))]))
    %0 = param w (3,) float64
    %1 = reduce(%0) () float64: sum axes=(0,)
    """
    order = topo_order(outputs)
    ids = {n: i for i, n in enumerate(order)}
    uses = consumers(order)
    lines = []
    for n in order:
        head = f"%{ids[n]} = "
        detail = definition(n).detail(n)
        if n.is_leaf:
            lines.append(f"{head}{n.op} {detail} {fmt(n.shape)} {n.dtype}")
            continue
        operands = ", ".join(f"%{ids[a]}" for a in n.args)
        detail = f": {detail}" if detail else ""
        shared = f"  # used {uses[n]}×" if uses[n] > 1 else ""
        lines.append(f"{head}{n.op}({operands}) {fmt(n.shape)} {n.dtype}{detail}{shared}")
    return "\n".join(lines)


def short_formulas(order, limit=72):
    """{node: formula} for every node of ``order``, each cut to ``limit`` characters with
    operands longer than that shown as ``…`` (linear time, for comments in generated code).

    >>> import symbackprop as sb
    >>> x = sb.input("x", (3,))
    >>> e = sb.exp(x)
    >>> short_formulas([x, e])[e]
    'exp(x)'
    """
    texts = {}
    for n in order:
        if n.is_leaf:
            texts[n] = _text(n, [])
            continue
        text = _text(n, [t if len(t) <= limit // 2 else "…" for t in (texts[a] for a in n.args)])
        texts[n] = text if len(text) <= limit else text[:limit - 1] + "…"
    return texts
