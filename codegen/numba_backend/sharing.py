"""Steps of one structure as one ``@njit`` function of the generated module, called with
each step's buffers.

numba compiles a generated function as a whole: a deep network's training step written
inline is every layer's loops typed, lowered and optimised afresh.  Here a step whose
structure (``codegen.structure.step_key``: its fields with buffer names replaced by
argument positions, each argument's shape, dtype and how a view reads it, and the
kernel's float dtype) occurs at least ``MIN_SHARED`` times in a program becomes one
function ``shared_<k>(p0, p1, ..., n, nf)`` — its outputs, then what it reads — defined
before the driver; the driver calls it once per step.  Steps whose structure occurs once
stay inline in the driver: W1's small training step keeps its loops in one function.
Measured on W1 (2-16-16-1, float64): cold compile 4.4 s with this rule, 4.75 s all
inline, 5.8 s with every step a function of its own; its step time is unchanged (25.9 µs
against 25.6 µs all inline, float32 14.2 against 14.1).  An update's
``check`` element is passed as a one-element slice, so the updates of every param of one
shape share a function.

Called functions are kept out of line in the driver (``noinline.py``): otherwise LLVM
inlines them again and re-optimises every layer's code in the driver.

>>> import sympy as sp
>>> from codegen.program import Program, Buffer, Map
>>> from codegen.numba_backend.emit import Emitter
>>> x = sp.Symbol("x0", real=True)
>>> b = {k: Buffer(k, (3,), "float64", "input" if k == "a" else "temp") for k in ("a", "t0", "t1")}
>>> p = Program(b, (Map("t0", ("a",), sp.Lambda(x, 2 * x)), Map("t1", ("t0",), sp.Lambda(x, 2 * x))),
...             ("a",), {}, ("t1",), slots={"t0": ("float64", 0), "t1": ("float64", 1)},
...             slot_sizes={"float64": (3, 3)})
>>> plan = SharedSteps(Emitter(p))
>>> print("\\n".join(plan.step_lines()))
# t0 = map(a): 2*x0
shared_0(t0, a0, n, nf)
# t1 = map(t0): 2*x0
shared_0(t1, t0, n, nf)
"""

import re
from collections import Counter
from dataclasses import replace

from codegen.numba_backend import noinline
from codegen.program import Map, Reshape, Update, View, comment
from codegen.structure import canonical_map, step_key

#: a structure occurring this many times or more in a program is one shared function
MIN_SHARED = 2
#: prefix of the shared functions' names (``noinline`` recognises them by it)
NAME = noinline.FUNCTION_PREFIXES[0]
#: a program of more steps than this runs as parts of at most this many steps each
PART_STEPS = 32
#: prefix of the parts' names
PART = noinline.FUNCTION_PREFIXES[1]
#: the buffer identifiers of generated code (``Emitter.var``): arguments, constants, temporaries
_IDENT = re.compile(r"\b[aktv]\d+\b")


