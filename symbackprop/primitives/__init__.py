"""The primitive ops, one definition each (``base.Primitive``): the only place an op's
meaning, derivative, rendering and lowering are written.

>>> sorted(PRIMITIVES)
['broadcast_to', 'concat', 'const', 'conv', 'conv_input', 'conv_weight', 'input', 'map', 'matmul', 'onehot', 'pad', 'param', 'pool', 'pool_pick', 'reduce', 'reshape', 'scatter_add', 'slice', 'take', 'transpose', 'unpool']
"""

from symbackprop.primitives.base import PRIMITIVES, Primitive, definition, register
# each module registers its primitives
from symbackprop.primitives import leaf, elementwise, layout, matmul, reduction, onehot  # noqa: F401
from symbackprop.primitives import indexing, concat, take, conv, pooling  # noqa: F401

__all__ = ["PRIMITIVES", "Primitive", "definition", "register"]
