"""Hypothesis-generated graphs over every op and broadcasting pattern.

A graph is grown one op at a time from a pool of nodes: every built-in activation and two
user ``elementwise`` functions, ``+ - * / **`` against pool nodes (reuse), fresh inputs and
params of broadcast-compatible shapes, numpy-array constants, Python scalars, 0-d arrays and
``sb.const`` scalars (both operand orders); matmul with 2-D and 1-D operands and a
contraction over the batch axis; sum/mean/max/logsumexp with axis/keepdims; transpose,
broadcast_to, reshape with -1 and None; softmax/log_softmax; onehot of int64 labels; basic
indexing (integers, slices with negative steps, ``...``, ``None``), concat, pad and take;
conv1d/conv2d (stride, padding, bias, several channels) and max/avg pooling on (N, C, …)
nodes, images among the leaves.

Values are kept in safe domains while the graph is built, using the direct evaluator on the
example's feeds: log/sqrt/fractional powers get positive operands, divisors stay away from
zero, relu/abs/leaky_relu operands are shifted away from their kink, a max whose slices
have near-ties becomes a logsumexp (a max pool with near-ties in a window, an average
pool), and large values are squashed.  Then:

- ``sb.compile(..., backend="numpy")`` equals ``sb.evaluate`` on every node to 1e-12;
- gradients of the scalar loss w.r.t. every float leaf match central finite differences of
  ``sb.evaluate`` (relative error < 1e-6);
- Hessian-vector products (grad of grad) match finite differences of the first gradient;
- the same graph rebuilt in float32 runs in float32 and agrees with float64 (1e-4: random graphs
  can sum with cancellation; the fixed model in test_compile.py is held to 1e-5).
"""

import itertools
import math
import os

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from tests.conftest import assert_rel, central, fd_grads
from symbackprop.graph.scalar import N
from symbackprop.graph.traverse import topo_order

SETTINGS = dict(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

U, V = sp.symbols("u v", real=True)
swish = sb.elementwise(lambda u: u * sb.scalar.sigmoid(u), name="swish")
atan = sb.elementwise(lambda u: sp.atan(u), name="atan")
smooth_norm = sb.elementwise(sp.Lambda((U, V), sp.sqrt(U ** 2 + V ** 2 + 1)), name="smooth_norm")

UNARY = {"exp": sb.exp, "log": sb.log, "sqrt": sb.sqrt, "abs": sb.abs, "tanh": sb.tanh, "sin": sb.sin,
         "cos": sb.cos, "sigmoid": sb.sigmoid, "softplus": sb.softplus, "relu": sb.relu,
         "leaky_relu": lambda a: sb.leaky_relu(a, 0.2), "gelu": sb.gelu, "swish": swish, "atan": atan}
KINKED = ("abs", "relu", "leaky_relu")
BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
          "**": lambda a, b: a ** b, "smooth_norm": smooth_norm}
SCALARS = (2, 3, -1, 0.5, -1.5, 0.25)
OPS = ("unary", "binary", "binary", "matmul", "reduce", "transpose", "broadcast_to", "reshape", "softmax",
       "onehot", "index", "concat", "pad", "take", "conv", "pooling")
MARGIN = 0.05  # distance kept from kinks and max ties; FD perturbations are ~1e-4


def user_shape(shape):
    return tuple(None if d == N else d for d in shape)


def simple(d):
    return isinstance(d, int) or d == N


def is_node(v):
    return isinstance(v, sb.Expr)


