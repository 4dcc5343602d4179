"""The kernel program: what ``symbackprop.lower`` produces and every backend translates.

Named buffers plus a list of steps over them.  Each step kind is one frozen dataclass here,
saying what it reads (``reads()``), writes (its ``out``) and computes (``describe()``); a
backend has one translation per step kind.  Shapes hold ints and the batch symbol
``N``; elementwise bodies are ``sympy.Lambda`` objects.  Nothing here knows the graph API.

>>> import sympy as sp
>>> x = sp.Symbol("x0", real=True)
>>> p = Program(buffers={"a": Buffer("a", (3,), "float64", "input"),
...                      "t0": Buffer("t0", (3,), "float64", "temp")},
...             steps=(Map("t0", ("a",), sp.Lambda(x, 2 * x)),), args=("a",), consts={},
...             outputs=("t0",))
>>> print(p.describe())
t0 = map(a): 2*x0
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Buffer:
    """A named array of the program; ``role`` is input, param, const, temp, or in training
    programs data (the whole data set), state (an optimizer's) or control (the driver's)."""
    name: str
    shape: tuple
    dtype: str
    role: str


@dataclass(frozen=True)
class Map:
    """out[...] = body(ins[0][...], ins[1][...], ..., N), numpy broadcasting of ins."""
    out: str
    ins: tuple
    body: object

    def reads(self):
        return self.ins

    def describe(self):
        return f"{self.out} = map({', '.join(self.ins)}): {self.body.expr}"


@dataclass(frozen=True)
class MatMul:
    """out = op(a) @ op(b) with op a transpose when the flag is set."""
    out: str
    a: str
    b: str
    trans_a: bool = False
    trans_b: bool = False

    def reads(self):
        return (self.a, self.b)

    def describe(self):
        return f"{self.out} = {self.a}{'ᵀ' if self.trans_a else ''} @ {self.b}{'ᵀ' if self.trans_b else ''}"


@dataclass(frozen=True)
class Reduce:
    """out = kind(x, axes) for kind in sum, max, logsumexp."""
    out: str
    x: str
    kind: str
    axes: tuple

    def reads(self):
        return (self.x,)

    def describe(self):
        return f"{self.out} = {self.kind}({self.x}, axes={self.axes})"


@dataclass(frozen=True)
class Transpose:
    """out = transpose(x, perm)."""
    out: str
    x: str
    perm: tuple

    def reads(self):
        return (self.x,)

    def describe(self):
        return f"{self.out} = transpose({self.x}, {self.perm})"


@dataclass(frozen=True)
class Broadcast:
    """out = x broadcast to out's shape."""
    out: str
    x: str

    def reads(self):
        return (self.x,)

    def describe(self):
        return f"{self.out} = broadcast({self.x})"


@dataclass(frozen=True)
class Reshape:
    """out = x reshaped to out's shape (same elements, C order)."""
    out: str
    x: str

    def reads(self):
        return (self.x,)

    def describe(self):
        return f"{self.out} = reshape({self.x})"


@dataclass(frozen=True)
class OneHot:
    """out[i, c] = 1 if labels[i] == c else 0, c < k."""
    out: str
    labels: str
    k: int

    def reads(self):
        return (self.labels,)

    def describe(self):
        return f"{self.out} = onehot({self.labels}, {self.k})"


def comment(text):
    """``text`` made safe for a one-line comment of generated source or IR: characters that
    could end the line (newline, carriage return, other separators and controls) are written
    as escapes, so no text from a model (a name, a formula) can become code.

    >>> comment("weight\\nimport os")
    'weight\\\\nimport os'
    """
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


@dataclass(frozen=True)
class Slice:
    """out[i...] = x[begin + i·step ...], per axis of x; an axis with keep False is indexed by
    its begin and absent from out."""
    out: str
    x: str
    begin: tuple
    step: tuple
    keep: tuple

    def reads(self):
        return (self.x,)

    def describe(self):
        parts = [f"{b}::{s}" if k else str(b) for b, s, k in zip(self.begin, self.step, self.keep)]
        return f"{self.out} = {self.x}[{', '.join(parts)}]"


@dataclass(frozen=True)
class View:
    """No code: ``out`` names elements of ``x`` in place, element i... at flat position
    offset + Σ i_d·strides_d of x (a slice read only by maps, which index x through it)."""
    out: str
    x: str
    offset: object
    strides: tuple

    def reads(self):
        return (self.x,)

    def describe(self):
        return f"{self.out} = view({self.x}, offset={self.offset}, strides={self.strides})"


