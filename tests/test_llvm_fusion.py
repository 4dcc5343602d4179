"""The llvm backend's fusion of an elementwise map into the register block of the product
before it, and the vector forms of its own math functions: against the numpy backend
(1e-10 relative in float64, 1e-4 in float32) and against the scalar forms."""

import ctypes
import re

import numpy as np
import pytest

import symbackprop as sb
from tests.test_numba_backend import rel_err

pytest.importorskip("llvmlite")


def layer_graph(dtype, act, keep_product):
    """Products followed by maps reading every operand kind: the product itself, a bias row,
    a per-row column, a scalar param, a full-size input; with the product also needed by a
    later step or not."""
    x = sb.input("x", (None, 5), dtype)
    t = sb.input("t", (None, 6), dtype)
    W = sb.param("W", (6, 5), dtype)
    b = sb.param("b", (6,), dtype)
    s = sb.param("s", (), dtype)
    z = x @ W.T
    col = sb.sum(x, axis=1, keepdims=True)                       # (N, 1)
    h = act(z + b) * s + t * col                                 # map over (z, b, s, t, col)
    out = [sb.sum(h ** 2)]
    if keep_product:
        out.append(sb.sum(z, axis=0))                            # z read again later
    loss = sum(out[1:], out[0]) if len(out) > 1 else out[0]
    loss = sb.sum(loss) if loss.shape else loss
    grads = sb.grad(loss, [W, b, s])
    return [loss, grads[W], grads[b], grads[s], h]


def feeds(n, dtype):
    rng = np.random.default_rng(3)
    f = {"x": rng.normal(size=(n, 5)), "t": rng.normal(size=(n, 6)), "W": rng.normal(size=(6, 5)) * 0.5,
         "b": rng.normal(size=6), "s": np.array(0.7)}
    return {k: v.astype(dtype) for k, v in f.items()}


ACTS = {"tanh": sb.tanh, "sigmoid": sb.sigmoid, "relu": sb.relu, "softplus": sb.softplus, "exp": sb.exp}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_fused_products_match_the_numpy_backend(act, keep, dtype):
    outputs = layer_graph(dtype, ACTS[act], keep)
    fn, ref = sb.compile(outputs, backend="llvm"), sb.compile(outputs, backend="numpy")
    tol = 1e-10 if dtype == "float64" else 1e-4
    for n in (1, 7, 33):  # a remainder row block, a single row
        f = feeds(n, dtype)
        for i, (g, r) in enumerate(zip(fn(**f), ref(**f))):
            # float32: relative to the largest element (a sum that cancels to near 0 carries
            # float32 rounding of its terms, differently ordered with FMA contraction)
            err = rel_err(g, r) if dtype == "float64" else float(np.max(np.abs(g - r)) / (np.max(np.abs(r)) + 1e-30))
            assert err < tol, (act, keep, dtype, n, i, err)
    if not keep:  # (with the product read again, the lowering may order a step between the two)
        assert "(fused" in fn._run.source


def test_a_map_without_a_vector_form_is_not_fused_and_still_right():
    x = sb.input("x", (None, 4))
    W = sb.param("W", (3, 4))
    h = sb.gelu(x @ W.T)         # gelu calls erf, a C library function: no vector form
    fn, ref = sb.compile([h], backend="llvm"), sb.compile([h], backend="numpy")
    f = {"x": np.random.default_rng(0).normal(size=(9, 4)), "W": np.ones((3, 4)) * 0.3}
    assert rel_err(fn(**f)[0], ref(**f)[0]) < 1e-12
    assert "(fused" not in fn._run.source


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_product_followed_by_softplus_compiles_unfused(dtype):
    """softplus calls log1p (C): its map stays a separate loop (found by review: it used to
    be fused and failed to compile)."""
    x = sb.input("x", (None, 5), dtype)
    W, b = sb.param("W", (6, 5), dtype), sb.param("b", (6,), dtype)
    outs = [sb.softplus(x @ W.T + b), sb.grad(sb.sum(sb.softplus(x @ W.T)), [W])[W]]
    fn, ref = sb.compile(outs, backend="llvm"), sb.compile(outs, backend="numpy")
    f = feeds(9, dtype)
    f = {k: f[k] for k in ("x", "W", "b")}
    for g, r in zip(fn(**f), ref(**f)):
        assert rel_err(g, r) < (1e-10 if dtype == "float64" else 1e-4)


def test_training_w1_fuses_bias_tanh_and_the_tanh_derivative():
    from benchmarks.workloads import WORKLOADS
    w = WORKLOADS["W1"]
    X, Y = w.data("float64")
    tr = w.trainer("llvm", "float64")
    tr.fit(X, Y, epochs=2, batch_size=100, verbose=False)
    src = tr.export_source()
    fused = re.findall(r"^; (t\d+) = map.*\(fused", src, flags=re.M)
    assert len(fused) == 4, fused  # two forward tanh layers, two backward derivatives


def vector_kernel(name, ty, w):
    """out[i:i+w] = name(<w x ty> of x[i:i+w]) over whole vectors, our own vector form."""
    from llvmlite import ir
    from codegen.llvm_backend import gemm, jit
    from codegen.llvm_backend.emit import I64, VOID, ModuleBuilder, i64, loop
    mb = ModuleBuilder(f"vec_{name}_{w}")
    fn = ir.Function(mb.module, ir.FunctionType(VOID, [ty.as_pointer(), ty.as_pointer(), I64]), "f")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    v = gemm.Vectors(b, ty)
    with loop(b, b.sdiv(fn.args[2], i64(w))) as i:
        at = b.mul(i, i64(w))
        v.store(mb.math.call(b, name, v.load(fn.args[1], at, w)), fn.args[0], at, w)
    b.ret_void()
    return jit.Kernel(mb.text(), {"f": (None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64])})


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid"])  # softplus calls log1p (C): no vector form
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vector_forms_of_our_math_equal_the_scalar_forms(name, dtype):
    from codegen.llvm_backend.mathfns import DOUBLE, FLOAT
    from tests.test_llvm_backend import vector_function, vector_function32
    ty = DOUBLE if dtype == "float64" else FLOAT
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-30, 30, 4096), rng.uniform(-1, 1, 4096),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e-300, 700.0, -740.0, 88.0, -103.0, 22.5]])
    x = x[: len(x) // 16 * 16].astype(dtype)
    scalar = (vector_function if dtype == "float64" else vector_function32)(name)(x)
    for w in (2, 8):
        k = vector_kernel(name, ty, w)
        out = np.empty_like(x)
        k.functions["f"](out.ctypes.data, x.ctypes.data, x.size)
        np.testing.assert_array_equal(out, scalar)
