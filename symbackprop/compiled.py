"""``sb.compile``: graph outputs -> a callable taking numpy arrays by name.

The callable checks every array against the graph (presence, shape, dtype, one batch size)
and names the offender, then runs the backend's translation of the lowered program.

>>> import numpy as np, symbackprop as sb
>>> x = sb.input("x", (None, 2)); w = sb.param("w", (2,))
>>> f = sb.compile([sb.sum(x @ w)], backend="numpy")
>>> f(x=np.ones((4, 2)), w=np.array([0.5, 0.25]))
[array(3.)]
>>> f(x=np.ones((4, 3)), w=np.zeros(2))
Traceback (most recent call last):
...
symbackprop.errors.ShapeError: input x: expected shape (N, 2), got (4, 3)
"""

import numpy as np
import sympy as sp

import codegen
from codegen.auto import resolve as resolve_backend
from symbackprop.errors import BackendUnavailable, CompileError, DataError, DTypeError, ShapeError
from symbackprop.graph.node import Expr
from symbackprop.graph.scalar import N
from symbackprop.graph.shape import fmt
from symbackprop.graph.traverse import leaves, topo_order
from symbackprop.primitives import definition
from symbackprop.lower import lower, prepare

__all__ = ["compile", "CompiledFunction"]


class CompiledFunction:
    """A compiled graph.  Call it with keyword arrays; it returns one array per output
    (a list when compiled from a list, a single array when compiled from one node)."""

    def __init__(self, outputs, backend, single):
        self.outputs = list(outputs)
        self.backend = backend
        self.program = lower(prepare(self.outputs), arguments=leaves(self.outputs))
        self._single = single
        self._run = codegen.backend(backend).build(self.program)
        self.arg_buffers = [self.program.buffers[a] for a in self.program.args]
        _check_batch_size_known(self.outputs, self.arg_buffers)
        # shapes as functions of the batch size, built once: a call does no sympy work
        self._concrete = {b.name: _shape_function(b.shape) for b in self.arg_buffers}
        self._dtypes = {b.name: np.dtype(b.dtype) for b in self.arg_buffers}
        self._label_limits = _label_limits(self.outputs)

    @property
    def arg_names(self):
        """Names the function takes: the graph's inputs and params."""
        return [b.name for b in self.arg_buffers]

    def bind(self, kwargs):
        """Check ``kwargs`` against the graph; return ({name: array}, batch size)."""
        unknown = sorted(set(kwargs) - set(self.arg_names))
        if unknown:
            raise CompileError(f"unexpected argument(s) {', '.join(unknown)}; this function takes "
                               f"{', '.join(self.arg_names) or 'no arguments'}")
        missing = [n for n in self.arg_names if n not in kwargs]
        if missing:
            raise CompileError(f"missing argument(s) {', '.join(missing)}; this function takes "
                               f"{', '.join(self.arg_names)}")
        arrays, n, n_from = {}, None, None
        for buf in self.arg_buffers:
            value = kwargs[buf.name]
            what = f"{buf.role} {buf.name}"
            try:
                array = value if isinstance(value, np.ndarray) else np.asarray(value)
            except (ValueError, TypeError):
                raise ShapeError(f"{what}: cannot be read as an array (ragged nested lists?); expected shape "
                                 f"{fmt(buf.shape)}") from None
            if array.dtype != self._dtypes[buf.name]:
                hint = f"; convert with .astype(np.{buf.dtype})" if array.dtype.kind in "iufb" else ""
                raise DTypeError(f"{what}: expected dtype {buf.dtype}, got {array.dtype}{hint}")
            if array.ndim != len(buf.shape):
                raise ShapeError(f"{what}: expected shape {fmt(buf.shape)}, got {fmt(array.shape)}")
            for axis, (want, got) in enumerate(zip(buf.shape, array.shape)):
                if want == N:
                    if n is None:
                        n, n_from = got, buf.name
                    elif got != n:
                        raise ShapeError(f"{what}: batch size {got} (shape {fmt(array.shape)}) differs from "
                                         f"{n_from}'s batch size {n}")
                elif isinstance(want, sp.Basic) and want.has(N):
                    continue  # checked once N is known, below
                elif want != got:
                    raise ShapeError(f"{what}: expected shape {fmt(buf.shape)}, got {fmt(array.shape)}")
            arrays[buf.name] = array
        if n is not None and n == 0:
            raise ShapeError(f"input {n_from}: the batch is empty (batch size 0)")
        for name, k in self._label_limits.items():
            labels = arrays.get(name)
            if labels is not None and labels.size and (labels.min() < 0 or labels.max() >= k):
                bad = int(np.flatnonzero((labels.ravel() < 0) | (labels.ravel() >= k))[0])
                raise DataError(f"input {name}: class label {labels.ravel()[bad]} at flat index {bad} is outside "
                                f"[0, {k}) of onehot({name}, {k})")
        n = 1 if n is None else n
        for buf in self.arg_buffers:
            want = self._concrete[buf.name](n)
            if arrays[buf.name].shape != want:
                raise ShapeError(f"{buf.role} {buf.name}: expected shape {fmt(buf.shape)} = {fmt(want)} "
                                 f"with batch size {n}, got {fmt(arrays[buf.name].shape)}")
        return arrays, n

    @property
    def jax_function(self):
        """The compiled computation as a pure function of jax arrays, by name:
        ``jax_function(**arrays) -> [jax arrays]`` (one array when compiled from one node),
        jittable, differentiable and shardable like any JAX function, so a symbackprop-derived
        gradient can be used inside a user's own JAX program.  Only for ``backend="jax"``.
        A float64 program needs JAX's x64 mode (``with jax.enable_x64(True):``) where it is
        traced; its arrays are checked by name and shape when traced.

        >>> import numpy as np, symbackprop as sb
        >>> x = sb.input("x", (None, 2)); w = sb.param("w", (2,), "float32")
        >>> sb.compile(sb.sum(x @ w), backend="numpy").jax_function
        Traceback (most recent call last):
        ...
        symbackprop.errors.CompileError: jax_function: this function was compiled for the numpy backend; compile with backend="jax"
        """
        pure = getattr(self._run, "pure", None)
        if pure is None:
            raise CompileError(f"jax_function: this function was compiled for the {self.backend} backend; "
                               'compile with backend="jax"')
        names, single, wide = self.arg_names, self._single, self._run.x64

        def jax_function(**arrays):
            import jax
            unknown = sorted(set(arrays) - set(names))
            missing = [a for a in names if a not in arrays]
            if unknown or missing:
                raise CompileError(f"jax_function takes {', '.join(names)}"
                                   + (f"; missing {', '.join(missing)}" if missing else "")
                                   + (f"; unexpected {', '.join(unknown)}" if unknown else ""))
            if wide and not jax.config.jax_enable_x64:
                raise CompileError("jax_function: this is a float64 program, and JAX's x64 mode is off; call it "
                                   "under `with jax.enable_x64(True):` (or compile a float32 graph)")
            n = None
            for buf in self.arg_buffers:
                shape = tuple(arrays[buf.name].shape)
                if n is None and len(shape) == len(buf.shape):
                    n = next((got for want, got in zip(buf.shape, shape) if want == N), None)
            n = 1 if n is None else n
            for buf in self.arg_buffers:
                want, got = self._concrete[buf.name](n), tuple(arrays[buf.name].shape)
                if want != got:
                    raise ShapeError(f"jax_function: {buf.role} {buf.name}: expected shape {fmt(buf.shape)} = "
                                     f"{fmt(want)} with batch size {n}, got {fmt(got)}")
            out = pure(dict(arrays))
            return out[0] if single else out

        return jax_function

    def __call__(self, *args, **kwargs):
        if args:
            raise CompileError(f"compiled functions take their arrays by name: f({', '.join(f'{a}=...' for a in self.arg_names)}); "
                               f"got {len(args)} positional argument(s)")
        arrays, n = self.bind(kwargs)
        results = self._run(arrays, n)
        return results[0] if self._single else results

    def __repr__(self):
        return f"<compiled {self.backend} function of ({', '.join(self.arg_names)}) -> {len(self.outputs)} output(s)>"


