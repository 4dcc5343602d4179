"""Textbook rendering of graphs: Unicode formulas, LaTeX, named SSA listings, explanations.

``str(expr)`` and ``print(expr)`` use :func:`text`; ``expr.latex()`` uses :func:`latex`;
``expr.listing()`` uses :func:`listing`.  Names come from ``symbackprop.render.names``.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); W = sb.param("W", (2, 1))
>>> print(text(sb.tanh(x @ W)))
tanh(z)
  where z = x W
"""

from symbackprop.render.explain import Explanation, explain
from symbackprop.render.formula import latex, text
from symbackprop.render.listing import listing
from symbackprop.render.names import name

__all__ = ["Explanation", "explain", "latex", "listing", "name", "text"]