class Builder:
    """Grows a random graph while tracking its values on one set of feeds."""

    def __init__(self, data):
        self.draw = data.draw
        self.n = self.draw(st.integers(1, 3), label="batch size")
        self.rng = np.random.default_rng(self.draw(st.integers(0, 2 ** 31), label="seed"))
        self.feeds, self.leaves, self.pool, self.log = {}, [], [], []
        self.names = itertools.count()

    # ---- values --------------------------------------------------------------------------
    def concrete(self, shape):
        return tuple(int(sp.sympify(d).subs(N, self.n)) for d in shape)

    def value(self, v):
        return sb.evaluate([v], self.feeds)[0] if is_node(v) else np.asarray(v, dtype=float)

    def new_leaf(self, shape, kind=None):
        shape = tuple(shape)
        if kind is None:
            kind = "input" if N in shape else self.draw(st.sampled_from(["param", "input", "array"]))
        lo, hi = self.draw(st.sampled_from([(-1.5, 1.5), (0.2, 2.0)]), label="leaf range")
        values = self.rng.uniform(lo, hi, size=self.concrete(shape))
        if kind == "array":
            return values
        name = f"{kind[0]}{next(self.names)}"
        node = (sb.input if kind == "input" else sb.param)(name, user_shape(shape))
        self.feeds[name] = values
        self.leaves.append(node)
        return node

    # ---- domain guards -------------------------------------------------------------------
    def positive(self, a):
        if not is_node(a):
            return np.abs(a) + 0.2
        return a if self.value(a).min() > 0.1 else a * a + 0.5

    def nonzero(self, a):
        if not is_node(a):
            return a if np.abs(a).min() > 0.2 else np.asarray(a) ** 2 + 0.5
        return a if np.abs(self.value(a)).min() > 0.3 else a * a + 0.5

    def bounded(self, a, bound):
        if not is_node(a):
            return np.tanh(a)
        return a if np.abs(self.value(a)).max() <= bound else sb.tanh(a)

    def off_kink(self, a):
        v = self.value(a)
        for c in (0, 0.1, -0.1, 0.37, -0.37, 0.61, -0.83):
            if np.abs(v + c).min() > MARGIN:
                return a + c
        return None

    def max_ok(self, a, axis):
        v = self.value(a)
        axes = tuple(range(a.ndim)) if axis is None else tuple(x % a.ndim for x in np.atleast_1d(axis))
        v = np.moveaxis(v, axes, tuple(range(-len(axes), 0)))
        v = v.reshape(-1, math.prod(v.shape[v.ndim - len(axes):]))
        if v.shape[1] < 2:
            return True
        s = np.sort(v, axis=1)
        return (s[:, -1] - s[:, -2]).min() > MARGIN

    def tame(self, node):
        v = self.value(node)
        assert np.all(np.isfinite(v)), f"non-finite value building {self.log}:\n{node.listing()}"
        return sb.tanh(node * 0.1) if np.abs(v).max(initial=0) > 8 else node

    # ---- ops -----------------------------------------------------------------------------
    def unary(self, a):
        name = self.draw(st.sampled_from(sorted(UNARY)), label="unary")
        if name in ("log", "sqrt"):
            a = self.positive(a)
        elif name == "exp":
            a = self.bounded(a, 3)
        elif name in KINKED:
            shifted = self.off_kink(a)
            if shifted is None:
                name = "tanh"
            else:
                a = shifted
        self.log.append(name)
        return UNARY[name](a)

    def partner_shape(self, shape):
        k = self.draw(st.integers(0, len(shape)), label="partner axes")
        out = []
        for d in shape[len(shape) - k:]:
            if d == 1:
                out.append(self.draw(st.sampled_from([1, 3])))
            else:
                out.append(d if simple(d) and self.draw(st.booleans()) else 1)
        if k == len(shape) and self.draw(st.integers(0, 3)) == 0:  # the node broadcasts up
            out.insert(0, self.draw(st.sampled_from([2] if N in shape else [2, N])))
        return tuple(out)

    def binary(self, a):
        op = self.draw(st.sampled_from(sorted(BINARY)), label="binary")
        kind = self.draw(st.sampled_from(["pool", "leaf", "array", "scalar", "scalar0d", "const"]), label="partner")
        if kind == "pool":
            ok = []
            for p in self.pool:
                try:
                    sb.graph.shape.broadcast_shapes(a.shape, p.shape)
                    ok.append(p)
                except sb.ShapeError:
                    pass
            b = self.draw(st.sampled_from(ok))
        elif kind == "leaf":
            b = self.new_leaf(self.partner_shape(a.shape))
        elif kind == "array":
            b = self.new_leaf(tuple(1 if d == N else d for d in self.partner_shape(a.shape) if simple(d)), "array")
        else:
            s = self.draw(st.sampled_from(SCALARS))
            b = {"scalar": s, "scalar0d": np.array(float(s)), "const": sb.const(float(s))}[kind]
        x, y = (b, a) if self.draw(st.booleans(), label="swap") else (a, b)
        if op == "/":
            y = self.nonzero(y)
        elif op == "**":
            if isinstance(y, int):
                x = self.nonzero(x) if y < 0 else x
            else:
                x = self.positive(x)
                if isinstance(x, (int, float)):
                    x = abs(x) + 0.25
                y = self.bounded(y, 2) if not isinstance(y, (int, float)) else y
        elif op == "smooth_norm":
            x, y = (v if is_node(v) else np.asarray(v, dtype=float) for v in (x, y))
        self.log.append(f"{op} {kind}")
        return BINARY[op](x, y)

    def matmul(self, a):
        self.log.append(f"matmul {a.ndim}-d")
        if a.ndim == 2:
            r, c = a.shape
            side = self.draw(st.sampled_from(["right", "right1d", "left", "left1d"]), label="matmul")
            k = self.draw(st.integers(1, 3))
            if side == "right":
                return a @ self.new_leaf((c, k), "param" if c != N else "input")
            if side == "right1d":
                return a @ self.new_leaf((c,), "param" if c != N else "input")
            if r == N:  # a contraction over the batch axis, as in aᵀ·δ
                p = self.new_leaf((N, k), "input")
                return p.T @ a if side == "left" else sb.matmul(self.new_leaf((N,), "input"), a)
            return sb.matmul(self.new_leaf((k, r) if side == "left" else (r,)), a)
        if a.ndim == 1 and simple(a.shape[0]):
            c = a.shape[0]
            side = self.draw(st.sampled_from(["vec@mat", "mat@vec", "dot"]), label="matmul1d")
            if side == "dot":
                return a @ a
            k = self.draw(st.integers(1, 3))
            if side == "vec@mat":
                return a @ self.new_leaf((c, k), "input" if c == N else "param")
            return self.new_leaf((k, c), "input" if c == N else "param") @ a
        return None

    def reduce(self, a):
        if a.ndim == 0:
            return None
        kind = self.draw(st.sampled_from(["sum", "mean", "max", "logsumexp"]), label="reduce")
        axis = self.draw(st.one_of(st.none(), st.integers(-a.ndim, a.ndim - 1),
                                   st.lists(st.integers(0, a.ndim - 1), min_size=1, max_size=a.ndim,
                                            unique=True).map(tuple)), label="axis")
        keepdims = self.draw(st.booleans(), label="keepdims")
        if kind == "max" and not self.max_ok(a, axis):
            kind = "logsumexp"
        self.log.append(f"{kind} {axis} {keepdims}")
        if kind in ("sum", "mean", "max") and self.draw(st.booleans(), label="method"):
            return getattr(a, kind)(axis=axis, keepdims=keepdims)
        return getattr(sb, kind)(a, axis=axis, keepdims=keepdims)

    def transpose(self, a):
        if a.ndim < 2:
            return None
        perm = self.draw(st.permutations(range(a.ndim)), label="perm")
        form = self.draw(st.sampled_from(["fn", "method", "T"]))
        self.log.append(f"transpose {perm} {form}")
        return {"fn": lambda: sb.transpose(a, perm), "method": lambda: a.transpose(*perm), "T": lambda: a.T}[form]()

    def broadcast_to(self, a):
        target = [self.draw(st.sampled_from([1, 3])) if d == 1 else d for d in a.shape]
        if self.draw(st.booleans()):
            target.insert(0, self.draw(st.sampled_from([2] if N in a.shape else [2, N])))
        self.log.append(f"broadcast_to {target}")
        return sb.broadcast_to(a, user_shape(target))

    def reshape(self, a):
        shape = a.shape
        options = ["flat", "singleton"]
        if a.ndim >= 2 and shape[0] == N:
            options += ["batch_rows"]
        if a.ndim >= 2 and isinstance(shape[-1], int):
            options += ["rows"]
        if all(isinstance(d, int) for d in shape) and math.prod(shape) > 1:
            options += ["factor"]
        choice = self.draw(st.sampled_from(options), label="reshape")
        self.log.append(f"reshape {choice}")
        if choice == "flat":
            return a.reshape(-1)
        if choice == "batch_rows":
            return sb.reshape(a, (None, -1))
        if choice == "rows":
            return a.reshape(-1, shape[-1])
        if choice == "factor":
            total = math.prod(shape)
            d = self.draw(st.sampled_from([d for d in range(1, total + 1) if total % d == 0]))
            return sb.reshape(a, (d, -1) if self.draw(st.booleans()) else (-1, d))
        pos = self.draw(st.integers(0, a.ndim))
        target = list(user_shape(shape[:pos])) + [1] + list(user_shape(shape[pos:]))
        unknown = [i for i, d in enumerate(target) if d not in (1,)]
        if unknown and self.draw(st.booleans()):
            target[self.draw(st.sampled_from(unknown))] = -1
        return sb.reshape(a, tuple(target))

    def softmax(self, a):
        if a.ndim == 0:
            return None
        axis = self.draw(st.integers(-a.ndim, a.ndim - 1))
        fn = self.draw(st.sampled_from(["softmax", "log_softmax"]))
        self.log.append(f"{fn} {axis}")
        return getattr(sb, fn)(a, axis=axis)

    def onehot(self, a):
        if a.ndim == 0 or not all(simple(d) for d in a.shape[:-1]) or not isinstance(a.shape[-1], int):
            return None
        k = a.shape[-1]
        name = f"y{next(self.names)}"
        labels = sb.input(name, user_shape(a.shape[:-1]), dtype="int64")
        self.feeds[name] = self.rng.integers(0, k, size=self.concrete(a.shape[:-1])).astype(np.int64)
        oh = sb.onehot(labels, k)
        mode = self.draw(st.sampled_from(["mul", "sub", "gather"]), label="onehot")
        self.log.append(f"onehot {mode}")
        return {"mul": lambda: a * oh, "sub": lambda: a - oh, "gather": lambda: sb.sum(a * oh, axis=-1)}[mode]()

    def index(self, a):
        if a.ndim == 0:
            return None
        key = []
        for d in a.shape:
            if not isinstance(d, int):
                key.append(slice(None))
                continue
            kind = self.draw(st.sampled_from(["full", "int", "slice", "reverse"]), label="index kind")
            if kind == "int":
                key.append(self.draw(st.integers(-d, d - 1)))
            elif kind == "slice":
                start = self.draw(st.integers(0, d - 1))
                key.append(slice(start, self.draw(st.integers(start + 1, d)), self.draw(st.integers(1, 2))))
            elif kind == "reverse":
                key.append(slice(None, None, -self.draw(st.integers(1, 2))))
            else:
                key.append(slice(None))
        form = self.draw(st.sampled_from(["plain", "ellipsis", "newaxis"]), label="index form")
        if form == "ellipsis" and len(key) > 1:
            key = [Ellipsis] + key[1:] if key[0] == slice(None) else key
        elif form == "newaxis":
            key.insert(self.draw(st.integers(0, len(key))), None)
        self.log.append(f"index {key}")
        return a[tuple(key)]

    def concat(self, a):
        axes = [i for i, d in enumerate(a.shape) if isinstance(d, int)]
        if not axes:
            return None
        axis = self.draw(st.sampled_from(axes), label="concat axis")
        fits = [p for p in self.pool if p.ndim == a.ndim and p is not a and
                all(d == e for i, (d, e) in enumerate(zip(p.shape, a.shape)) if i != axis)
                and isinstance(p.shape[axis], int)]
        if fits and self.draw(st.booleans(), label="concat a pool node"):
            other = self.draw(st.sampled_from(fits))
        else:
            shape = tuple(self.draw(st.integers(1, 3)) if i == axis else d for i, d in enumerate(a.shape))
            other = self.new_leaf(shape, "input" if N in shape else "param")
        if self.draw(st.booleans(), label="stack instead"):
            if other.shape == a.shape:
                self.log.append(f"stack {axis}")
                return sb.stack([a, other], axis=axis)
        self.log.append(f"concat {axis}")
        return sb.concat([other, a] if self.draw(st.booleans()) else [a, other], axis=axis)

    def pad(self, a):
        if a.ndim == 0:
            return None
        widths = [(0, 0) if not isinstance(d, int) else (self.draw(st.integers(0, 2)), self.draw(st.integers(0, 2)))
                  for d in a.shape]
        value = self.draw(st.sampled_from([0.0, 0.5, -1.0]))
        self.log.append(f"pad {widths} {value}")
        return sb.pad(a, widths, value=value)

    def take(self, a):
        axes = [i for i, d in enumerate(a.shape) if isinstance(d, int)]
        if not axes:
            return None
        axis = self.draw(st.sampled_from(axes), label="take axis")
        d = a.shape[axis]
        shape = self.draw(st.sampled_from([(1,), (3,), (2, 2)]), label="indices shape")
        indices = self.rng.integers(-d, d, size=shape)
        self.log.append(f"take {indices.tolist()} {axis}")
        return sb.take(a, indices, axis=axis)

    def _spatial(self, a):
        """(channels axis present, spatial dims) when ``a`` can be read as (N, C, *spatial)."""
        if a.ndim < 3 or a.ndim > 4 or not all(isinstance(d, int) for d in a.shape[1:]):
            return None
        return a.ndim - 2

    def conv(self, a):
        d = self._spatial(a)
        if d is None:
            return None
        stride = tuple(self.draw(st.integers(1, 2)) for _ in range(d))
        padding = tuple(self.draw(st.integers(0, 1)) for _ in range(d))
        kernel = tuple(self.draw(st.integers(1, s + 2 * p)) for s, p in zip(a.shape[2:], padding))
        out = self.draw(st.integers(1, 2), label="out channels")
        w = self.new_leaf((out, a.shape[1]) + kernel, "param")
        b = self.new_leaf((out,), "param") if self.draw(st.booleans(), label="conv bias") else None
        self.log.append(f"conv kernel={kernel} stride={stride} padding={padding} out={out} bias={b is not None}")
        return (sb.conv2d if d == 2 else sb.conv1d)(a, w, b, stride=stride, padding=padding)

    def pooling(self, a):
        d = self._spatial(a)
        if d is None:
            return None
        kernel = tuple(self.draw(st.integers(1, s)) for s in a.shape[2:])
        stride = tuple(self.draw(st.integers(1, 2)) for _ in range(d))
        kind = self.draw(st.sampled_from(["max", "avg"]), label="pool kind")
        if kind == "max":  # the windows' two largest values apart, so finite differences see no kink
            v = np.lib.stride_tricks.sliding_window_view(self.value(a), kernel, axis=tuple(range(2, 2 + d)))
            v = v[(Ellipsis,) + tuple(slice(None, None, s) for s in stride) + (slice(None),) * d]
            flat = np.sort(v.reshape(v.shape[:v.ndim - d] + (-1,)), axis=-1)
            if flat.shape[-1] > 1 and (flat[..., -1] - flat[..., -2]).min() <= MARGIN:
                kind = "avg"
        self.log.append(f"{kind}_pool kernel={kernel} stride={stride}")
        fn = {("max", 2): sb.max_pool2d, ("avg", 2): sb.avg_pool2d, ("max", 1): sb.max_pool1d,
              ("avg", 1): sb.avg_pool1d}[kind, d]
        return fn(a, kernel, stride)

    # ---- the graph -----------------------------------------------------------------------
    def build(self, max_steps=8):
        self.pool.append(self.new_leaf((N, self.draw(st.integers(1, 3))), "input"))
        extra = self.draw(st.sampled_from(["none", "param", "input3d", "input4d"]))
        if extra == "param":
            self.pool.append(self.new_leaf((self.draw(st.integers(1, 3)), self.draw(st.integers(1, 3))), "param"))
        elif extra == "input3d":
            self.pool.append(self.new_leaf((N, 2, self.draw(st.integers(1, 3))), "input"))
        elif extra == "input4d":  # images: convolution and pooling have something to work on
            self.pool.append(self.new_leaf((N, self.draw(st.integers(1, 2)), self.draw(st.integers(2, 4)),
                                            self.draw(st.integers(2, 4))), "input"))
        for _ in range(self.draw(st.integers(1, max_steps), label="steps")):
            a = self.draw(st.sampled_from(self.pool), label="operand")
            op = self.draw(st.sampled_from(OPS), label="op")
            node = getattr(self, op)(a)
            if node is None:
                node = self.unary(a)
            self.pool.append(self.tame(node))
        # the loss reads every pool node no later node reads, so every op built is differentiated
        loss, covered = None, set()
        for node in reversed(self.pool):
            if node in covered:
                continue
            covered.update(topo_order([node]))
            if all(simple(d) for d in node.shape):
                r = self.new_leaf(node.shape, "input" if N in node.shape else
                                  self.draw(st.sampled_from(["param", "array"])))
                term = sb.sum(node * r)
            else:
                term = sb.sum(sb.sin(node))
            loss = term if loss is None else loss + term
        if len(self.pool) > 1 and self.draw(st.booleans(), label="reuse"):
            loss = loss + sb.mean(sb.tanh(self.draw(st.sampled_from(self.pool[:-1]))))
        return loss

    def args(self, f):
        return {name: self.feeds[name] for name in f.arg_names}