def compile(outputs, backend="auto"):
    """Compile graph nodes into a function of numpy arrays (inputs and params by name).

    ``outputs`` is one node (the function returns one array) or a list of nodes (it returns
    a list).  ``backend`` names a code generator: ``"llvm"``, ``"numba"``, ``"numpy"`` (the
    reference, nothing to compile), or ``"auto"``: llvm when llvmlite and scipy import, else
    numba, else numpy (``codegen.auto``; a fallback is said once, as a warning).

    >>> import symbackprop as sb
    >>> t = sb.param("t", ())
    >>> sb.compile(t * 2, backend="numpy")(t=np.array(1.5))
    array(3.)
    """
    single = isinstance(outputs, Expr)
    outs = [outputs] if single else list(outputs)
    if not outs:
        raise CompileError("compile: no outputs given")
    for i, o in enumerate(outs):
        if not isinstance(o, Expr):
            raise CompileError(f"compile: output {i} is a {type(o).__name__}, not a graph node")
    if isinstance(backend, str):
        backend = resolve_backend(backend)
    if backend not in codegen.BACKENDS:
        raise CompileError(f"compile: unknown backend {backend!r}; available: {', '.join(sorted(codegen.BACKENDS))}")
    require(backend)
    return CompiledFunction(outs, backend, single)


