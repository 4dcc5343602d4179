"""examples/tour.ipynb runs top to bottom in a fresh kernel (its cells assert what they show),
and the notebook displays what it promises: formulas as LaTeX, drawings as SVG, the history
as HTML with its loss curve, verdicts as ✓/✗.  Skipped when nbclient, nbformat or ipykernel
is not installed (the ``test`` extra brings them)."""

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

TOUR = pathlib.Path(__file__).resolve().parent.parent / "examples" / "tour.ipynb"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(TOUR, as_version=4)
    root = str(TOUR.parent.parent)
    # the kernel imports this checkout's symbackprop, as the test process does
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = root + (os.pathsep + env_path if env_path else "")
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(TOUR.parent)}}).execute()
    finally:
        if env_path:
            os.environ["PYTHONPATH"] = env_path
        else:
            del os.environ["PYTHONPATH"]
    return nb


def outputs(nb, mime):
    return [o["data"][mime] for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.get("output_type") in ("execute_result", "display_data") and mime in o.get("data", {})]


def test_the_tour_runs_without_errors(executed):
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors


def test_the_tour_shows_formulas_drawings_history_and_verdicts(executed):
    latex = outputs(executed, "text/latex")
    assert any(r"\frac{\hat{y} - y}{N}" in t for t in latex)  # g[W] and the explanation
    assert any(r"\begin{aligned}" in t for t in latex)
    svgs = outputs(executed, "image/svg+xml")
    assert len(svgs) == 3 and all(s.lstrip().startswith("<svg") for s in svgs)
    assert all("∂L/∂W" in s for s in svgs[:2]) and "layer 1" in svgs[2] and "update: Adam" in svgs[2]
    html = outputs(executed, "text/html")
    assert any("symbackprop-history" in h and "data:image/png;base64," in h for h in html)
    verdicts = [h for h in html if "symbackprop-verdict" in h]
    assert len(verdicts) == 2 and "✓" in verdicts[0] and "✗" in verdicts[1] and "correct (left)" in verdicts[1]


def test_the_committed_tour_has_no_outputs():
    nb = nbformat.read(TOUR, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
