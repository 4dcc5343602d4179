"""symbackprop: symbolic gradients of neural networks, readable and compiled.

>>> import numpy as np, symbackprop as sb
>>> x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
>>> W = sb.param("W", (2, 1)); b = sb.param("b", (1,))
>>> L = sb.mean((sb.sigmoid(x @ W + b) - y) ** 2) / 2
>>> g = sb.grad(L, [W, b])
>>> f = sb.compile([L, g[W], g[b]], backend="numpy")
>>> loss, dW, db = f(x=np.ones((3, 2)), y=np.ones((3, 1)), W=np.zeros((2, 1)), b=np.zeros(1))
>>> float(loss), dW.ravel().tolist()
(0.125, [-0.125, -0.125])
"""

from symbackprop import graph as _graph
from symbackprop.autodiff import grad
from symbackprop.compiled import CompiledFunction, compile
from codegen.threads import blas_threads, set_blas_threads  # BLAS threads of compiled kernels
from symbackprop.errors import (ArgumentError, BackendUnavailable, CompileError, DataError, DerivationError, DTypeError, ShapeError, SymbackpropError,
                                TrainingDiverged, UnsupportedFunction, VerifyError)
from symbackprop.graph import (N, Expr, abs, apply, avg_pool1d, avg_pool2d, conv1d, conv2d, flatten, max_pool1d,
                               max_pool2d, broadcast_to, concat, const, cos, elementwise, exp, gelu, input,
                               leaky_relu, log, log_softmax, logsumexp, map, matmul, max, mean, onehot, pad, param,
                               reduce, relu, reshape, sigmoid, sin, softmax, softplus, sqrt, stack, sum, take, tanh,
                               transpose)
from symbackprop.graph import scalar
from symbackprop.graph.evaluate import evaluate
from symbackprop.gradcheck import GradcheckError, GradcheckReport, gradcheck
from symbackprop.graph.rewrite import substitute
from symbackprop import nn, optim
from symbackprop import plot  # sb.plot.gradient_flow(hist); matplotlib only when drawing
from symbackprop.nn.losses import bce, cross_entropy, hinge, l2, mse
from symbackprop.train import History, Trainer
from symbackprop.render import name
from symbackprop.render.expand import expand
from symbackprop.render.draw import draw
from symbackprop.render.explain import explain
from symbackprop.simplify import simplify
from symbackprop.verify import Verdict, verify

__version__ = "0.1.0"
