"""Buffer planning: temporaries share memory slots when their lifetimes do not overlap.

Sizes are linear in the batch size (a·N + b), so a slot fits a buffer for every N when
both coefficients are at least the buffer's.  A reshape is a view of its source: it gets
no slot and keeps its source alive.

>>> import sympy as sp
>>> from symbackprop.graph.scalar import N
>>> plan_slots([("a", 4 * N), ("b", 4 * N), ("c", 2 * N)], {"a": 1, "b": 2, "c": 3}, {})
({'a': 0, 'b': 1, 'c': 0}, [4*N, 4*N])
"""

import heapq
from functools import lru_cache

import sympy as sp

from symbackprop.graph.scalar import N


def _coeffs(size):
    return _linear(sp.sympify(size))


@lru_cache(maxsize=4096)
def _linear(size):
    """(a, b) of a size a·N + b, or None; cached: a program has few distinct sizes, and the
    first-fit search asks about each pair of slot and buffer (expanding is the cost)."""
    size = sp.expand(size)
    a, b = size.coeff(N, 1), size.coeff(N, 0)
    if sp.expand(a * N + b - size) != 0:
        return None  # not linear in N: never shared
    return a, b


def plan_slots(buffers, last_use, aliases, skip=()):
    """Assign slots to ``buffers`` [(name, size)], the outputs of the steps in order.

    ``last_use[name]`` is the index of the last step reading the buffer (outputs: past the
    end); ``aliases`` maps a view's name to the name it views (views get no slot);
    names in ``skip`` take no slot either (another arena's buffers).  Returns ({name: slot},
    [slot size]).
    """
    def root(name):
        while name in aliases:
            name = aliases[name]
        return name

    end = {}
    for name, _ in buffers:
        end[name] = last_use.get(name, -1)
    for view, _ in aliases.items():
        r = root(view)
        end[r] = max(end.get(r, -1), last_use.get(view, -1))
    slots, sizes, free = {}, [], []
    live = []    # heap of (last reader, order, name): a deep chain keeps thousands live
    coeffs = []  # per slot: (a, b) of its size a·N + b, or None
    for step, (name, size) in enumerate(buffers):
        # free the slots of buffers whose last reader came before this step
        while live and live[0][0] < step:
            free.append(slots[heapq.heappop(live)[2]])
        if name in aliases or name in skip:
            continue
        need = _coeffs(size)
        choice = None if need is None else \
            next((s for s in free if coeffs[s] is not None and coeffs[s][0] >= need[0] and coeffs[s][1] >= need[1]),
                 None)
        if choice is None:
            sizes.append(sp.sympify(size))
            coeffs.append(need)
            choice = len(sizes) - 1
        else:
            free.remove(choice)
        slots[name] = choice
        heapq.heappush(live, (end[name], step, name))
    return slots, sizes
