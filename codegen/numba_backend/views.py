"""Slices of the arenas in generated numba code, made without numba's slicing.

A kernel's temporaries are slices of one arena per dtype (``Emitter.arena_lines``).
Written ``arena[lo:hi]``, each slice is lowered by numba's general slicing (a slice
object, clipping of both ends, the new shape and strides, a reference count taken on the
arena) and its IR then optimised: measured on W1's training loop (22 slices), 0.45 s of its
4 s cold compile against aliasing the arena whole.  ``arena_view(arena, lo, hi)`` builds
the view's array structure directly: its data pointer is ``arena``'s plus ``lo``, its
length ``hi - lo``, and it holds no reference (its ``meminfo`` is null, as an array numba
wraps around foreign memory), so no reference counting is emitted either.

The arena must outlive the view and ``0 <= lo <= hi <= arena.size`` must hold: both are
true of generated code, whose arenas are its arguments, sized by the program's layout for
the batch size of the call.  Nothing is checked (the kernels run with ``boundscheck=False``).

>>> import numpy as np
>>> from numba import njit
>>> @njit
... def second_half(a):
...     v = arena_view(a, 2, 4)
...     v[0] = 7.0
...     return v.size
>>> a = np.zeros(4)
>>> second_half(a), a.tolist()
(2, [0.0, 0.0, 7.0, 0.0])
"""

from numba import types
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array


@intrinsic
def arena_view(typingctx, arena, lo, hi):
    """``arena[lo:hi]`` of a 1-D C-contiguous array, as a view holding no reference.

    An intrinsic: typed with the plain integer types (a literal ``lo`` does not make a
    variant) and expanded in place, so it costs no compile of its own."""
    if not (isinstance(arena, types.Array) and arena.ndim == 1 and arena.layout == "C"
            and isinstance(lo, types.Integer) and isinstance(hi, types.Integer)):
        return None
    sig = arena(arena, lo, hi)

    def codegen(context, builder, signature, args):
        source = context.make_array(signature.args[0])(context, builder, args[0])
        start = context.cast(builder, args[1], signature.args[1], types.intp)
        stop = context.cast(builder, args[2], signature.args[2], types.intp)
        out = context.make_array(signature.return_type)(context, builder)
        populate_array(out, data=builder.gep(source.data, [start]), shape=[builder.sub(stop, start)],
                       strides=[source.itemsize], itemsize=source.itemsize, meminfo=None)
        return out._getvalue()

    return sig, codegen


__all__ = ["arena_view"]