@dataclass(frozen=True)
class Pad:
    """out = value everywhere, then out[low + i·(interior + 1) ...] = x[i ...] per axis."""
    out: str
    x: str
    low: tuple
    interior: tuple
    value: float

    def reads(self):
        return (self.x,)

    def describe(self):
        return f"{self.out} = pad({self.x}, low={self.low}, interior={self.interior}, value={self.value:g})"


@dataclass(frozen=True)
class Concat:
    """out = the ins joined along ``axis`` (in order)."""
    out: str
    ins: tuple
    axis: int

    def reads(self):
        return self.ins

    def describe(self):
        return f"{self.out} = concat({', '.join(self.ins)}, axis={self.axis})"


@dataclass(frozen=True)
class Take:
    """out[a..., j..., b...] = x[a..., indices[j...], b...] with ``indices`` an int64 constant
    buffer and a... the axes before ``axis``."""
    out: str
    x: str
    indices: str
    axis: int

    def reads(self):
        return (self.x, self.indices)

    def describe(self):
        return f"{self.out} = take({self.x}, {self.indices}, axis={self.axis})"


@dataclass(frozen=True)
class ScatterAdd:
    """out = 0, then out[a..., indices[j...], b...] += g[a..., j..., b...]: repeated indices add up."""
    out: str
    g: str
    indices: str
    axis: int

    def reads(self):
        return (self.g, self.indices)

    def describe(self):
        return f"{self.out} = scatter_add({self.g}, {self.indices}, axis={self.axis})"


@dataclass(frozen=True)
class Conv:
    """One of the three partial derivatives of B = Σ g[n,o,y]·x[n,c,y·s+k−p]·w[o,c,k] (x zero
    outside its range; y, k over every spatial axis): ``mode`` forward computes g = conv(a=x,
    b=w), input computes x from (a=g, b=w), weight computes w from (a=x, b=g).  The shapes
    of the operands and of out give every size."""
    out: str
    a: str
    b: str
    mode: str
    stride: tuple
    padding: tuple

    def reads(self):
        return (self.a, self.b)

    def describe(self):
        return f"{self.out} = conv_{self.mode}({self.a}, {self.b}, stride={self.stride}, padding={self.padding})"


@dataclass(frozen=True)
class Pool:
    """Windows of ``kernel`` moved by ``stride`` over the trailing axes: ``mode`` max or avg
    pools ins[0]; unpool_max adds ins[1] (δ, pooled shape) at each window's first argmax of
    ins[0]; unpool_avg spreads ins[0] (δ) evenly over each window (out's shape gives the
    size); pick reads ins[1] at each window's first argmax of ins[0]."""
    out: str
    ins: tuple
    mode: str
    kernel: tuple
    stride: tuple

    def reads(self):
        return self.ins

    def describe(self):
        return f"{self.out} = pool_{self.mode}({', '.join(self.ins)}, kernel={self.kernel}, stride={self.stride})"


def reads(step):
    """The buffer names a step reads (each step kind says so itself: ``step.reads()``).

    >>> reads(MatMul("c", "a", "b"))
    ('a', 'b')
    """
    return step.reads()


def writes(step):
    """The buffer a step writes: every step writes exactly its ``out``.

    >>> writes(MatMul("c", "a", "b"))
    'c'
    """
    return step.out


@dataclass(frozen=True)
class Program:
    """Buffers, steps, the names passed in at call time (``args``), constant arrays
    (passed to kernels as arguments, never baked in), and the buffers returned."""
    buffers: dict
    steps: tuple
    args: tuple
    consts: dict
    outputs: tuple
    origins: dict = field(default_factory=dict)   # buffer name -> the graph formula it computes
    aliases: dict = field(default_factory=dict)   # view buffer -> the buffer it reshapes
    slots: dict = field(default_factory=dict)       # temp buffer -> (dtype, slot in that dtype's arena)
    slot_sizes: dict = field(default_factory=dict)  # dtype -> elements of each slot (may contain N)

    def describe(self):
        """The steps one a line, for debugging and golden tests."""
        return "\n".join(step.describe() for step in self.steps)


@dataclass(frozen=True)
class Gather:
    """The rows of a minibatch: out[r, ...] = src[rows[r], ...] for r < n (``src`` holds the
    whole data set; ``rows`` the batch's row numbers, int64)."""
    out: str
    src: str
    rows: str

    def reads(self):
        return (self.src, self.rows)

    def describe(self):
        return f"{self.out} = {self.src}[{self.rows}]"


