"""The defaults a user expects: the fastest backend without asking (and why not, once), every
runtime import declared, one model file for derive and train, and product texts that speak of
the product."""

import ast
import pathlib
import re
import sys
import tomllib
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import codegen
import symbackprop as sb
from codegen import auto
from symbackprop.cli import build_parser, main

ROOT = pathlib.Path(__file__).resolve().parent.parent


def hide(monkeypatch, *prefixes):
    """Make the modules starting with ``prefixes`` look uninstalled to the backend rule."""
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith(prefixes) else real(name, *a))
    monkeypatch.setattr(auto, "_said", set())


def test_compile_and_trainer_default_to_the_fastest_backend():
    expected = auto.pick_backend("auto")[0]
    t = sb.param("t", ())
    assert sb.compile(t * 2).backend == expected
    assert sb.Trainer(sb.nn.Linear(2, 1)).backend == expected
    if auto._imports("llvmlite.binding", "scipy") is None:
        assert expected == "llvm"
    # asked for by name, a backend is used as asked, and "auto" may be asked for too
    assert sb.compile(t * 2, backend="numpy").backend == "numpy"
    assert sb.compile(t * 2, backend="auto").backend == expected


def test_auto_says_why_it_falls_back_once(monkeypatch):
    hide(monkeypatch, "llvmlite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = sb.Trainer(sb.nn.Linear(2, 1))
        second = sb.Trainer(sb.nn.Linear(2, 1))
    assert first.backend == second.backend == "numba"
    said = [w for w in caught if issubclass(w.category, auto.BackendWarning)]
    assert len(said) == 1 and "llvmlite.binding is not installed; using the numba backend" in str(said[0].message)
    hide(monkeypatch, "llvmlite", "numba")
    with pytest.warns(auto.BackendWarning, match="using the numpy reference backend"):
        assert sb.Trainer(sb.nn.Linear(2, 1)).backend == "numpy"


def test_an_unknown_backend_is_a_clear_error():
    with pytest.raises(sb.CompileError, match="unknown backend 'fortran'; available: jax, llvm, numba, numpy"):
        sb.compile(sb.param("t", ()), backend="fortran")


def test_the_backend_rule_lives_in_one_place():
    # the demo, train and the library call the same function
    from symbackprop.cli import demo
    assert demo.pick_backend is auto.pick_backend and demo.backend_help is auto.backend_help
    for path in (ROOT / "symbackprop").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "def pick_backend" not in text, path


def _imports(roots):
    found = {}
    for root in roots:
        for path in (ROOT / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for m in mods:
                    top = m.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ("symbackprop", "codegen"):
                        found.setdefault(top, path)
    return found


def test_every_runtime_import_is_a_declared_dependency():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in meta["dependencies"]}
    optional = {re.split(r"[<>=!~ \[]", d)[0].lower() for ds in meta["optional-dependencies"].values() for d in ds}
    distribution = {"yaml": "pyyaml"}
    # imported only inside functions that say how to get them when missing (jax: the jax backend's
    # modules, reached only after codegen.unavailable("jax") said it imports; jaxlib comes with jax)
    optional_imports = {"matplotlib", "jax"}
    # `symbackprop bench` runs the harness of the source checkout
    checkout_only = {"benchmarks"}
    for module, where in _imports(["symbackprop", "codegen"]).items():
        if module in checkout_only:
            continue
        name = distribution.get(module, module).lower()
        if module in optional_imports:
            assert name in optional, f"{module} (imported in {where}) is in no optional extra"
        else:
            assert name in declared, f"{module} is imported in {where} but is not a declared dependency"
    assert {"llvmlite", "grandalf", "numba", "scipy"} <= declared


def _all_help(parser):
    texts = [parser.format_help()]
    for action in parser._actions:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):  # the subcommands
            texts += [sub.format_help() for sub in choices.values()]
    return "\n".join(texts)


def test_product_texts_speak_of_the_product_not_of_work_items():
    text = _all_help(build_parser())
    assert "derive" in text and "--draw" in text
    assert not re.search(r"\bissues?\b", text, re.I), text
    for root in ("symbackprop", "codegen", "benchmarks"):
        for path in (ROOT / root).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            bad = re.findall(r".*\bissues? #?\d+.*", source, re.I)
            assert not bad, (path, bad)


MODEL = """\
net = sb.nn.Sequential(sb.nn.Linear(2, 4), sb.nn.Tanh(), sb.nn.Linear(4, 1))   # sb and np predefined
loss = "bce"
optimizer = sb.optim.Adam(lr=float(np.float64(0.05)))
"""


def test_one_model_file_serves_derive_and_train(tmp_path, capsys):
    (tmp_path / "model.py").write_text(MODEL)
    X = np.random.default_rng(0).normal(size=(40, 2))
    np.savez(tmp_path / "data.npz", X=X, y=(X[:, 0] > 0).astype(float))
    assert main(["derive", str(tmp_path / "model.py")]) == 0
    derived = capsys.readouterr().out
    assert "δ₂ = ∂L/∂z₂ = (ŷ − y)/N" in derived and "∂L/∂W₁ = δ₁ᵀ x" in derived
    assert main(["train", str(tmp_path / "model.py"), "--data", str(tmp_path / "data.npz"), "--epochs", "3",
                 "--backend", "numpy"]) == 0
    trained = capsys.readouterr().out
    assert "loss bce" in trained and "Adam(lr=0.05" in trained


def test_derive_draws_the_loss_and_its_gradients(tmp_path, capsys):
    (tmp_path / "model.py").write_text(MODEL)
    out = tmp_path / "graph.svg"
    assert main(["derive", str(tmp_path / "model.py"), "--draw", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    ns = "{http://www.w3.org/2000/svg}"
    kinds = [g.get("data-kind") for g in root.iter(ns + "g") if g.get("class") == "node"]
    titles = {t.text for t in root.iter(ns + "text") if t.get("class") == "title"}
    assert kinds.count("gradient") == 4 and kinds.count("layer") >= 2
    assert {"∂L/∂W₁", "∂L/∂b₁", "∂L/∂W₂", "∂L/∂b₂", "L", "layer 1"} <= titles
    assert main(["derive", str(tmp_path / "model.py"), "--draw", str(tmp_path / "graph.txt")]) == 2
    assert "written as .svg or .png" in capsys.readouterr().err


def test_derive_still_reads_a_graph_of_ones_own(capsys):
    assert main(["derive", str(ROOT / "examples" / "formulas" / "logistic_regression.py")]) == 0
    assert "∂L/∂W = xᵀ δ" in capsys.readouterr().out


def test_train_needs_a_net_and_says_so(tmp_path, capsys):
    (tmp_path / "graph.py").write_text("w = sb.param('w', (2,))\nloss = sb.sum(w * w)\n")
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.zeros(4))
    assert main(["train", str(tmp_path / "graph.py"), "--data", str(tmp_path / "d.npz")]) == 2
    assert "defines no `net`" in capsys.readouterr().err


def test_codegen_backends_are_the_ones_auto_chooses_from():
    assert set(codegen.BACKENDS) == {"llvm", "numba", "numpy", "jax"}
    assert "jax" in codegen.OPTIONAL  # never picked by auto: an optional library
