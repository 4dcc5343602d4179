"""Lowering a training setup (loss, params, optimizer) to a ``TrainingProgram``.

>>> import symbackprop as sb
>>> x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
>>> L = sb.mse(sb.nn.Linear(2, 1)(x), y)
>>> tp = lower_training(L, ["weight", "bias"], x, y, sb.optim.SGD(lr=0.1))
>>> tp.params, tp.state, tp.hyper
(('weight', 'bias'), (), ('lr', 'momentum', 'weight_decay'))
"""

from codegen.program import TrainingProgram
from symbackprop.autodiff import grad
from symbackprop.errors import CompileError
from symbackprop.graph.traverse import leaves
from symbackprop.lower import lower, prepare


def lower_training(loss, param_names, x, y, optimizer):
    """The fused training program of ``loss`` over the params named ``param_names``."""
    by_name = {n.name: n for n in leaves([loss]) if n.op == "param"}
    missing = [p for p in param_names if p not in by_name]
    if missing:
        raise CompileError(f"training: params {missing} do not reach the loss")
    params = [by_name[p] for p in param_names]
    grads = grad(loss, params)
    outputs = [loss] + [grads[p] for p in params]
    step = lower(prepare(outputs), arguments=[x, y] + params)
    return TrainingProgram(step=step, x=x.name, y=y.name, params=tuple(param_names),
                           updates=tuple(optimizer.updates), state=tuple(optimizer.state),
                           hyper=tuple(optimizer.hyper))
