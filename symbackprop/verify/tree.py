"""The claim tree: what both claim languages (sympy syntax and LaTeX) parse into.

Parsing and meaning are separate steps: ``syntax.py`` and ``latex.py`` turn text into these
small immutable nodes, and ``world.py`` gives them a value.  So a LaTeX claim and a
sympy-syntax claim that say the same thing are the same tree, and every later step (the
chain rule, the counterexample search) is written once.

Every node keeps ``col``, the 1-based column of its first character in the source text,
so an error found while evaluating (an unknown function, say) still points at the text.

>>> Binary("*", Name("w", col=1), Name("x", col=3), col=1)
Binary(op='*', left=Name(name='w', col=1), right=Name(name='x', col=3), col=1)
"""

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class Number:
    """An exact number: decimals are kept exact (``0.1`` is 1/10, not a float)."""

    value: Fraction
    col: int = field(default=0, compare=False)
    #: digits written after the decimal point (``-0.20`` has 2), None for integers and
    #: fractions: ``\\approx`` claims exactly that many decimals
    decimals: object = field(default=None, compare=False)


@dataclass(frozen=True)
class Name:
    """A variable: an input, a weight, or a defined quantity."""

    name: str
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    """``func(args)``; ``primes`` counts derivatives: ``sigmoid'(z)`` has primes=1.

    ``dsigmoid(z)`` is parsed as ``Call("sigmoid", primes=1)`` by ``functions.resolve``,
    not here, so both spellings meet in one place.
    """

    func: str
    args: tuple
    primes: int = 0
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Derivative:
    """``d(f, v)``: ∂f/∂v, with ``v`` held independent if it is a defined quantity."""

    f: object
    v: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    """A binary operation.

    ``op`` is one of ``+ - * / ** @``; ``*`` is elementwise with numpy broadcasting
    (so a column times a row is their outer product), ``@`` is the matrix product, and
    ``product`` is LaTeX's ``\\cdot``/juxtaposition: the matrix product when both sides are
    matrices whose shapes allow it, elementwise otherwise.
    """

    op: str
    left: object
    right: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    """``-a`` (op ``neg``) or ``a.T`` / ``a^T`` (op ``T``)."""

    op: str
    arg: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Equation:
    """``lhs == rhs`` (``=`` in LaTeX); ``approx`` marks LaTeX's ``\\approx``."""

    lhs: object
    rhs: object
    approx: bool = False
    col: int = field(default=0, compare=False)
    #: the source text of each side, for the corrected line of ``Verdict.explain``
    texts: tuple = field(default=(), compare=False)


@dataclass(frozen=True)
class Chain:
    """``a = b = c ...``: each neighbouring pair is a link, judged on its own.

    ``parts`` are the expressions, ``approx[k]`` whether link k (between parts k and k+1)
    is ``\\approx``, ``texts[k]`` the source text of part k (for reports).
    """

    parts: tuple
    approx: tuple
    texts: tuple = field(default=(), compare=False)
    col: int = field(default=0, compare=False)

    def links(self):
        """The links as ``Equation`` nodes, with their source text.

        >>> c = Chain((Name("a"), Name("b"), Name("c")), (False, False), ("a", "b", "c"))
        >>> [(show(e), text) for e, text in c.links()]
        [('a == b', 'a = b'), ('b == c', 'b = c')]
        """
        out = []
        for k in range(len(self.parts) - 1):
            rel = "\\approx" if self.approx[k] else "="
            text = f"{self.texts[k]} {rel} {self.texts[k + 1]}" if self.texts else None
            out.append((Equation(self.parts[k], self.parts[k + 1], approx=self.approx[k],
                                 col=getattr(self.parts[k], "col", 0),
                                 texts=self.texts[k:k + 2]), text))
        return out


@dataclass(frozen=True)
class Block:
    """An ``aligned``/``align``/``eqnarray`` block: its chains, one or more rows each."""

    chains: tuple
    col: int = field(default=0, compare=False)

    def links(self):
        return [link for c in self.chains for link in c.links()]


@dataclass(frozen=True)
class Compare:
    """``a > b`` inside an indicator ``[a > b]`` / ``\\mathbb{1}(a \\geq b)``: 1 or 0."""

    op: str
    left: object
    right: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Reduce:
    """``\\sum_{i=1}^{n} body`` (op ``sum``) or ``\\prod`` (op ``prod``) over index ``index``;
    ``lower``/``upper`` are None when the range comes from the shapes (``\\sum_j``)."""

    op: str
    index: str
    lower: object
    upper: object
    body: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class At:
    """``\\left. body \\right|_{x=a}``: ``body`` with the variables set to values."""

    body: object
    point: tuple          # ((Name, value node), ...)
    col: int = field(default=0, compare=False)


def walk(node):
    """Every node of a tree, parents before children.

    >>> [type(n).__name__ for n in walk(Unary("neg", Name("x")))]
    ['Unary', 'Name']
    """
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Call):
            stack.extend(reversed(n.args))
        elif isinstance(n, Derivative):
            stack.extend([n.v, n.f])
        elif isinstance(n, (Binary, Equation)):
            stack.extend([n.right, n.left] if isinstance(n, Binary) else [n.rhs, n.lhs])
        elif isinstance(n, Unary):
            stack.append(n.arg)
        elif isinstance(n, Compare):
            stack.extend([n.right, n.left])
        elif isinstance(n, Reduce):
            stack.extend([x for x in (n.body, n.upper, n.lower) if x is not None])
        elif isinstance(n, At):
            stack.extend([v for _, v in n.point] + [n.body])
        elif isinstance(n, (Chain, Block)):
            stack.extend(reversed(n.parts if isinstance(n, Chain) else n.chains))


def show(node):
    """The tree in sympy syntax, fully parenthesised: for doctests, errors and debugging.

    >>> show(Binary("product", Call("sigmoid", (Name("z"),), primes=1), Name("x")))
    "(sigmoid'(z) · x)"
    """
    if isinstance(node, Number):
        return str(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}{chr(39) * node.primes}({', '.join(show(a) for a in node.args)})"
    if isinstance(node, Derivative):
        return f"d({show(node.f)}, {show(node.v)})"
    if isinstance(node, Binary):
        op = "·" if node.op == "product" else node.op
        return f"({show(node.left)} {op} {show(node.right)})"
    if isinstance(node, Unary):
        return f"-{show(node.arg)}" if node.op == "neg" else f"{show(node.arg)}.T"
    if isinstance(node, Equation):
        return f"{show(node.lhs)} {'~=' if node.approx else '=='} {show(node.rhs)}"
    if isinstance(node, Chain):
        out = show(node.parts[0])
        for a, p in zip(node.approx, node.parts[1:]):
            out += f" {'~=' if a else '=='} {show(p)}"
        return out
    if isinstance(node, Block):
        return " \\\\ ".join(show(c) for c in node.chains)
    if isinstance(node, Compare):
        return f"[{show(node.left)} {node.op} {show(node.right)}]"
    if isinstance(node, Reduce):
        rng = "" if node.lower is None else f", {show(node.lower)}, {show(node.upper)}"
        return f"{node.op}({show(node.body)}, {node.index}{rng})"
    if isinstance(node, At):
        pts = ", ".join(f"{show(k)}={show(v)}" for k, v in node.point)
        return f"at({show(node.body)}, {pts})"
    return repr(node)
