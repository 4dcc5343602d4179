"""``sb.gradcheck``: a backend's gradients against two oracles it shares no code with.

1. **Central finite differences** of the direct evaluator (``sb.evaluate``, numpy node by
   node), element by element (a sample of elements for large tensors) and along random
   directions that move every element at once.  This checks the derivation itself: a wrong
   derivative (a custom sympy function with a wrong ``fdiff``) shows up here.
2. **The evaluator on the derived gradient graph**: the same symbolic gradient, evaluated
   without lowering or code generation.  This checks the backend: a miscompiled kernel shows
   up here even where finite differences are too coarse to see it.

The models are PyTorch's ``gradcheck``, JAX's ``check_grads`` and PyTensor's ``verify_grad``.
Non-scalar outputs are checked through a random projection: L = Σₖ ⟨outputₖ, rₖ⟩ with fixed
random rₖ, whose gradient is the vector-Jacobian product every backward pass computes.

>>> import numpy as np, symbackprop as sb
>>> x = sb.input("x", (None, 3)); w = sb.param("w", (3,))
>>> swish = sb.elementwise(lambda u: u * sb.scalar.sigmoid(u))
>>> report = sb.gradcheck(sb.sum(swish(x * w)), [w])        # random feeds when none are given
>>> report.ok
True
"""

from dataclasses import dataclass, field

import numpy as np

from symbackprop.autodiff import grad
from symbackprop.compiled import _label_limits, compile
from symbackprop.errors import ArgumentError, SymbackpropError
from symbackprop.graph.evaluate import evaluate
from symbackprop.graph.node import Expr
from symbackprop.graph.ops import FLOAT_DTYPES
from symbackprop.graph.scalar import N
from symbackprop.graph.traverse import leaves

__all__ = ["gradcheck", "GradcheckReport", "GradcheckError"]


class GradcheckError(SymbackpropError, AssertionError):
    """``gradcheck(..., raise_on_failure=True)`` found gradients that disagree; the message is
    the report."""


@dataclass
class WrtResult:
    """How the gradient with respect to one leaf compares with each oracle."""
    name: str
    shape: tuple
    checked: int                # elements compared with finite differences
    fd_error: float             # max |backend − finite differences| / (atol + rtol·|fd|), ≤ 1 passes
    evaluator_error: float      # max |backend − evaluator| relative to the gradient's scale
    worst_index: tuple
    backend_value: float
    fd_value: float
    evaluator_value: float


@dataclass
class GradcheckReport:
    """The result of ``gradcheck``: ``ok``, one ``WrtResult`` per leaf (``results``), the
    directional checks, and ``worst``: the element farthest from its finite difference."""
    backend: str
    rtol: float
    atol: float
    evaluator_rtol: float
    results: list = field(default_factory=list)
    directions: list = field(default_factory=list)  # (dL/dt by finite differences, ⟨g, v⟩ of the backend)
    direction_ok: bool = True

    @property
    def ok(self):
        return (self.direction_ok and all(r.fd_error <= 1.0 for r in self.results)
                and all(r.evaluator_error <= self.evaluator_rtol for r in self.results))

    @property
    def worst(self):
        """The ``WrtResult`` holding the element worst against finite differences."""
        return max(self.results, key=lambda r: r.fd_error, default=None)

    def __str__(self):
        lines = [f"gradcheck on the {self.backend} backend: {'ok' if self.ok else 'FAILED'} "
                 f"(rtol {self.rtol:g}, atol {self.atol:g} against finite differences; "
                 f"{self.evaluator_rtol:g} relative against the evaluator)"]
        for r in self.results:
            mark = "ok" if r.fd_error <= 1.0 and r.evaluator_error <= self.evaluator_rtol else "FAILED"
            lines.append(f"  ∂L/∂{r.name} {r.shape}: {mark}; {r.checked} element(s) by finite differences, "
                         f"worst at {r.worst_index}: backend {r.backend_value:.10g}, finite differences "
                         f"{r.fd_value:.10g}, evaluator {r.evaluator_value:.10g} "
                         f"(error {r.fd_error:.3g} of tolerance; {r.evaluator_error:.2e} from the evaluator)")
        for fd, dot in self.directions:
            lines.append(f"  random direction: dL/dt {fd:.10g} by finite differences, ⟨∇L, v⟩ {dot:.10g}")
        worst = self.worst
        if not self.ok and worst is not None:
            if worst.evaluator_error > self.evaluator_rtol:
                lines.append(f"  the {self.backend} backend disagrees with the evaluator on the same derived "
                             f"gradient of {worst.name}: a code-generation bug; please report it")
            elif worst.fd_error > 1.0:
                lines.append("  the derived gradient itself differs from finite differences: a wrong derivative "
                             "(e.g. a custom function's), or a kink or discontinuity near this point")
        return "\n".join(lines)

    __repr__ = __str__