def _fd_atol(loss_value):
    # the stencil's rounding error is ~ eps·|L|/h; this floor is far below 1e-6 of any real gradient
    return 1e-9 * (1.0 + abs(float(loss_value)))


@settings(max_examples=100, **SETTINGS)
@given(data=st.data())
def test_random_graph_values_and_gradients(data):
    g = Builder(data)
    loss = g.build()
    grads = sb.grad(loss, g.leaves)
    # every pool node (pool[0] is an input with the batch axis, so the batch size is known even when
    # every gradient is a constant: test_autodiff.py::test_grad_of_an_unused_batch_input_has_the_batch_shape)
    nodes = g.pool + [loss] + [grads[leaf] for leaf in g.leaves]
    f = sb.compile(nodes, backend="numpy")
    got = f(**g.args(f))
    want = sb.evaluate(nodes, g.feeds)
    assert len(got) == len(nodes)
    # a value that cancels to 0 (x − x after a rewrite) carries rounding of its terms, not of
    # itself: an absolute floor of a few ulp of the largest value in the graph
    floor = 1e-15 * max((float(np.max(np.abs(b), initial=0.0)) for b in want), default=0.0) + 1e-300
    for node, a, b in zip(nodes, got, want):
        assert a.shape == g.concrete(node.shape) and a.dtype == np.float64, node.describe()
        assert_rel(a, b, rtol=1e-12, atol=floor, what=f"compile vs evaluate of {node.describe()} ({g.log})")

    fd = fd_grads(loss, g.feeds, [leaf.name for leaf in g.leaves])
    atol = _fd_atol(want[len(g.pool)])
    for leaf, c in zip(g.leaves, got[len(g.pool) + 1:]):
        assert_rel(c, fd[leaf.name], rtol=1e-6, atol=atol, what=f"dL/d{leaf.name} vs finite differences ({g.log})")


