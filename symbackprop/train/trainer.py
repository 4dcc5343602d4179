"""``sb.Trainer``: build the loss graph of a network, derive its gradient, compile, train.

>>> import numpy as np, symbackprop as sb
>>> X = np.linspace(-1, 1, 40)[:, None]; Y = 3 * X - 1
>>> tr = sb.Trainer(sb.nn.Linear(1, 1), loss="mse", optimizer=sb.optim.SGD(lr=0.5), seed=0)
>>> hist = tr.fit(X, Y, epochs=200, batch_size=40)
>>> np.round(tr.params["weight"], 6), np.round(tr.params["bias"], 6)
(array([[3.]]), array([-1.]))
"""

import time
from dataclasses import dataclass, field

import numpy as np

from codegen.auto import resolve as resolve_backend
from symbackprop.autodiff import grad
from symbackprop.blame import raised_by_us
from symbackprop.compiled import compile, compile_training
from symbackprop.errors import (ArgumentError, CompileError, DTypeError, ShapeError, SymbackpropError,
                                TrainingDiverged)
from symbackprop.graph import ops
from symbackprop.graph.node import Expr
from symbackprop.graph.rewrite import substitute
from symbackprop.graph.traverse import leaves
from symbackprop.nn.losses import LOSSES
from symbackprop.nn.modules import Module, building
from symbackprop.optim import SGD, Optimizer
from symbackprop.train import data
from symbackprop.train.updates import Updater

#: most minibatch-order entries (int64) one native call of a fused training loop receives:
#: 32 MB of permutations, so ``fit`` without a progress bar runs W1's 1000 epochs in one call
PERM_ELEMENTS = 1 << 22


@dataclass
class History:
    """What ``fit`` did: ``loss`` holds one mean training loss per epoch; ``grad_norms``
    {param name: one number per epoch}, the mean over the epoch's minibatch steps of the L2
    norm of that param's gradient (before any clipping), recorded inside the training loop."""
    loss: list = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    grad_norms: dict = field(default_factory=dict)

    @property
    def epochs(self):
        return len(self.loss)

    @property
    def seconds_per_step(self):
        return self.seconds / self.steps if self.steps else float("nan")

    def _repr_html_(self):
        from symbackprop.render.notebook import history_html
        return history_html(self)