def gradcheck(outputs, wrt, feeds=None, backend="numpy", rtol=None, atol=None, eps=None, samples=200,
              directions=2, seed=0, raise_on_failure=False):
    """Compare a backend's gradients of ``outputs`` with finite differences and the evaluator.

    ``outputs``: a scalar node (the loss), or nodes checked through a random projection.
    ``wrt``: a leaf or a list of leaves (params or float inputs).  ``feeds``: {name: array}
    for every input and param (random values, batch size 4, when None).  Up to ``samples``
    elements of each gradient are compared with central finite differences (step ``eps``
    relative to the element's size; float64 default 1e-3 with the 4-point stencil), plus
    ``directions`` random directions through all elements at once.  An element passes when
    |backend − fd| ≤ atol + rtol·|fd| (defaults 1e-6 and 1e-8 in float64, 1e-2 and 1e-3 in
    float32); the backend must also agree with the evaluator to 1e-10 relative (float32:
    1e-4).  Returns a ``GradcheckReport``; raises ``GradcheckError`` on failure when
    ``raise_on_failure``.

    >>> import symbackprop as sb
    >>> t = sb.param("t", (2,))
    >>> r = sb.gradcheck(sb.sum(t ** 3), t, {"t": np.array([1.0, 2.0])})
    >>> r.ok, r.results[0].checked
    (True, 2)
    """
    outs = _outputs(outputs)
    targets = [wrt] if isinstance(wrt, Expr) else list(wrt) if isinstance(wrt, (list, tuple)) else None
    if not targets or not all(isinstance(t, Expr) and t.op in ("input", "param") for t in targets):
        raise ArgumentError(f"gradcheck: wrt must be an input or param node or a list of them, got {wrt!r}")
    for t in targets:
        if t.dtype not in FLOAT_DTYPES:
            raise ArgumentError(f"gradcheck: cannot differentiate with respect to {t.describe()}")
    if not isinstance(samples, int) or samples < 1 or not isinstance(directions, int) or directions < 0:
        raise ArgumentError(f"gradcheck: samples must be a positive int and directions a non-negative int, "
                            f"got {samples!r} and {directions!r}")
    rng = np.random.default_rng(seed)
    float32 = any(n.dtype == "float32" for n in leaves(outs))
    rtol = (1e-2 if float32 else 1e-6) if rtol is None else _tolerance("rtol", rtol)
    atol = (1e-3 if float32 else 1e-8) if atol is None else _tolerance("atol", atol)
    eps = (3e-2 if float32 else 1e-3) if eps is None else _tolerance("eps", eps)
    evaluator_rtol = 1e-4 if float32 else 1e-10
    feeds = dict(_random_feeds(outs, rng) if feeds is None else _check_feeds(feeds, outs))
    loss = _scalar_loss(outs, feeds, rng)
    grads = grad(loss, targets)
    nodes = [grads[t] for t in targets]
    f = compile(nodes, backend=backend)
    got = f(**{k: feeds[k] for k in f.arg_names})
    want = evaluate(nodes, feeds)
    report = GradcheckReport(backend, rtol, atol, evaluator_rtol)

    def loss_at(name, value):
        return float(evaluate([loss], {**feeds, name: value})[0])

    for t, g, e in zip(targets, got, want):
        base = np.asarray(feeds[t.name], dtype=np.float64)
        idx = _sample(g, samples, rng)
        fd = np.array([_central(lambda h, i=i: loss_at(t.name, _moved(base, i, h)), eps * max(1.0, abs(base[i])))
                       for i in idx])
        g_at = np.array([float(g[i]) for i in idx])
        ratio = np.abs(g_at - fd) / (atol + rtol * np.abs(fd))
        k = int(np.argmax(ratio)) if len(idx) else 0
        scale = float(np.max(np.abs(e), initial=0.0)) or 1.0
        ev_err = float(np.max(np.abs(np.asarray(g, np.float64) - np.asarray(e, np.float64)), initial=0.0)) / scale
        i = idx[k]
        report.results.append(WrtResult(t.name, tuple(np.shape(g)), len(idx), float(ratio[k]), ev_err, i,
                                        float(g[i]), float(fd[k]), float(e[i])))
    for _ in range(directions):
        vs = {t.name: rng.normal(size=np.shape(feeds[t.name])) for t in targets}
        dot = sum(float(np.sum(np.asarray(g, np.float64) * vs[t.name])) for t, g in zip(targets, got))
        size = sum(float(np.sum(np.abs(np.asarray(g, np.float64) * vs[t.name]))) for t, g in zip(targets, got))
        step = eps * max(1.0, max(float(np.max(np.abs(feeds[t.name]), initial=0.0)) for t in targets))
        fd = _central(lambda h: float(evaluate([loss], {**feeds, **{k: np.asarray(feeds[k], np.float64) + h * v
                                                                        for k, v in vs.items()}})[0]), step)
        report.directions.append((fd, dot))
        if abs(dot - fd) > atol + rtol * max(abs(fd), size):
            report.direction_ok = False
    if raise_on_failure and not report.ok:
        raise GradcheckError(str(report))
    return report


