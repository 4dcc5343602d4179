"""The primitive ops, one definition each (``base.Primitive``): the only place an op's
meaning, derivative, rendering and lowering are written.

>>> sorted(PRIMITIVES)
['broadcast_to', 'const', 'input', 'map', 'matmul', 'onehot', 'param', 'reduce', 'reshape', 'transpose']
"""

from symbackprop.primitives.base import PRIMITIVES, Primitive, definition, register
from symbackprop.primitives import leaf, elementwise, layout, matmul, reduction, onehot  # noqa: F401 (registers)

__all__ = ["PRIMITIVES", "Primitive", "definition", "register"]