@dataclass(frozen=True)
class Update:
    """An optimizer step on one param, in place: for every element, the ``rules`` (target,
    sympy body) applied in order, each seeing the targets updated before it, over the symbols
    p (the param ``out``), g (``grad``), t and the hyperparameters (``hyper[0]`` is the step
    number t, ``hyper[1 + j]`` the value of ``hyper_names[j]``) and the ``names`` of the
    optimizer's state (buffers ``state``).  Writes the param and the state, and
    ``check[index] = Σ (g·0 + new values·0)``: 0 when all are finite, NaN otherwise (a sum
    that cannot overflow)."""
    out: str
    grad: str
    state: tuple
    names: tuple
    hyper: str
    hyper_names: tuple
    rules: tuple
    check: str
    index: int

    def reads(self):
        return (self.out, self.grad, *self.state, self.hyper)

    def writes(self):
        return (self.out, *self.state, self.check)

    def describe(self):
        rules = "; ".join(f"{t} <- {e}" for t, e in self.rules)
        return f"update {self.out} with {self.grad}: {rules}"


@dataclass(frozen=True)
class SquaredNorms:
    """The squared L2 norms of gradients, into a float64 control buffer (the training
    program's ``hyper``): ``out[offset + i] = Σ grads[i]²`` for each i (summed in float64 in
    any order), then ``out[offset + len(grads)] = Σ_i out[offset + i]``, the total.  Runs
    after the backward pass and before the ``Update`` steps, whose rules may read the total
    (gradient-norm clipping); the driver reads the per-gradient values (gradient-flow
    records)."""
    out: str
    grads: tuple
    offset: int

    def reads(self):
        return self.grads

    def describe(self):
        return f"{self.out}[{self.offset}:{self.offset + len(self.grads) + 1}] = squared_norms({', '.join(self.grads)})"


@dataclass(frozen=True)
class TrainingProgram:
    """One training step as a kernel program, and what a driver needs to loop it over
    minibatches.

    ``step`` gathers the minibatch (``Gather`` from the data buffers ``x``/``y`` by the
    ``rows`` buffer), computes the loss (buffer ``loss``) and the gradients, and updates every
    param in place (``Update``), writing each param's finiteness sum into ``check``.  Its
    arguments are the data, ``rows``, the params, their optimizer state, ``hyper`` (the step
    number t, then the hyperparameters) and ``check``.  A driver runs it once per minibatch:
    it sets ``rows`` and t, and stops at a non-finite loss or check (the step was applied).
    With ``epoch_slot`` and ``norms_slot`` set it also writes the epoch number and records
    the gradient norms (see those fields)."""
    step: Program
    x: str
    y: str
    rows: str
    loss: str
    params: tuple      # param buffer names, in the order of the Trainer's params
    state: tuple       # per param: its state buffer names
    hyper: str
    hyper_values: tuple  # the hyperparameters' names, in the order of hyper[1:]
    check: str
    #: hyper[epoch_slot]: the epoch number; at the start of each epoch e (0-based within one
    #: call) the driver sets it to e0 + e, e0 being the value it held when the call began
    epoch_slot: object = None
    #: hyper[norms_slot + i]: ‖∂L/∂param i‖² of the last step (``SquaredNorms``); the driver
    #: records each epoch's mean over its steps of their square roots
    norms_slot: object = None


@dataclass(frozen=True)
class DropoutMask:
    """An inverted-dropout mask drawn from a counter-based hash, identical on every backend:
    out[i] = ``scale`` if keep(i) else 0 for every element i of out (flat C order over the
    (n, ...) buffer of the minibatch), reading the seed from ``seed`` (an int64 constant
    buffer, element 0) and the step number t from ``hyper`` (float64, element 0, an integer).

    In unsigned 64-bit arithmetic (wrapping), with G = 0x9E3779B97F4A7C15 and
    mix(z) = (z ⊕ z≫30)·0xBF58476D1CE4E5B9, then (z ⊕ z≫27)·0x94D049BB133111EB, then z ⊕ z≫31
    (splitmix64's finaliser):

        key = mix(mix(seed + G·(stream + 1)) + G·t)
        keep(i) = mix(key + G·(i + 1)) ≫ 11  ≥  threshold

    where ``threshold`` = ⌈p·2⁵³⌉ (the top 53 bits as a uniform number u in [0, 1): keep when
    u ≥ p) and ``scale`` = 1/(1 − p) rounded to out's dtype."""
    out: str
    seed: str
    hyper: str
    stream: int
    threshold: int
    scale: float

    def reads(self):
        return (self.seed, self.hyper)

    def describe(self):
        return f"{self.out} = dropout_mask(seed={self.seed}, t={self.hyper}[0], stream={self.stream}, " \
               f"keep if u >= {self.threshold}/2^53, scale={self.scale!r})"
