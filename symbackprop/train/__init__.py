"""Training: ``Trainer`` and its ``History``.

>>> from symbackprop.train import History
>>> History(loss=[1.0, 0.5]).epochs
2
"""

from symbackprop.train.trainer import History, Trainer

__all__ = ["History", "Trainer"]