def _outputs(outputs):
    outs = [outputs] if isinstance(outputs, Expr) else list(outputs) if isinstance(outputs, (list, tuple)) else None
    if not outs or not all(isinstance(o, Expr) for o in outs):
        raise ArgumentError(f"gradcheck: outputs must be a graph node or a list of them, got {outputs!r}")
    for o in outs:
        if o.dtype not in FLOAT_DTYPES:
            raise ArgumentError(f"gradcheck: output {o.describe()} is not floating point")
    return outs


def _tolerance(what, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ArgumentError(f"gradcheck: {what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _scalar_loss(outs, feeds, rng):
    """The outputs themselves when one scalar; else Σₖ sum(outputₖ · rₖ) with fixed random rₖ,
    each an input of the output's shape (so it may have the batch axis) added to ``feeds``."""
    if len(outs) == 1 and outs[0].shape == ():
        return outs[0]
    from symbackprop.graph import ops
    n = _batch(outs, feeds)
    total = None
    for k, o in enumerate(outs):
        name = f"gradcheck.r{k}"
        feeds[name] = rng.normal(size=tuple(n if d == N else int(d) for d in o.shape)).astype(o.dtype)
        r = ops.input(name, tuple(None if d == N else d for d in o.shape), o.dtype)
        term = ops.sum(o * r)
        total = term if total is None else total + term
    return total


def _batch(outs, feeds):
    for n in leaves(outs):
        if n.op == "input" and N in n.shape and n.name in feeds:
            return int(np.shape(feeds[n.name])[n.shape.index(N)])
    return 1


def _check_feeds(feeds, outs):
    if not isinstance(feeds, dict):
        raise ArgumentError(f"gradcheck: feeds must be a dict {{name: array}}, got {type(feeds).__name__}")
    missing = sorted({n.name for n in leaves(outs) if n.op in ("input", "param")} - set(feeds))
    if missing:
        raise ArgumentError(f"gradcheck: feeds lack {', '.join(missing)}")
    return {k: np.asarray(v) for k, v in feeds.items()}


def _random_feeds(outs, rng, batch=4):
    """Values for every input and param: normal floats, labels within their onehot's classes."""
    limits = _label_limits(outs)
    feeds = {}
    for n in leaves(outs):
        if n.op not in ("input", "param"):
            continue
        shape = tuple(batch if d == N else int(d) for d in n.shape)
        if n.dtype == "int64":
            feeds[n.name] = rng.integers(0, limits.get(n.name, 2), size=shape).astype(np.int64)
        else:
            feeds[n.name] = rng.normal(size=shape).astype(n.dtype)
    return feeds


def _sample(g, samples, rng):
    """Indices of up to ``samples`` elements: all of a small tensor; else a random sample that
    holds the largest-magnitude element."""
    shape = np.shape(g)
    size = int(np.prod(shape, dtype=np.int64))
    if size <= samples:
        return [tuple(int(v) for v in np.unravel_index(k, shape)) for k in range(size)]
    flat = set(rng.choice(size, samples - 1, replace=False).tolist()) | {int(np.argmax(np.abs(g)))}
    return [tuple(int(v) for v in np.unravel_index(k, shape)) for k in sorted(flat)]


def _moved(base, index, h):
    out = base.copy()
    out[index] += h
    return out


def _central(f, h):
    """f'(0) by the 4-point central stencil (error O(h⁴))."""
    return (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h)
