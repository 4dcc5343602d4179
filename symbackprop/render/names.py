"""Names of graph nodes, kept in side tables (nodes are interned and immutable, so a name is
never part of a node's identity).

Three sources, in order of precedence:

1. the user: ``sb.name(node, "h")`` or ``node.named("h")``;
2. the layer that built the node (``sb.nn``): ``z₁``, ``a₁``, ``W₁``, ``b₁``, and ``ŷ`` for
   a network's output (see :func:`model_scope`, :func:`tag`);
3. leaves' own names, prettified: ``W1`` → ``W₁``, ``yhat`` → ``ŷ``, ``alpha`` → ``α``.

Intermediate values nobody named get names from their place in the network
(``symbackprop.render.namer``).

>>> import symbackprop as sb
>>> h = name(sb.tanh(sb.input("x", (None, 2))), "h_1")
>>> str(display_name(h)), display_name(h).latex
('h₁', 'h_{1}')
>>> str(pretty("yhat")), str(pretty("W2")), str(pretty("0.weight"))
('ŷ', 'W₂', '0.weight')
"""

import contextlib
import re
import unicodedata
import weakref
from dataclasses import dataclass

from symbackprop.graph.node import Expr

_USER = weakref.WeakKeyDictionary()
_LAYER = weakref.WeakKeyDictionary()
_SCOPES = []

_SUB = str.maketrans("0123456789+-()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
         "lambda": "λ", "mu": "μ", "sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω", "rho": "ρ", "xi": "ξ"}


@dataclass(frozen=True)
class Name:
    """A display name: a base letter or word, an optional subscript, an optional hat."""
    base: str
    sub: str = ""
    hat: bool = False
    latex_base: str = ""

    def __str__(self):
        base = unicodedata.normalize("NFC", self.base + ("\u0302" if self.hat else ""))
        if not self.sub:
            return base
        sub = self.sub.translate(_SUB)
        return base + (sub if all(c in "₀₁₂₃₄₅₆₇₈₉₊₋₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ" for c in sub) else "_" + self.sub)

    @property
    def latex(self):
        base = self.latex_base or _latex_word(self.base)
        if self.hat:
            base = r"\hat{%s}" % base
        return base + ("_{%s}" % self.sub if self.sub else "")


#: layer roles beyond z, a, W, b: the values normalization and dropout layers name
ROLES = {"xhat": Name("x", hat=True), "mu": Name("μ", latex_base=r"\mu"), "var": Name("σ²", latex_base=r"\sigma^{2}"),
         "gamma": Name("γ", latex_base=r"\gamma"), "beta": Name("β", latex_base=r"\beta"),
         "dropped": Name("ã", latex_base=r"\tilde{a}")}


def _latex_word(word):
    for g, letter in GREEK.items():
        if letter == word:
            return "\\" + g
    if len(word) == 1:
        return word
    return r"\mathrm{%s}" % word.replace("_", r"\_")


def pretty(text):
    """A leaf's or a user's name as a textbook writes it (unknown forms are kept as given)."""
    m = re.fullmatch(r"([A-Za-z]+?)(_?hat)?_?(\d*)", text)
    if not m or not m.group(1):
        return Name(text)
    base, hat, sub = m.group(1), bool(m.group(2)), m.group(3)
    if base.endswith("hat") and len(base) > 3 and not hat:
        base, hat = base[:-3], True
    base = GREEK.get(base, base)
    return Name(base, sub, hat)


def name(node, text):
    """Give ``node`` the display name ``text`` in formulas, listings and explanations; returns
    the node, so ``h = sb.name(sb.tanh(x @ W), "h")`` reads naturally.

    >>> import symbackprop as sb
    >>> sb.name(sb.input("x", (2,)) * 2, "u").op
    'map'
    """
    if not isinstance(node, Expr):
        raise TypeError(f"name: expected a graph node, got {type(node).__name__}")
    if not isinstance(text, str) or not text:
        raise ValueError(f"name: a name must be a non-empty string, got {text!r}")
    _USER[node] = text
    return node


def user_name(node):
    """The name the user gave ``node``, or None."""
    return _USER.get(node)


class _Model:
    """One network being built: counts its layers so names know whether to number them."""

    def __init__(self):
        self.layers = 0


@contextlib.contextmanager
def model_scope():
    """Layers built inside share one numbering (``z₁, z₂, …``); nested scopes join the outer."""
    if _SCOPES:
        yield _SCOPES[-1]
        return
    model = _Model()
    _SCOPES.append(model)
    try:
        yield model
    finally:
        _SCOPES.pop()


def new_layer():
    """Start a new (affine) layer in the current model; returns (model, number)."""
    model = _SCOPES[-1] if _SCOPES else _Model()
    model.layers += 1
    return model, model.layers


def current_layer():
    """(model, number) of the latest layer of the model being built, or None."""
    if _SCOPES and _SCOPES[-1].layers:
        return _SCOPES[-1], _SCOPES[-1].layers
    return None


def tag(node, role, layer):
    """Record that ``node`` is the ``role`` (``z``, ``a``, ``W``, ``b``, ``output``) of ``layer``
    (a pair from :func:`new_layer`); the user's names still win."""
    if layer is not None:
        _LAYER[node] = (role, layer[0], layer[1])
    return node


def layer_tag(node):
    """(role, number, layers in the model) or None."""
    t = _LAYER.get(node)
    return None if t is None else (t[0], t[2], t[1].layers)


def display_name(node):
    """The name formulas use for ``node`` from the tables and leaf names (no context)."""
    text = _USER.get(node)
    if text is not None:
        return pretty(text)
    t = layer_tag(node)
    if t is not None:
        role, k, total = t
        if role == "output":
            return Name("y", hat=True)
        sub = str(k) if total > 1 else ""
        if role in ROLES:  # a normalization layer's values: x̂ₖ, μₖ, σ²ₖ, γₖ, βₖ
            base = ROLES[role]
            return Name(base.base, sub, base.hat, base.latex_base)
        return Name(role, sub)
    if node.op in ("input", "param"):
        return pretty(node.name)
    return None


def named_nodes():
    """Every node the user or a layer named that is still alive."""
    return list(_USER.keys()) + [n for n in _LAYER.keys() if n not in _USER]