class SharedSteps:
    """The plan of one program's steps: which are calls of shared functions, which inline.

    ``functions(jit_options)`` is the source of the shared functions; ``step_lines()`` the
    driver's lines for every step (calls and inline code), as ``Emitter.step_lines``.
    """

    def __init__(self, em, min_shared=None):
        self.em = em
        min_shared = MIN_SHARED if min_shared is None else min_shared
        planned = []  # (index, step, canonical step, argument names, key)
        for i, step in enumerate(em.p.steps):
            if isinstance(step, (Reshape, View)):  # names for memory other steps write
                continue
            shared = canonical_map(step, self._describe) if isinstance(step, Map) else step
            if isinstance(shared, Update):  # its check element is passed as a one-element slice
                shared = replace(shared, index=0)
            outs = list(step.writes()) if hasattr(step, "writes") else [step.out]
            args = tuple(dict.fromkeys(outs + [r for r in shared.reads()]))
            # an update's loop runs over ``p.size``: its code is the same for params of any shape
            describe = self._dtype_only if isinstance(step, Update) else self._describe
            key = (em.dtype, step_key((shared,), args, describe))
            planned.append((i, step, shared, args, key))
        counts = Counter(key for *_, key in planned)
        self.names = {}  # key -> function name, in order of first use
        self.first = {}  # key -> (canonical step, arguments, the step it came from)
        self.users = {}  # key -> the outputs of the steps calling it
        self.planned = planned
        for i, step, shared, args, key in planned:
            if counts[key] < min_shared:
                continue
            if key not in self.names:
                self.names[key] = f"{NAME}{len(self.names)}"
                self.first[key] = (shared, args, step)
            self.users.setdefault(key, []).append(step.out)
        if self.names:
            noinline.install()

    def _describe(self, name):
        """What a function's code sees of a buffer: shape, dtype, how a view reads it."""
        view = self.em.views.get(name)
        return (str(tuple(self.em.shape(name))), str(self.em.p.buffers[name].dtype),
                "" if view is None else str((tuple(self.em.shape(name)), view.offset, view.strides)))

    def _dtype_only(self, name):
        return str(self.em.p.buffers[name].dtype)

    # ---- the shared functions -----------------------------------------------------------
    def functions(self, jit_options):
        """Source of the shared functions (empty when nothing is shared)."""
        out = []
        for key, name in self.names.items():
            shared, args, step = self.first[key]
            params = [f"p{k}" for k in range(len(args))]
            users = self.users[key]
            out.append(f"# {comment(step.describe())}")
            out.append(f"#   and {len(users) - 1} more steps of this structure ({comment(', '.join(users[1:]))}); "
                       f"here {comment(', '.join(f'{p}={a}' for p, a in zip(params, args)))}")
            out.append(f"@njit({jit_options})")
            out.append(f"def {name}({', '.join(params + ['n', 'nf'])}):")
            body = self._with_vars(dict(zip(args, params)), lambda: self._lines(shared, "_s_"))
            out.extend("    " + line for line in body)
            out.append("")
            out.append("")
        return "\n".join(out) + ("\n" if out else "")

    def _with_vars(self, mapping, make):
        """``make()`` with the emitter naming the buffers of ``mapping`` by its values."""
        saved = self.em.vars
        self.em.vars = dict(saved, **mapping)
        try:
            return make()
        finally:
            self.em.vars = saved

    def _lines(self, step, prefix):
        method = getattr(self.em, "_" + type(step).__name__.lower())
        return method(step, prefix)

    # ---- parts of a long program -----------------------------------------------------------
    def split(self, jit_options, arenas, fixed=("n", "nf")):
        """(source of the part functions, the driver's lines) for the arena slices and the
        steps of the program.  numba optimises a function as a whole, at a cost that grows
        faster than its length (measured on a depth-24 MLP: 6.3 s of LLVM function passes
        on the one driver): a program of more than ``PART_STEPS`` steps runs as functions
        ``part_<k>`` of at most that many steps each, called in order by the driver, each
        slicing the temporaries it uses from the arenas.  Shorter programs are written
        inline.  The driver's lines begin with the arena slices the text after them needs:
        ``driver_arenas(text)`` gives them."""
        steps = self.step_lines()
        arena = self._arena_lines()
        if len(self.planned) <= PART_STEPS:
            return "", list(arena.values()) + steps
        noinline.install()
        chunks, start = [], 0
        heads = [k for k, line in enumerate(steps) if line.startswith("# ")]
        for j in range(0, len(heads), PART_STEPS):
            end = heads[j + PART_STEPS] if j + PART_STEPS < len(heads) else len(steps)
            chunks.append(steps[start:end])
            start = end
        source, calls = [], []
        for k, chunk in enumerate(chunks):
            code = "\n".join(line for line in chunk if not line.lstrip().startswith("#"))
            used = list(dict.fromkeys(_IDENT.findall(code)))
            params = [v for v in used if v not in arena] + list(arenas) + list(fixed)
            name = f"{PART}{k}"
            first = next(line for line in chunk if line.startswith("# "))
            source += [f"# steps {first[2:42]}… ({sum(line.startswith('# ') for line in chunk)} steps)",
                       f"@njit({jit_options})", f"def {name}({', '.join(params)}):"]
            source += ["    " + arena[v] for v in used if v in arena]
            source += ["    " + line for line in chunk] + ["    return 0", "", ""]
            calls.append(f"{name}({', '.join(params)})")
        self._arena = arena
        return "\n".join(source) + "\n", calls

    def driver_arenas(self, text):
        """The arena slices of the temporaries ``text`` (the driver's own lines) names."""
        arena = getattr(self, "_arena", None) or {}
        used = set(_IDENT.findall(text))
        return [line for v, line in arena.items() if v in used]

    def _arena_lines(self):
        """{identifier: its arena slice line} of the program's temporaries."""
        return {line.split(" = ", 1)[0]: line for line in self.em.arena_lines()}

    # ---- the driver ------------------------------------------------------------------------
    def step_lines(self):
        """The driver's lines for every step: a comment, then a call or the inline code."""
        lines = []
        for i, step, shared, args, key in self.planned:
            origin = self.em.p.origins.get(step.out)
            text = step.describe() + (f"    <- {origin}" if origin and isinstance(step, Map) else "")
            lines.append(f"# {comment(text)}")
            if key not in self.names:
                lines.extend(self._lines(step, f"_s{i}_"))
                continue
            values = []
            for a in args:
                v = self.em.var(a)
                if isinstance(step, Update) and a == step.check:  # the function writes element 0
                    v = f"arena_view({v}, {step.index}, {step.index + 1})"
                values.append(v)
            lines.append(f"{self.names[key]}({', '.join(values + ['n', 'nf'])})")
        return lines


__all__ = ["MIN_SHARED", "SharedSteps"]
