"""The README's tour is code a newcomer pastes: it must run and say what the README says."""

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_code():
    text = README.read_text()
    tour = text[text.index("## A tour"):]
    start = tour.index("```python") + len("```python")
    return tour[start:tour.index("```", start)]


def test_tour_runs_and_prints_the_textbook_gradient(capsys):
    namespace = {}
    exec(compile(tour_code(), "README.md (tour)", "exec"), namespace)
    out = capsys.readouterr().out
    assert "xᵀ ((ŷ − y)/N)" in out and "δ = ∂L/∂z = (ŷ − y)/N" in out
    assert namespace["v"].holds
    assert namespace["hist"].loss[-1] < namespace["hist"].loss[0]


def test_the_gradcheck_example_runs_and_passes(capsys):
    text = README.read_text()
    part = text[text.index("### Checking gradients"):]
    start = part.index("```python") + len("```python")
    namespace = {}
    exec(compile("import numpy as np, symbackprop as sb\n" + part[start:part.index("```", start)],
                 "README.md (gradcheck)", "exec"), namespace)
    assert "gradcheck on the llvm backend: ok" in capsys.readouterr().out


def test_the_recurrence_example_runs():
    text = README.read_text()
    part = text[text.index("Indexing builds recurrences"):]
    start = part.index("```python") + len("```python")
    namespace = {}
    exec(compile("import numpy as np, symbackprop as sb\n" + part[start:part.index("```", start)],
                 "README.md (recurrence)", "exec"), namespace)
    assert "Wh" in str(namespace["g"][namespace["Wh"]])


def test_the_modules_example_runs_and_prints_pytorch_names(capsys):
    text = README.read_text()
    part = text[text.index("## Modules, normalization, dropout"):]
    start = part.index("```python") + len("```python")
    namespace = {}
    exec(compile(part[start:part.index("```", start)], "README.md (modules)", "exec"), namespace)
    out = capsys.readouterr().out
    printed = part[part.index("```\n", part.index("```", start) + 3) + 4:]
    assert out.strip() == printed[:printed.index("```")].strip()
    assert namespace["hist"].loss[-1] < namespace["hist"].loss[0]
