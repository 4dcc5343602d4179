"""Textbook rendering of graphs: Unicode formulas, LaTeX, named SSA listings, explanations.

``str(expr)`` and ``print(expr)`` use :func:`text`; ``expr.latex()`` uses :func:`latex`;
``expr.listing()`` uses :func:`listing`.  Names come from ``symbackprop.render.names``;
``sb.explain`` is ``symbackprop.render.explain.explain`` and ``sb.expand`` is
``symbackprop.render.expand.expand``.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1))
>>> print(text(sb.tanh(x @ W)))
tanh(z)
  where z = x W
"""

from symbackprop.render.formula import latex, text
from symbackprop.render.listing import listing
from symbackprop.render.names import name

__all__ = ["latex", "listing", "name", "text"]
