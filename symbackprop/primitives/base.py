"""What a primitive op knows, in one class: the base every definition fills in.

A graph node is ``Expr(op, args, attrs, shape, dtype)``; ``definition(node)`` is the
``Primitive`` registered for its ``op``, holding everything about the op that does not depend
on a backend:

- ``Attrs``: its named attributes, a ``NamedTuple`` (part of the node's identity);
- ``build(...)``: the user-facing constructor, which validates its arguments (typed errors)
  and applies the shape and dtype rule; ``make(args, attrs, dtype)`` rebuilds a node of this
  op on new operands (what every graph pass uses);
- ``evaluate``: its numpy semantics, the oracle (independent of every backend);
- ``vjp``: its vector-Jacobian rule;
- ``formula`` (plain infix), ``detail`` (the listing line), ``render`` (textbook text and
  LaTeX) and ``expand`` (per-element sympy expressions);
- ``rewrite``: local simplifications of a node whose operands were already rewritten;
- ``lower``: the kernel-program step computing it (``codegen.program``).

Graph passes go through these methods and never list ops by name; a new primitive is one
module registering one subclass (plus a step kind and one method per backend when no
existing step can compute it).

>>> import symbackprop as sb
>>> definition(sb.input("x", (2, 3)).T).Attrs._fields
('perm',)
"""

from typing import NamedTuple

from symbackprop.errors import CompileError, DerivationError

#: op name -> its Primitive (one instance per op)
PRIMITIVES = {}


class NoAttrs(NamedTuple):
    """The attributes of an op that has none."""


def register(cls):
    """Class decorator: instantiate a Primitive subclass and register it under its ``op``."""
    if cls.op in PRIMITIVES:
        raise AssertionError(f"primitive {cls.op!r} is defined twice")
    PRIMITIVES[cls.op] = cls()
    return cls


def definition(node_or_op):
    """The Primitive of a node (or of an op name).

    >>> definition("matmul").op
    'matmul'
    """
    op = node_or_op if isinstance(node_or_op, str) else node_or_op.op
    return PRIMITIVES[op]


class Primitive:
    """Base of the primitive definitions; see the module doc for what each method is."""

    op = None
    Attrs = NoAttrs
    #: a leaf (no operands): input, param, const
    leaf = False
    #: a relayout of its one operand whose values pass through unchanged (reshape, broadcast):
    #: fusion, naming and rendering may look through it
    layout = False

    # ---- graph ------------------------------------------------------------------------------
    def make(self, args, attrs, dtype=None):
        """This op on ``args`` with ``attrs`` (validated): what rebuilds and substitutions call."""
        raise NotImplementedError(f"{self.op}: make")

    # ---- the oracle -------------------------------------------------------------------------
    def evaluate(self, node, args, n):
        """The node's value (numpy) from its operands' values and the batch size ``n``."""
        raise NotImplementedError(f"{self.op}: evaluate")

    # ---- autodiff ---------------------------------------------------------------------------
    def vjp(self, node, g):
        """Cotangents of the operands (graph nodes, ``None`` where no gradient flows) given the
        cotangent ``g`` of the node."""
        raise DerivationError(f"{self.op}: no gradient rule")

    # ---- text -------------------------------------------------------------------------------
    def formula(self, node, texts):
        """An unambiguous infix formula from the operands' formulas (for comments, errors)."""
        return f"{self.op}({', '.join(texts)})"

    def detail(self, node):
        """What the SSA listing shows after the node's shape and dtype (its attributes)."""
        return ", ".join(f"{k}={v}" for k, v in node.attrs._asdict().items())

    def render(self, node, args, renderer):
        """The textbook Piece (Unicode text, LaTeX, precedence) from the operands' Pieces."""
        from symbackprop.render.printer import ATOM, Piece
        inner = ", ".join(a.text for a in args)
        return Piece(f"{self.op}({inner})", r"\mathrm{%s}\left(%s\right)" % (self.op.replace("_", r"\_"),
                                                                             ", ".join(a.latex for a in args)),
                     ATOM, node.ndim > 0)

    def expand(self, node, args, n):
        """The node as a numpy object array of sympy scalars from its operands' arrays."""
        raise DerivationError(f"expand: {self.op} has no scalar expansion")

    # ---- simplification ---------------------------------------------------------------------
    def rewrite(self, node, args):
        """A simpler node equal to ``node`` rebuilt on ``args`` (already rewritten), or None."""
        return None

    # ---- lowering ---------------------------------------------------------------------------
    def lower(self, node, out, lo):
        """The kernel-program step writing the node's value into buffer ``out``; ``lo`` gives
        operand buffer names (``lo.name(arg)``) and the lowering's decisions.  None when the
        node needs no step of its own (folded into its readers)."""
        raise CompileError(f"{self.op}: cannot be compiled yet")