@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_random_graph_hessian_vector_products(data):
    g = Builder(data)
    loss = g.build(max_steps=5)
    grads = sb.grad(loss, g.leaves)
    directions = {leaf.name: g.rng.normal(size=g.concrete(leaf.shape)) for leaf in g.leaves}
    vs = {leaf: sb.input(f"v_{leaf.name}", user_shape(leaf.shape)) for leaf in g.leaves}
    s = sum(sb.sum(grads[leaf] * vs[leaf]) for leaf in g.leaves)
    hv = sb.grad(s, g.leaves)
    outs = [hv[leaf] for leaf in g.leaves]
    f = sb.compile(outs + [g.pool[0]], backend="numpy")  # pool[0]: the batch size is known
    feeds = {**g.feeds, **{f"v_{k}": v for k, v in directions.items()}}
    got = np.concatenate([a.ravel() for a in f(**{k: feeds[k] for k in f.arg_names})[:-1]])

    first = [grads[leaf] for leaf in g.leaves]

    def grad_at(t):
        moved = {**g.feeds, **{k: g.feeds[k] + t * v for k, v in directions.items()}}
        return np.concatenate([a.ravel() for a in sb.evaluate(first + [g.pool[0]], moved)[:-1]])

    want = central(grad_at)
    scale = np.abs(grad_at(0.0)).max(initial=0) + abs(float(sb.evaluate([loss], g.feeds)[0]))
    assert_rel(got, want, rtol=1e-6, atol=1e-9 * (1 + scale), what=f"Hessian-vector product ({g.log})")


