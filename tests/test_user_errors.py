"""Every user mistake is a typed error (``SymbackpropError``'s family) that says what was wrong
and where; names never reach generated code unescaped.
"""

import os

import numpy as np
import pytest

import symbackprop as sb
from tests.conftest import optional_backends
from codegen.program import comment

BACKENDS = ["numpy", "numba", "llvm"] + optional_backends()

x = sb.input("x", (None, 2))
W = sb.param("W", (2, 1))
X = np.random.default_rng(0).normal(size=(20, 2))
Y = X[:, :1].copy()


def _trainer(**kw):
    return sb.Trainer(sb.nn.Linear(2, 1), **kw)


def _compiled():
    return sb.compile(sb.sum(x @ W), backend="numpy")


def _onehot_sum(backend):
    return sb.compile(sb.sum(sb.onehot(sb.input("y", (None,), "int64"), 3)), backend=backend)


MISTAKES = [
    ("an empty input name", lambda: sb.input("", (None, 2)), sb.ArgumentError, "non-empty string"),
    ("a param name that is not a string", lambda: sb.param(3, (2,)), sb.ArgumentError, "non-empty string"),
    ("a name with a newline", lambda: sb.param("a\nb", (2,)), sb.ArgumentError, "non-printable"),
    ("a name with a NUL", lambda: sb.input("a\x00", (2,)), sb.ArgumentError, "non-printable"),
    ("adding a string to a node", lambda: x + "a", sb.ArgumentError, "got a str 'a'"),
    ("a string plus a node", lambda: "a" + x, sb.ArgumentError, "'+'"),
    ("adding a list to a node", lambda: x + [1, 2], sb.ArgumentError, "np.array"),
    ("multiplying by None", lambda: x * None, sb.ArgumentError, "NoneType"),
    ("adding a bool", lambda: x + True, sb.ArgumentError, "booleans"),
    ("an object array operand", lambda: x + np.array(["a", "b"]), sb.ArgumentError, "dtype <U1"),
    ("elementwise returning a string", lambda: sb.elementwise(lambda u: "abc")(x), sb.UnsupportedFunction,
     "returned 'abc'"),
    ("elementwise returning None", lambda: sb.elementwise(lambda u: None)(x), sb.UnsupportedFunction,
     "returned None"),
    ("elementwise returning an array", lambda: sb.elementwise(lambda u: np.ones(3))(x), sb.UnsupportedFunction,
     "not a sympy expression"),
    ("elementwise using a foreign symbol", lambda: sb.elementwise(lambda u: u * sb.scalar.N)(x),
     sb.UnsupportedFunction, "not its operands"),
    ("elementwise with too few operands", lambda: sb.elementwise(lambda u, v: u * v)(x), sb.ArgumentError,
     "takes 2 operand(s), got 1"),
    ("positional arguments to a compiled function", lambda: _compiled()(X, np.ones((2, 1))), sb.CompileError,
     "by name: f(x=..., W=...)"),
    ("ragged nested lists", lambda: _compiled()(x=[[1.0, 2.0], [3.0]], W=np.ones((2, 1))), sb.ShapeError,
     "ragged"),
    ("a zero-size param", lambda: sb.param("Z", (0, 3)), sb.ShapeError, "length 0"),
    ("a zero-size feature axis", lambda: sb.input("Z", (None, 0)), sb.ShapeError, "length 0"),
    ("an empty const", lambda: sb.const([]), sb.ShapeError, "length 0"),
    ("batch_size 0", lambda: _trainer().fit(X, Y, batch_size=0), sb.ArgumentError, "batch_size must be >= 1"),
    ("batch_size -1", lambda: _trainer().fit(X, Y, batch_size=-1), sb.ArgumentError, ">= 1"),
    ("batch_size 2.5", lambda: _trainer().fit(X, Y, batch_size=2.5), sb.ArgumentError, "integer, got float"),
    ("batch_size as a string", lambda: _trainer().fit(X, Y, batch_size="5"), sb.ArgumentError, "got str"),
    ("negative epochs", lambda: _trainer().fit(X, Y, epochs=-1), sb.ArgumentError, "epochs must be >= 0"),
    ("fractional epochs", lambda: _trainer().fit(X, Y, epochs=1.5), sb.ArgumentError, "integer"),
    ("epochs True", lambda: _trainer().fit(X, Y, epochs=True), sb.ArgumentError, "bool"),
    ("an unknown loss name", lambda: _trainer(loss="mae"), sb.ArgumentError, "unknown loss 'mae'"),
    ("a loss of the wrong type", lambda: _trainer(loss=3), sb.ArgumentError, "loss must be"),
    ("an optimizer given as a string", lambda: _trainer(optimizer="adam"), sb.ArgumentError, "sb.optim.Adam"),
    ("a negative learning rate", lambda: sb.optim.SGD(lr=-1), sb.ArgumentError, "lr must be >= 0"),
    ("a NaN learning rate", lambda: sb.optim.Adam(lr=float("nan")), sb.ArgumentError, "finite"),
    ("a learning rate as a string", lambda: sb.optim.SGD(lr="0.1"), sb.ArgumentError, "finite number"),
    ("Adam betas out of range", lambda: sb.optim.Adam(betas=(1.5, 0.9)), sb.ArgumentError, "betas"),
    ("Adam betas not a pair", lambda: sb.optim.Adam(betas="x"), sb.ArgumentError, "pair"),
    ("a loss function that raises", lambda: _trainer(loss=lambda a, b: 1 / 0).fit(X, Y), sb.ArgumentError,
     "raised ZeroDivisionError"),
    ("a loss function returning a string", lambda: _trainer(loss=lambda a, b: "x").fit(X, Y), sb.ShapeError,
     "scalar Expr"),
    ("a net that is not a module", lambda: sb.Trainer(lambda t: t), sb.ArgumentError, "sb.nn module"),
    ("ragged training data", lambda: _trainer().fit([[1.0, 2.0], [3.0]], [[1.0], [2.0]]), sb.DataError,
     "same length"),
    ("an unknown backend", lambda: sb.compile(sb.sum(x @ W), backend="cuda"), sb.CompileError, "unknown backend"),
]


