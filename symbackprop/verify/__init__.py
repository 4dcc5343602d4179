"""Verify textbook derivations: ``verify(claim, define=...)`` → ``Verdict``.

One module per job: ``syntax``/``latex``/``parse`` (claim languages), ``world`` (the
definitions and the value of an expression), ``chain`` (∂ through named quantities),
``expand`` (small concrete sizes for matrices), ``numeric`` (exactness and
counterexamples), ``reason`` (what kind of mistake), ``verdict`` (the result),
``files`` (derivation files).

>>> verify("d(sigmoid(z), z) == sigmoid(z)*(1 - sigmoid(z))").holds
True
"""

from symbackprop.verify.check import verify
from symbackprop.verify.verdict import Verdict

__all__ = ["verify", "Verdict"]