def require(backend):
    """Raise ``BackendUnavailable`` (what to install) when ``backend``'s library is missing."""
    why = codegen.unavailable(backend)
    if why is not None:
        raise BackendUnavailable(why)


def _shape_function(shape):
    """n -> the concrete shape; plain ints need no sympy at call time."""
    if all(isinstance(d, int) for d in shape):
        return lambda n, shape=tuple(shape): shape
    parts = [d if isinstance(d, int) else sp.lambdify(N, d) for d in shape]
    return lambda n: tuple(d if isinstance(d, int) else int(d(n)) for d in parts)


def compile_training(loss, param_names, x, y, optimizer, backend, devices=None, **extra):
    """The backend's driver of the training program of ``loss`` (``symbackprop.lower.training``);
    ``extra`` goes to the lowering (running statistics, dropout masks), ``devices`` to the
    backend's ``build_training`` (the jax backend's devices).

    Returns ``train(X, Y, params, state, hyper, perm, t0, bs, limit=-1) -> (steps, losses, status)``.
    """
    require(backend)
    module = codegen.backend(backend)
    from symbackprop.lower.cache import cached_training_program
    from symbackprop.lower.training import lower_training
    options = {} if devices is None else {"devices": devices}
    program = cached_training_program(lower_training, loss, list(param_names), x, y, optimizer, **extra)
    return module.build_training(program, **options)


def _label_limits(outputs):
    """{int64 input name: number of classes} of every onehot reading an input (through layout
    ops), so labels outside [0, k) are refused at call time instead of giving a zero row."""
    limits = {}
    for node in topo_order(outputs):
        if node.op != "onehot":
            continue
        src = node.args[0]
        while definition(src).layout or src.op == "transpose":
            src = src.args[0]
        if src.op == "input":
            limits[src.name] = min(limits.get(src.name, node.attrs.k), node.attrs.k)
    return limits


def _check_batch_size_known(outputs, arg_buffers):
    """Refuse outputs whose batch size no argument determines (e.g. ∂mean(z)/∂z alone)."""
    if any(any(isinstance(d, sp.Basic) and d.has(N) for d in b.shape) for b in arg_buffers):
        return
    for i, o in enumerate(outputs):
        if any(isinstance(d, sp.Basic) and d.has(N) for d in o.shape):
            raise CompileError(
                f"compile: output {i} ({o.describe()}) has the batch axis, but it reads no input with one, "
                "so its batch size would be unknown; compile it together with an output that reads the batch "
                "inputs (e.g. the loss)")