@pytest.mark.parametrize("label, make, kind, fragment", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_user_mistake_is_a_typed_error_that_says_what(label, make, kind, fragment):
    with pytest.raises(kind) as info:
        make()
    assert isinstance(info.value, sb.SymbackpropError)
    assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_outside_the_classes_are_refused_on_every_backend(backend):
    f = _onehot_sum(backend)
    assert float(f(y=np.array([0, 2]))) == 2.0
    for bad in ([0, 3], [0, -1]):
        with pytest.raises(sb.DataError, match=r"class label -?\d+ at flat index 1 is outside \[0, 3\)"):
            f(y=np.array(bad))


@pytest.mark.parametrize("backend", ["numba", "llvm"])
def test_numpy_integers_and_oversized_batches_train_on_compiled_backends(backend):
    tr = _trainer(backend=backend, optimizer=sb.optim.SGD(lr=0.1))
    hist = tr.fit(X, Y, epochs=np.int64(2), batch_size=np.int64(5), verbose=False)
    assert hist.steps == 8 and len(hist.loss) == 2
    hist = tr.fit(X, Y, epochs=1, batch_size=2 ** 63, verbose=False)  # the whole data: one step
    assert hist.steps == 1 and hist.loss[0] > 0


HOSTILE_NAMES = ['a"b', "W'1", "ŵ₁ é", "x y", "\\", '"""', "#", "}{;", "a\\nb"]


@pytest.mark.parametrize("backend", ["numba", "llvm"])
def test_hostile_printable_names_compile_safely(backend, tmp_path):
    marker = tmp_path / "PWNED"
    for i, name in enumerate(HOSTILE_NAMES + [f"x');open({str(marker)!r},'w')#"]):
        xs = sb.input(name, (None, 2)); Ws = sb.param(f"W{i}{name}", (2, 1))
        L = sb.sum(sb.tanh(xs @ Ws))
        f = sb.compile([L, sb.grad(L, Ws)], backend=backend)
        loss, g = f(**{name: np.ones((3, 2)), f"W{i}{name}": np.full((2, 1), 0.5)})
        assert np.isclose(loss, 3 * np.tanh(1.0)), name
    assert not marker.exists()


def test_comment_text_never_breaks_its_line():
    for text in ["a\nimport os", "a\r\nb", "a\u2028b", "a\x85b", "a\x0bb", "a\x00b"]:
        out = comment(text)
        assert len(out.splitlines()) == 1 and out.isprintable(), repr(out)