class Trainer:
    """Train ``net`` (an ``sb.nn`` module) with a loss and an optimizer.

    ``backend`` is ``"auto"`` (llvm, else numba, else numpy: the fastest that imports),
    ``"llvm"``, ``"numba"``, ``"numpy"`` (the reference) or ``"jax"`` (XLA: CPUs, GPUs, TPUs).

    ``devices`` (jax only): None for every device of JAX's default platform (the GPUs when
    there are any), an int k for the first k, or a list of JAX devices; each minibatch is
    sharded over them along the batch axis (``batch_size`` must divide by their number),
    params and optimizer state replicated.  ``tr.devices`` lists the devices used (None on
    the other backends, which run on one CPU core).

    ``loss`` is ``"mse"``, ``"bce"`` (logits), ``"cross_entropy"`` (logits, int labels),
    ``"hinge"`` (labels ±1), a callable ``loss(yhat, y) -> scalar Expr``, or a scalar Expr over
    inputs named ``yhat`` and ``y``.  The graph is built on the first call that sees data.

    ``clip_grad_norm`` scales every gradient by min(1, max_norm / (total norm + 1e-6)), the
    total norm taken over all params' gradients (``torch.nn.utils.clip_grad_norm_``);
    ``clip_grad_value`` clamps each gradient element to [−v, v] (``clip_grad_value_``);
    ``lr_scheduler`` (``sb.optim.lr_scheduler.StepLR`` or ``CosineAnnealingLR``) sets the
    learning rate of each epoch, as PyTorch's scheduler stepped once after every epoch.  All
    three run inside the fused training loop, before each optimizer update.
    """

    def __init__(self, net, loss="mse", optimizer=None, backend="auto", dtype="float64", seed=0,
                 clip_grad_norm=None, clip_grad_value=None, lr_scheduler=None, devices=None):
        if not isinstance(net, Module):
            raise ArgumentError(f"Trainer: net must be an sb.nn module, got {type(net).__name__}")
        if isinstance(loss, str) and loss not in LOSSES:
            raise ArgumentError(f"Trainer: unknown loss {loss!r}; use one of {', '.join(LOSSES)}, a callable or an Expr")
        if not isinstance(loss, (str, Expr)) and not callable(loss):
            raise ArgumentError(f"Trainer: loss must be a name, a callable or an Expr, got {type(loss).__name__}")
        if dtype not in ops.FLOAT_DTYPES:
            raise DTypeError(f"Trainer: dtype must be one of {', '.join(ops.FLOAT_DTYPES)}, got {dtype!r}")
        if isinstance(backend, str):
            backend = resolve_backend(backend)  # "auto": the fastest backend that imports
        self.net, self.loss, self.backend, self.dtype, self.seed = net, loss, backend, dtype, seed
        self.devices = _devices(backend, devices)
        self.optimizer = optimizer if optimizer is not None else SGD(lr=0.01)
        if not isinstance(self.optimizer, Optimizer):
            hint = f" (e.g. sb.optim.{'Adam' if str(optimizer).lower() == 'adam' else 'SGD'}(lr=0.01))" \
                if isinstance(optimizer, str) else ""
            raise ArgumentError(f"Trainer: optimizer must be an sb.optim optimizer object{hint}, got "
                                f"{type(self.optimizer).__name__} {self.optimizer!r}")
        from symbackprop.optim.options import check_options
        self._options = check_options(clip_grad_norm, clip_grad_value, lr_scheduler)
        self._epochs_done = 0  # epochs trained so far, over every fit: the schedule's epoch number
        init_seed, self._shuffle_seed, mask_seed = np.random.SeedSequence(seed).spawn(3)
        self._params = net.init_params(seed=init_seed, dtype=dtype)
        self._buffers = net.init_buffers(dtype=dtype)  # running statistics (BatchNorm), by PyTorch's names
        #: the seed of dropout masks inside ``fit`` (``codegen.program.DropoutMask``)
        self.dropout_seed = int(mask_seed.generate_state(1, np.uint64)[0]) & ((1 << 63) - 1)
        self._rng = np.random.default_rng(self._shuffle_seed)
        self._built_for = None
        self._grad_exprs = None
        self._updater = None
        self._train_fn = None

    # ---- graph --------------------------------------------------------------------------
    def build(self, n_features):
        """Build graphs and compiled functions for inputs with ``n_features`` features."""
        if self._built_for == n_features:
            return
        x = ops.input("x", (None,) + tuple(n_features), self.dtype)
        with building(training=True) as record:  # batch statistics, dropout; predict builds the eval graph
            out = self.net(x)
        self._stats, self._masks = list(record.stats), list(record.masks)
        if out.ndim != 2:
            raise ShapeError(f"Trainer: the network's output must be (N, k), got {out.describe()}")
        self.out_dim = out.shape[1]
        kind = self.loss if isinstance(self.loss, str) else "custom"
        if kind == "cross_entropy":
            y = ops.input("y", (None,), "int64")
        else:
            y = ops.input("y", (None, self.out_dim), self.dtype)
        self.x, self.y, self.output = x, y, out
        self.loss_expr = self._loss_graph(out, y)
        self.param_nodes = {n.name: n for n in leaves([self.loss_expr]) if n.op == "param"}
        missing = [name for name, _ in self.net.parameter_shapes() if name not in self.param_nodes]
        if missing:
            raise ShapeError(f"Trainer: params {missing} do not reach the loss")
        self._grad_exprs = None  # derived on first use: the fused loop derives its own
        names = list(self.param_nodes)
        self._names = names
        if self.backend not in _backends():
            raise CompileError(f"Trainer: unknown backend {self.backend!r}; available: {', '.join(_backends())}")
        self._compiled = {}  # built on first use: fit on a fused backend needs neither
        self._built_for = n_features
        self._train_fn = None
        if self._updater is None:
            self._updater = Updater(self.optimizer, self._params)

    @property
    def grad_exprs(self):
        """{param node: ∂loss/∂param} as graph nodes (derived once, on first use).

        >>> import numpy as np, symbackprop as sb
        >>> tr = sb.Trainer(sb.nn.Linear(2, 1), backend="numpy"); tr.build((2,))
        >>> sorted(p.name for p in tr.grad_exprs)
        ['bias', 'weight']
        """
        if self._grad_exprs is None:
            self._grad_exprs = grad(self.loss_expr, list(self.param_nodes.values()))
        return self._grad_exprs

    def _function(self, which):
        """The compiled ``step`` (loss and gradients) or ``predict`` function, built once."""
        if which not in self._compiled:
            if which == "step":
                outputs = [self.loss_expr] + [self.grad_exprs[self.param_nodes[n]] for n in self._names]
            else:
                with building(training=False):
                    outputs = self.net(self.x)
            self._compiled[which] = compile(outputs, backend=self.backend)
        return self._compiled[which]

    def _loss_graph(self, out, y):
        loss = self.loss
        if isinstance(loss, str):
            L = LOSSES[loss](out, y)
        elif isinstance(loss, Expr):
            named = {n.name: n for n in leaves([loss]) if n.op == "input"}
            if "yhat" not in named:
                raise ShapeError("Trainer: a loss Expr must use an input named 'yhat' for the network's output")
            mapping = {named["yhat"]: out}
            if "y" in named:
                mapping[named["y"]] = y
            L = substitute([loss], mapping)[0]
        else:
            L = _call_loss(loss, out, y)
        if not isinstance(L, Expr) or L.shape != ():
            raise ShapeError(f"Trainer: the loss must be a scalar Expr, got {getattr(L, 'shape', L)!r}")
        return L

    def _prepare(self, X, Y=None):
        X = data.features(X, self.dtype)
        self.build(X.shape[1:])
        if Y is None:
            return X, None
        kind = self.loss if isinstance(self.loss, str) else "custom"
        Y = data.targets(Y, kind, self.out_dim, self.dtype)
        if Y.shape[0] != X.shape[0]:
            raise ShapeError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
        return X, Y

    # ---- public -------------------------------------------------------------------------
    @property
    def params(self):
        """Current params {name: array} with PyTorch's state_dict names (copies)."""
        return {k: v.copy() for k, v in self._params.items()}

    @params.setter
    def params(self, values):
        for name, value in values.items():
            if name not in self._params:
                raise KeyError(f"no param named {name!r}; params are {', '.join(self._params)}")
            value = np.asarray(value, dtype=self.dtype)
            if value.shape != self._params[name].shape:
                raise ShapeError(f"param {name}: expected shape {self._params[name].shape}, got {value.shape}")
            self._params[name][...] = value

    def predict(self, X):
        """The network's output on X (raw scores: logits for bce and cross_entropy)."""
        X, _ = self._prepare(X)
        f = self._function("predict")
        feeds = {"x": X, **self._params, **self._buffers}
        return f(**{k: v for k, v in feeds.items() if k in f.arg_names})

    def gradients(self, X, Y):
        """(loss, {name: ∂loss/∂param}) on all of X, Y at the current params."""
        X, Y = self._prepare(X, Y)
        loss, *grads = self._function("step")(x=X, y=Y, **self._params, **self.dropout_masks(X.shape[0]))
        return float(loss), dict(zip(self._names, grads))

    def fit(self, X, Y, epochs=1, batch_size=None, shuffle=True, verbose=None):
        """Train for ``epochs`` over shuffled minibatches (the last one may be smaller; a
        batch as large as the data is the whole data, unshuffled).

        Returns a ``History`` with the mean training loss of each epoch.  Stops with
        ``TrainingDiverged`` naming the epoch, the step and the loss or param that went NaN/inf;
        a step that meets NaN/inf changes nothing, so the params keep their last finite values.
        Compiled backends run whole chunks of epochs in one native call; a progress bar
        (tqdm) advances between chunks when ``verbose`` is true, or by default on a terminal.
        """
        X, Y = self._prepare(X, Y)
        n = X.shape[0]
        bs = n if batch_size is None else _count("batch_size", batch_size, minimum=1)
        bs = min(bs, n)  # a batch larger than the data is the whole data
        if self.devices is not None and len(self.devices) > 1 and bs % len(self.devices):
            k = len(self.devices)
            raise ArgumentError(f"fit: batch_size={bs} does not divide over the {k} devices (each device takes an "
                                f"equal share of every minibatch); use a multiple of {k}, e.g. "
                                f"{bs - bs % k or k} or {bs + k - bs % k}")
        epochs = _count("epochs", epochs, minimum=0)
        run = self._fused_epochs()
        if self._stats and (bs == 1 or n % bs == 1):
            raise ArgumentError(f"fit: a minibatch of 1 sample (batch_size={bs}, {n} samples) has no batch variance "
                                "for BatchNorm to normalise with; choose a batch_size that leaves no batch of 1")
        hist = History()
        bar = progress_bar(epochs, verbose)
        # without a bar nothing needs the loop to pause: as many epochs per native call as
        # their permutations (epochs × n int64) fit in PERM_ELEMENTS
        most = max(1, PERM_ELEMENTS // max(n, 1))
        done, chunk = 0, (1 if bar is not None else min(max(epochs, 1), most))
        t0 = time.perf_counter()
        try:
            while done < epochs:
                count = min(chunk, epochs - done)
                perm = np.empty((count, n), dtype=np.int64)
                if shuffle and bs < n:
                    for e in range(count):
                        perm[e] = self._rng.permutation(n)
                else:  # one batch per epoch: its order changes nothing, so no draw is needed
                    perm[:] = np.arange(n)
                started = time.perf_counter()
                steps, losses, failed, norms = run(X, Y, perm, bs)
                hist.steps += steps
                if failed is not None:
                    epoch, step, what, param = failed
                    raise TrainingDiverged(
                        f"training diverged at epoch {done + epoch + 1}, step {step + 1}: {what} is NaN or inf; "
                        "the params are left at their last finite values (before this step); lower the learning "
                        "rate, clip the gradients (Trainer(..., clip_grad_norm=1.0)) or check the data",
                        epoch=done + epoch + 1, step=step + 1, param=param)
                hist.loss.extend(np.asarray(losses, dtype=np.float64).tolist())
                for name, _ in self.net.parameter_shapes():  # in the network's order, first layer first
                    hist.grad_norms.setdefault(name, []).extend(norms[:, self._names.index(name)].tolist())
                done += count
                self._epochs_done += count
                if bar is not None:
                    bar.update(count)
                    bar.set_postfix(loss=f"{hist.loss[-1]:.4g}",
                                    steps_per_s=f"{hist.steps / (time.perf_counter() - t0):.3g}")
                # chunks of about 0.1 s: the bar moves, the native loop is barely interrupted
                elapsed = time.perf_counter() - started
                chunk = max(1, min(4 * count, most, int(count * 0.1 / max(elapsed, 1e-9))))
        finally:
            if bar is not None:
                bar.close()
        hist.seconds = time.perf_counter() - t0
        return hist

    def compile(self, X, Y):
        """Build and JIT-compile what ``fit`` on data like X, Y runs, without training.

        Returns ``(seconds, warm)``: the time taken and whether the kernel came from the
        disk cache (always warm for backends that compile nothing).

        >>> import numpy as np, symbackprop as sb
        >>> tr = sb.Trainer(sb.nn.Linear(2, 1), backend="numpy")
        >>> tr.compile(np.zeros((4, 2)), np.zeros((4, 1)))[1]
        True
        """
        t0 = time.perf_counter()
        X, Y = self._prepare(X, Y)
        run = self._fused_epochs()
        run(X, Y, np.empty((0, X.shape[0]), dtype=np.int64), X.shape[0])  # zero epochs: compiles only
        kernel = getattr(self._train_fn, "kernel", None)
        return time.perf_counter() - t0, True if kernel is None else kernel.warm

    def _fused_epochs(self):
        """The backend's driver of the training program as ``run(X, Y, perm, bs)``."""
        from symbackprop.optim.options import EPOCH, configure
        configured = configure(self.optimizer, len(self._names), *self._options)
        if self._train_fn is None:
            extra = {"stats": self._stats, "masks": self._masks, "seed": self.dropout_seed} \
                if self._stats or self._masks else {}
            if self.devices is not None:
                extra["devices"] = self.devices
            self._train_fn = compile_training(self.loss_expr, self._names, self.x, self.y, configured,
                                              self.backend, **extra)
        train = self._train_fn
        params = [self._params[name] for name in self._names]
        state = [[self._updater.state[name][s] for s in self.optimizer.state] for name in self._names]
        if self._stats:  # the running statistics: one more group, updated in place like optimizer state
            state.append([self._buffers[name] for name, _, _ in self._stats])
        epoch_slot = list(configured.hyper).index(EPOCH)

        def run(X, Y, perm, bs):
            t0 = self._updater.t
            hyper = list(configured.hyper.values())
            hyper[epoch_slot] = float(self._epochs_done)  # the loop counts on from here
            norms = np.zeros((perm.shape[0], len(params)))
            kept = [p.copy() for p in params], [[v.copy() for v in group] for group in state]
            steps, losses, status = train(X, Y, params, state, hyper, perm, t0, bs, norms=norms)
            if status is None:
                self._updater.t += steps
                self._count_batches(steps)
                return steps, losses, None, norms
            if not getattr(train, "keeps_finite", False):
                # the failing step was applied in place: back to the params kept before the call,
                # then the finite steps again (the loop is deterministic), so they are the last finite ones
                for p, v in zip(params, kept[0]):
                    p[...] = v
                for group, values in zip(state, kept[1]):
                    for v, old in zip(group, values):
                        v[...] = old
                if steps:
                    train(X, Y, params, state, hyper, perm, t0, bs, limit=steps)
            self._updater.t = t0 + steps
            self._count_batches(steps)
            epoch, step, what = status
            part = self._diagnose(X, Y, perm[epoch, step * bs:(step + 1) * bs])
            if part is None:  # the kernel saw it, the reference arithmetic does not: say what the kernel saw
                part = ("the loss", None) if what == 0 else \
                    (f"the gradient or the updated value of {self._names[what - 1]}", self._names[what - 1])
            return steps, losses, (epoch, step) + part, norms

        return run

    def _diagnose(self, X, Y, idx):
        """(what, param) went non-finite in one step on the rows ``idx``, computed with the
        evaluator and the reference update (on copies), or None if nothing does there."""
        from symbackprop.graph.evaluate import evaluate
        feeds = {self.x.name: X[idx], self.y.name: Y[idx], **self._params, **self.dropout_masks(len(idx))}
        with np.errstate(all="ignore"):
            loss, *grads = evaluate([self.loss_expr] + [self.grad_exprs[self.param_nodes[n]] for n in self._names],
                                    feeds)
        if not np.isfinite(loss):
            return "the loss", None
        for name, g in zip(self._names, grads):
            if not np.isfinite(g).all():
                return f"the gradient of {name}", name
        trial = Updater(self.optimizer, self._params)
        trial.state = {k: {s: v.copy() for s, v in st.items()} for k, st in self._updater.state.items()}
        trial.t = self._updater.t
        name = trial.step({k: v.copy() for k, v in self._params.items()},
                          {k: np.asarray(g, dtype=self.dtype) for k, g in zip(self._names, grads)})
        return None if name is None else (f"the updated value of {name} (or its optimizer state)", name)

    def _count_batches(self, steps):
        """``num_batches_tracked`` of every BatchNorm that trained: one per step, as PyTorch counts."""
        for name, _, _ in self._stats:
            if name.endswith("running_mean"):
                self._buffers[name[:-len("running_mean")] + "num_batches_tracked"][...] += steps

    def dropout_masks(self, n, t=None):
        """{mask input name: array} the training step ``t`` (default: the next) draws for a
        minibatch of ``n`` rows: the same numbers ``fit`` uses on every backend."""
        from codegen.numpy_backend.random import dropout_mask, threshold
        t = self._updater.t + 1 if t is None and self._updater is not None else (t or 1)
        out = {}
        for stream, (mask, p) in enumerate(getattr(self, "_masks", ())):
            shape = (n,) + tuple(int(d) for d in mask.shape[1:])
            out[mask.name] = dropout_mask(self.dropout_seed, t, stream, int(np.prod(shape)), threshold(p),
                                          1.0 / (1.0 - p), mask.dtype).reshape(shape)
        return out

    # ---- state dict ---------------------------------------------------------------------
    def state_dict(self):
        """Params and buffers (BatchNorm's running statistics and batch count) by PyTorch's
        ``state_dict`` names and in its order, as copies; ``torch.nn.Module.load_state_dict``
        accepts it as it is (the arrays convert themselves to tensors)."""
        from symbackprop.train.state import StateArray
        out = {}
        for name, _, kind in self.net.state_shapes():
            source = self._params if kind == "param" else self._buffers
            out[name] = StateArray.of(source[name])
        return out

    def load_state_dict(self, state, strict=True):
        """Set params and buffers from ``state`` ({name: array or tensor}, e.g. a PyTorch
        module's ``state_dict()``); with ``strict``, its names must be exactly ours."""
        from symbackprop.train.state import load_state
        load_state(self, state, strict)

    def draw(self, X=None, Y=None, expand=False):
        """A drawing (``sb.draw``) of one training step: the forward pass, the loss, every
        param's gradient and the optimizer's update; with data ``X`` and ``Y``, each box also
        shows its value on them at the current params.  Without data the network's input size
        comes from its first ``Linear`` layer.

        >>> import symbackprop as sb
        >>> d = sb.Trainer(sb.nn.Linear(2, 1), backend="numpy").draw()
        >>> d.box("∂L/∂W").kind, d.box("update: SGD(η = 0.01)").lines[0]
        ('gradient', 'p ← p − g·η')
        """
        from symbackprop.render.drawstep import draw_step
        if (X is None) != (Y is None):
            raise ArgumentError("Trainer.draw: give both X and Y (to show values) or neither")
        feeds = None
        if X is not None:
            X, Y = self._prepare(X, Y)
            feeds = {self.x.name: X, self.y.name: Y, **self._params, **self.dropout_masks(X.shape[0])}
        elif self._built_for is None:
            features = _input_features(self.net)
            if features is None:
                raise ArgumentError("Trainer.draw: the network's input size is unknown (its first layer is not "
                                    "Linear); call draw(X, Y), fit or build((n_features,)) first")
            self.build((features,))
        grads = {self.param_nodes[n]: self.grad_exprs[self.param_nodes[n]] for n in self._names}
        return draw_step(self.loss_expr, grads, self.optimizer, feeds, expand=expand)

    def export_source(self):
        """The generated source of the fused training loop (backends that generate code)."""
        if self._built_for is None:
            raise CompileError("export_source: call fit, predict or build((n_features,)) first")
        self._fused_epochs()
        if not hasattr(self._train_fn, "source"):
            raise CompileError(f"export_source: the {self.backend} backend generates no source")
        return self._train_fn.source


def _input_features(net):
    """The number of inputs ``net``'s first Linear layer takes, or None if unknown."""
    from symbackprop.nn.modules import first_layer
    return getattr(first_layer(net), "in_features", None)


def _count(what, value, minimum):
    """An integer argument (Python or numpy integer, not bool) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"fit: {what} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ArgumentError(f"fit: {what} must be >= {minimum}, got {value!r}")
    return int(value)


def _call_loss(loss, out, y):
    """The user's loss function applied to the network's output; its own failure is reported
    as theirs (which function, what it raised), not as a traceback through the Trainer."""
    name = getattr(loss, "__qualname__", None) or type(loss).__name__
    try:
        return loss(out, y)
    except SymbackpropError:
        raise  # already says what is wrong (a shape, a dtype, ...)
    except Exception as e:
        if raised_by_us(e, skip=1):
            raise  # raised inside symbackprop: a bug of ours keeps its traceback
        tb = e.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        at = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if e.__traceback__.tb_next is not None else ""
        raise ArgumentError(f"Trainer: the loss function {name} raised {type(e).__name__}: {e}{at}") from e


def progress_bar(total, verbose):
    """A tqdm bar over epochs when ``verbose`` (default: when stderr is a terminal)."""
    import sys
    if verbose is None:
        verbose = sys.stderr.isatty()
    if not verbose or total == 0:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="epoch", leave=False)


def _devices(backend, devices):
    """The JAX devices a Trainer on ``backend`` uses (None off the jax backend, where
    ``devices`` must be None)."""
    if backend != "jax":
        if devices is not None:
            raise ArgumentError(f"Trainer: devices= is for backend='jax' (the {backend} backend runs on one CPU "
                                f"core); got devices={devices!r}")
        return None
    from symbackprop.compiled import require
    require("jax")
    from codegen.jax_backend.training import DeviceError, resolve_devices
    try:
        return resolve_devices(devices)
    except DeviceError as e:
        raise ArgumentError(f"Trainer: {e}") from None


def _backends():
    import codegen
    return sorted(codegen.BACKENDS)
