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

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


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
        # the view's structure from the arena's by inserting fields, not through numba's
        # struct proxies (an alloca, a store per field and a load, for SROA to undo)
        model = context.data_model_manager[signature.return_type]
        field = model.get_field_position
        intp = context.get_value_type(types.intp)
        start = context.cast(builder, args[1], signature.args[1], types.intp)
        stop = context.cast(builder, args[2], signature.args[2], types.intp)
        length = builder.sub(stop, start)
        source = args[0]
        data = builder.gep(builder.extract_value(source, field("data")), [start])
        view = ir.Constant(model.get_value_type(), None)  # null meminfo and parent: no reference
        view = builder.insert_value(view, length, field("nitems"))
        view = builder.insert_value(view, builder.extract_value(source, field("itemsize")), field("itemsize"))
        view = builder.insert_value(view, data, field("data"))
        shape = builder.insert_value(ir.Constant(ir.ArrayType(intp, 1), None), length, 0)
        view = builder.insert_value(view, shape, field("shape"))
        return builder.insert_value(view, builder.extract_value(source, field("strides")), field("strides"))

    return sig, codegen


__all__ = ["arena_view"]