def cast_graph(nodes, dtype):
    """The same graph rebuilt through the public constructors with float leaves of ``dtype``."""
    new = {}
    for node in topo_order(nodes):
        a = [new[x] for x in node.args]
        op = node.op
        if op in ("input", "param"):
            d = dtype if node.dtype != "int64" else "int64"
            new[node] = getattr(sb, op)(node.name, user_shape(node.shape), dtype=d)
        elif op == "const":
            arr = node.attrs[0].array
            new[node] = sb.const(arr.astype(dtype) if arr.dtype.kind == "f" else arr)
        elif op == "map" and not a:  # a body of N alone: its dtype comes from a folded constant
            one = sp.Symbol("one", real=True)
            new[node] = sb.apply(node.attrs[0].expr * one, {one: sb.const(np.ones((), dtype))})
        elif op == "map":
            new[node] = sb.map(node.attrs[0], *a)
        elif op == "matmul":
            new[node] = sb.matmul(*a)
        elif op == "reduce":
            new[node] = sb.reduce(node.attrs[0], a[0], node.attrs[1])
        elif op == "transpose":
            new[node] = sb.transpose(a[0], node.attrs[0])
        elif op in ("broadcast_to", "reshape"):
            new[node] = getattr(sb, op)(a[0], node.shape)
        elif op == "onehot":
            new[node] = sb.onehot(a[0], node.attrs.k, dtype=dtype)
        else:  # the other primitives keep the dtype of their operands
            from symbackprop.primitives import definition
            new[node] = definition(node).make(a, node.attrs)
    return [new[n] for n in nodes]


