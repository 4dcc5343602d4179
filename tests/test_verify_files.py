"""Derivation files and the ``symbackprop verify`` command: exit codes, human and JSON
output, malformed files with their line, and the verdicts of every example file."""

import argparse
import io
import json
import pathlib
import subprocess
import sys

import pytest

from symbackprop.cli.verify import register, run
from symbackprop.verify.files import run_file

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples" / "derivations"

NEURON = """\
define:
  z: w*x + b
  yhat: sigmoid(z)
  L: (yhat - y)**2/2
claims:
"""


def cli(path, *flags):
    """Run the subcommand in-process; (status, stdout, stderr)."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["verify", str(path), *flags])
    out, err = io.StringIO(), io.StringIO()
    status = args.func(args, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def write(tmp_path, text, name="d.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_all_hold_exits_0(tmp_path):
    p = write(tmp_path, NEURON + "  - d(L, yhat) == yhat - y\n"
                                 "  - claim: d(L, w) == (yhat - y)*yhat*(1 - yhat)*x\n"
                                 "    name: dL/dw\n")
    status, out, _ = cli(p)
    assert status == 0
    assert "✓ d(L, yhat) == yhat - y" in out and "✓ dL/dw:" in out
    assert "2 of 2 claims hold" in out


def test_any_failure_exits_1_with_correct_form_and_counterexample(tmp_path):
    p = write(tmp_path, NEURON + "  - d(L, yhat) == yhat - y\n  - d(L, w) == (y - yhat)*x\n")
    status, out, _ = cli(p)
    assert status == 1
    assert "✗ d(L, w) == (y - yhat)*x" in out
    assert "correct (left):" in out and "counterexample:" in out


def test_json_shape(tmp_path):
    p = write(tmp_path, NEURON + "  - name: sign\n    claim: d(L, w) == (y - yhat)*yhat*(1 - yhat)*x\n"
                                 "  - d(L, yhat) == yhat - y\n")
    status, out, _ = cli(p, "--json")
    assert status == 1
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == 2
    first, second = rows
    for key in ("name", "holds", "correct", "difference", "counterexample", "reason"):
        assert key in first
    assert first["name"] == "sign" and first["holds"] is False and first["reason"] == "sign"
    assert set(first["counterexample"]) == {"b", "w", "x", "y"}
    assert first["lhs_value"] == -first["rhs_value"]
    assert first["line"] == 7
    assert second["holds"] is True and second["counterexample"] is None
    assert second["reason"] is None and second["name"] is None


def test_rtol_flag_and_per_claim_rtol(tmp_path):
    p = write(tmp_path, "claims:\n  - sigmoid(0.5) == 0.6225\n")
    assert cli(p)[0] == 1
    assert cli(p, "--rtol", "1e-4")[0] == 0
    p = write(tmp_path, "claims:\n  - claim: sigmoid(0.5) == 0.6225\n    rtol: 1e-4\n", "b.yaml")
    assert cli(p)[0] == 0


def test_at_in_file(tmp_path):
    p = write(tmp_path, NEURON + "  - claim: d(L, w) == -0.0887\n    at: {w: 0.5, x: 1, b: 0, y: 1}\n"
                                 "    rtol: 0.001\n")
    assert cli(p)[0] == 0


@pytest.mark.parametrize("text, line, words", [
    ("define:\n  z: w*x + b\n claims: [\n", 3, "not valid YAML"),
    ("define:\n  z: w*x + b\n", 1, "no 'claims:'"),
    ("claims: 3\n", 1, "must be a list"),
    ("claims:\n  - 3\n", 2, "must be a string"),
    ("claims:\n  - {name: a}\n", 2, "needs 'claim:'"),
    ("claims:\n  - claim: x == x\n    color: red\n", 3, "unknown claim key 'color'"),
    ("defines:\n  a: 1\nclaims: []\n", 1, "unknown key 'defines'"),
    ("define:\n  a: b + 1\n  b: 2*a\nclaims:\n  - a == 1\n", 2, "cyclic definitions"),
    ("define:\n  z: w*x + b\n  L: (z + \nclaims:\n  - L == 1\n", 3, "definition of 'L'"),
    (NEURON + "  - d(L, w) == 0\n  - d(L, w) == (yhta - y)\n", 7, "undefined symbol 'yhta'"),
    (NEURON + "  - \\frac{\\partial L}{\\partial w = 1\n", 6, "column 30"),
    (NEURON + "  - d(L, w)\n", 6, "equation"),
    ("functions: {loss: 0}\nclaims:\n  - x == x\n", 1, "'loss' needs its number of arguments"),
    ("functions:\n  loss: 1\n  F_k: two\nclaims:\n  - x == x\n", 3, "got 'two'"),
    ("functions: [loss]\nclaims:\n  - x == x\n", 1, "'functions' must be a mapping"),
    ("functions: {loss: 1}\nclaims:\n  - x == x\n  - loss(x, y) == 0\n", 4,
     "declared with 1 argument, called with 2"),
    ("claims:\n  - claim: x == x\n    expect: maybe\n", 3, "expect must be 'holds', 'fails'"),
    ("claims:\n  - claim: x == x\n    expect: 3\n", 3, "got 3"),
])
def test_malformed_file_exits_2_with_line(tmp_path, text, line, words):
    p = write(tmp_path, text)
    status, out, err = cli(p)
    assert status == 2
    assert f"{p}:{line}:" in err, err
    assert words in err
    status, out, err = cli(p, "--json")
    assert status == 2 and json.loads(out)["line"] == line


def test_missing_file_exits_2(tmp_path):
    status, _, err = cli(tmp_path / "nope.yaml")
    assert status == 2 and "cannot read" in err


EXPECTED = {
    "single_neuron.yaml": [True] * 11,
    "activations.yaml": [True] * 8,
    "mlp_scalar.yaml": [True] * 6,
    "mlp_matrix.yaml": [True] * 6,
    "softmax_cross_entropy.yaml": [True] * 6,
    "softmax_matrix.yaml": [True, True, False],
    "wrong_claims.yaml": [False] * 11,
    "wrong_matrix.yaml": [False, False],
    "quickstart.yaml": [True, False, True],
}

WRONG_REASONS = ["sign", "extra factor 2", "missing factor x",
                 "extra factor yhat*(1 - yhat) (= sigmoid'(z))", "extra term w", "rounding",
                 "wrong value", "sign", "rounding", "factor f'(g(x)) replaced by f'(x)",
                 "factor tanh(u) + 1 replaced by tanh(u)"]


def test_every_example_file_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_verdicts(name):
    results = run_file(EXAMPLES / name)
    assert [v.holds for _, v in results] == EXPECTED[name]


def test_wrong_claims_reasons():
    results = run_file(EXAMPLES / "wrong_claims.yaml")
    for (_, v), want in zip(results, WRONG_REASONS):
        assert v.reason.startswith(want), (v.claim, v.reason)


def test_console_entry_point_runs_verify():
    """Through ``python -m symbackprop`` when the dispatcher knows ``verify``."""
    from symbackprop.cli import build_parser
    try:
        build_parser().parse_args(["verify", "x.yaml"])
    except SystemExit:
        pytest.skip("the CLI dispatcher does not register verify yet")
    proc = subprocess.run([sys.executable, "-m", "symbackprop", "verify",
                           str(EXAMPLES / "wrong_matrix.yaml"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert [r["holds"] for r in json.loads(proc.stdout)] == [False, False]


def test_expect_decides_the_exit_status(tmp_path):
    wrong = "  - claim: d(x**2, x) == x\n    expect: {}\n"
    p = write(tmp_path, "claims:\n" + wrong.format('"fails: missing factor 2"'))
    status, out, _ = cli(p)
    assert status == 0 and "(expected: fails: missing factor 2)" in out
    assert "1 fail as expected" in out
    p = write(tmp_path, "claims:\n" + wrong.format('"fails: sign"'), "b.yaml")
    status, out, _ = cli(p)
    assert status == 1 and "(expected: fails: sign, but it is not)" in out
    p = write(tmp_path, "claims:\n  - claim: x == x\n    expect: fails\n", "c.yaml")
    assert cli(p)[0] == 1


EXPLAINED = NEURON.replace("z: w*x + b", "z: w x + b").replace("yhat: sigmoid(z)", "a: \\sigma(z)") \
    .replace("L: (yhat - y)**2/2", "L: \\frac12 (a - y)^2") + \
    "  - name: w\n    claim: \\frac{\\partial L}{\\partial w} = (a - y) \\sigma'(z)\n" \
    "  - \\frac{\\partial L}{\\partial a} = a - y = y - a\n"


def test_explain_flag_adds_the_mistake_the_corrected_line_and_the_links(tmp_path):
    p = write(tmp_path, EXPLAINED)
    status, plain, _ = cli(p)
    assert status == 1 and "mistake:" not in plain and "corrected:" not in plain
    status, out, _ = cli(p, "--explain")
    assert status == 1
    assert "mistake:        the sides differ (missing factor x)" in out
    corrected = [line.split("corrected:", 1)[1].strip() for line in out.splitlines()
                 if "corrected:" in line]
    assert corrected[1] == r"\frac{\partial L}{\partial a} = a - y = a - y"
    assert "sign error" in out
    assert "  link 1: ✓ \\frac{\\partial L}{\\partial a} = a - y" in out
    assert "  link 2: ✗ a - y = y - a" in out
    # each corrected line, pasted back into the file, holds
    fixed = write(tmp_path, EXPLAINED.split("claims:")[0] + "claims:\n" +
                  "".join(f"  - {c!r}\n".replace("\\\\", "\\") for c in corrected), "fixed.yaml")
    status, out, _ = cli(fixed)
    assert status == 0, out


def test_json_has_mistake_corrected_links_and_expect(tmp_path):
    p = write(tmp_path, EXPLAINED + "  - claim: d(L, a) == y - a\n    expect: 'fails: sign'\n")
    status, out, _ = cli(p, "--json")
    assert status == 1
    first, chain, expected = json.loads(out)
    assert first["mistake"] == "the sides differ (missing factor x)"
    assert first["corrected"].startswith(r"\frac{\partial L}{\partial w} = ")
    assert first["expect"] == "holds" and first["as_expected"] is False and first["line"] == 7
    assert chain["link"] == 2 and chain["link_text"] == "a - y = y - a"
    assert [(k["holds"], k["reason"]) for k in chain["links"]] == [(True, None), (False, "sign")]
    assert expected["expect"] == "fails: sign" and expected["as_expected"] is True