@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_random_graph_in_float32(data):
    g = Builder(data)
    loss = g.build(max_steps=5)
    grads = sb.grad(loss, g.leaves)
    nodes64 = [loss] + [grads[leaf] for leaf in g.leaves] + [g.pool[0]]  # pool[0]: the batch size
    loss32, *leaves32 = cast_graph([loss] + g.leaves, "float32")
    grads32 = sb.grad(loss32, leaves32)  # derived in float32, as a user would
    nodes32 = [loss32] + [grads32[leaf] for leaf in leaves32] + [leaves32[0]]
    assert leaves32[0].name == g.pool[0].name
    for node in topo_order(nodes32):
        assert node.dtype in ("float32", "int64"), node.describe()
    feeds32 = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in g.feeds.items()}
    f = sb.compile(nodes32, backend="numpy")
    got = f(**{k: feeds32[k] for k in f.arg_names})
    ev32 = sb.evaluate(nodes32, feeds32)
    # the float64 reference on the float32-rounded inputs, so only the arithmetic differs
    want = sb.evaluate(nodes64, {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in feeds32.items()})
    for a, b, c in zip(got, ev32, want):
        assert a.dtype == np.float32
        # fused and simplified float32 arithmetic rounds differently from the evaluator's, and a sum
        # with cancellation loses relative accuracy: 1e-4 here, 1e-5 on the fixed model of test_compile
        assert_rel(a, b, rtol=1e-4, atol=1e-5, what=f"float32 compile vs float32 evaluate ({g.log})")
        assert_rel(a, c, rtol=1e-4, atol=1e-5, what=f"float32 vs float64 ({g.log})")


# ---- every compiled backend against the evaluator ------------------------------------------
# Each example compiles a new kernel (numba ~1 s, llvm ~0.2 s), so each backend has its own
# example budget; CI draws the same examples every run (conftest's "ci" profile).  A backend
# added to codegen.BACKENDS is tested here without a new line (default budget below).
# SYMBACKPROP_BACKEND_EXAMPLES=500 explores more locally.
BACKEND_EXAMPLES = {"numba": 15, "llvm": 40, "jax": 25}
DEFAULT_BACKEND_EXAMPLES = 15
if os.environ.get("SYMBACKPROP_BACKEND_EXAMPLES"):
    BACKEND_EXAMPLES = dict.fromkeys(BACKEND_EXAMPLES, int(os.environ["SYMBACKPROP_BACKEND_EXAMPLES"]))
    DEFAULT_BACKEND_EXAMPLES = int(os.environ["SYMBACKPROP_BACKEND_EXAMPLES"])


def _agrees_with_the_evaluator(backend, data):
    g = Builder(data)
    loss = g.build()
    grads = sb.grad(loss, g.leaves)
    nodes = g.pool + [loss] + [grads[leaf] for leaf in g.leaves]
    f = sb.compile(nodes, backend=backend)
    got = f(**g.args(f))
    want = sb.evaluate(nodes, g.feeds)
    # reassociated sums and fused multiply-adds round differently from numpy's order: the floor
    # is a few ulp of the largest value in the graph, the relative tolerance the contract's 1e-10
    floor = 1e-14 * max((float(np.max(np.abs(b), initial=0.0)) for b in want), default=0.0) + 1e-300
    for node, a, b in zip(nodes, got, want):
        assert a.shape == g.concrete(node.shape) and a.dtype == np.float64, node.describe()
        assert_rel(a, b, rtol=1e-10, atol=floor, what=f"{backend} vs evaluate of {node.describe()} ({g.log})")


def _backend_test(backend):
    @pytest.mark.slow
    @settings(max_examples=BACKEND_EXAMPLES.get(backend, DEFAULT_BACKEND_EXAMPLES), **SETTINGS)
    @given(data=st.data())
    def test(data):
        _agrees_with_the_evaluator(backend, data)

    import codegen
    if codegen.unavailable(backend):  # an optional backend whose library is not installed
        test = pytest.mark.skip(reason=codegen.unavailable(backend))(test)

    test.__name__ = f"test_random_graph_on_the_{backend}_backend_agrees_with_the_evaluator"
    return test


def _compiled_backends():
    import codegen
    return [name for name in sorted(codegen.BACKENDS) if name != "numpy"]


for _name in _compiled_backends():
    globals()[f"test_random_graph_on_the_{_name}_backend_agrees_with_the_evaluator"] = _backend_test(_name)
