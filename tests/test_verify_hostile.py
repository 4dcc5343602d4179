"""verify gives no silent wrong answers: exact numbers stay exact, hostile input (huge
numbers and sizes, deep nesting, long texts, bad files, bad arguments) ends in seconds with
an error naming what was too large and where.

Every test runs under a timer (``guard``, or a subprocess timeout), so a regression that
hangs fails instead of stalling CI.
"""

import signal
import subprocess
import sys
from fractions import Fraction

import pytest

from symbackprop.cli import main
from symbackprop.errors import SymbackpropError, VerifyError
from symbackprop.verify import limits, verify
from symbackprop.verify.errors import BadArgument, TooLarge

SECONDS = 30
NEURON = {"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"}


class Hung(Exception):
    pass


def short(v):
    """A short test id for a long parameter (a 100 000-character claim)."""
    text = v.decode("latin-1") if isinstance(v, bytes) else str(v)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} chars)"


@pytest.fixture(autouse=True)
def guard():
    """Fail (not hang) when one test takes longer than SECONDS."""
    def expire(signum, frame):
        raise Hung(f"took longer than {SECONDS} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- exact numbers ----------------------------------------------------------------------

@pytest.mark.parametrize("claim", ids=short, argvalues=[
    "d(x**2, x) == 2*x + 10**-30",
    "d(x**2, x) == 2*x + 1e-30",
    "d(x**2, x) == 2*x*(1 + 10**-30)",
    r"\frac{d}{dx} x^2 = 2x + 10^{-30}",
    r"\frac{d}{dx} x^2 = 2x + \frac{1}{10^{30}}",
    "d(sigmoid(x), x) == exp(-x)/(1 + exp(-x))**2 + 10**-40",
    "1 + 10**-100 == 1",
    "0.1 + 0.2 == 0.30000000000000004",
    "exp(-10**6) + 1 == 1",
    "tanh(100) == 1",
])
def test_a_claim_off_by_any_nonzero_amount_does_not_hold(claim):
    v = verify(claim)
    assert not v.holds and v.reason


@pytest.mark.parametrize("claim", ids=short, argvalues=[
    "0.1 + 0.2 == 0.3",
    "1e-30 == 10**-30",
    "d(sigmoid(x), x) == exp(-x)/(1 + exp(-x))**2",
    "d(x**2, x) == 2*x + 10**-30 - 1e-30",
    r"\frac{d}{dx} x^2 = 2x",
])
def test_exact_claims_hold(claim):
    assert verify(claim).holds


def test_the_difference_is_named_and_the_counterexample_tells_the_sides_apart():
    v = verify("d(x**2, x) == 2*x + 10**-30")
    assert v.reason == "off by 1/" + "1" + "0" * 30
    cx = v.counterexample
    assert cx.lhs_value != cx.rhs_value


def test_exactness_through_definitions_and_latex_definitions():
    assert not verify("d(L, w) == (yhat - y)*yhat*(1 - yhat)*x + 10**-30", define=NEURON).holds
    assert verify("d(L, w) == (yhat - y)*yhat*(1 - yhat)*x", define=NEURON).holds
    latex = {"z": "w*x + b", "yhat": r"\sigma(z)", "L": r"\frac12 (\hat{y} - y)^2"}
    assert not verify(r"\frac{\partial L}{\partial z} = (\hat{y} - y)\sigma'(z) + 10^{-30}",
                      define=latex).holds


def test_exactness_in_matrix_claims():
    kw = dict(define={"L": "sum(W*W)"}, shapes={"W": [2, 3]})
    assert verify("d(L, W) == 2*W", **kw).holds
    v = verify("d(L, W) == 2*W + 10**-30", **kw)
    assert not v.holds and v.counterexample is not None


def test_numeric_mode_allows_rounding_as_documented():
    assert verify("d(x**2, x) == 2*x + 10**-30", rtol=1e-9).holds
    assert verify("sigmoid(5) == 0.9933", rtol=1e-4).holds
    assert not verify("sigmoid(5) == 0.9933").holds
    assert verify(r"\sigma(5) \approx 0.9933").holds


def test_at_values_are_exact_as_written():
    assert verify("x == 1/10", at={"x": 0.1}).holds
    assert verify("x == 10**-30", at={"x": "1e-30"}).holds
    assert verify("x == 1/3", at={"x": Fraction(1, 3)}).holds
    assert not verify("x == 10**-30", at={"x": 0}).holds


def test_library_constants_are_exact_too():
    # leaky_relu's slope is written 0.01: it is 1/100, like a claim's 0.01
    assert verify("d(leaky_relu(x), x) == 0.01", at={"x": -1}).holds


# -- limits -----------------------------------------------------------------------------

def too_large(claim, *words, **kw):
    with pytest.raises(TooLarge) as info:
        verify(claim, **kw)
    e = info.value
    assert isinstance(e, VerifyError) and isinstance(e, SymbackpropError)
    text = str(e)
    assert text.startswith("claim"), text
    for w in words:
        assert w in text, text
    assert len(text) < 1000          # a long claim is quoted as an excerpt
    return e


@pytest.mark.parametrize("claim, words", ids=short, argvalues=[
    ("x == 10**(10**10)", ["exponent 10000000000 too large", "10**(10**10)"]),
    ("x == 2**2**2**2**2**2", ["exponent 65536 too large"]),
    ("x == 1e999999999", ["number 1e999999999 too large"]),
    (r"x = 10^{10^{10}}", ["exponent 10000000000 too large", "10^{10^{10}}"]),
    ("x == " + "9" * 5000, ["too large: at most 1000 digits"]),
    (r"x = " + "9" * 5000, ["too large: at most 1000 digits"]),
    ("x == (x**1000)**1000", ["exponent 1000000 too large"]),
    ("x == (1 + 10**-999)**1000", ["power with about"]),
    ("x**x**x**x**x**x**x**x == x", ["too large to compute"]),
    ("exp(exp(exp(exp(exp(x))))) == x", ["too large to compute"]),
])
def test_huge_numbers_are_refused_before_they_are_built(claim, words):
    too_large(claim, *words)


@pytest.mark.parametrize("claim, words", ids=short, argvalues=[
    ("(" * 5000 + "x" + ")" * 5000 + " == x", ["nested too deeply", "brackets"]),
    ("{" * 5000 + "x" + "}" * 5000 + " = x", ["nested too deeply", "brackets"]),
    ("-" * 5000 + "x == x", ["nested too deeply", "levels of operations"]),
    ("x == " + " + ".join(["x"] * 1000), ["nested too deeply"]),
    ("x == " + "+".join(["x"] * 50000), ["too long: 100004 characters"]),
    ("d(d(d(d(d(x**9, x), x), x), x), x) == 0", ["derivative of order 5"]),
    ("sigmoid''''''(x) == 0", ["derivative of order 6"]),
])
def test_deep_and_long_input_is_refused(claim, words):
    too_large(claim, *words)


def test_long_definitions_are_refused_with_their_name():
    with pytest.raises(TooLarge, match="definition of 'L'.*too long"):
        verify("d(L, x) == 0", define={"L": "+".join(["x"] * 50000)})


@pytest.mark.parametrize("kw, words", ids=short, argvalues=[
    (dict(shapes={"W": ["N", "N"]}, sizes={"N": 10**9}), ["sizes['N'] = 1000000000"]),
    (dict(shapes={"W": [10**5, 10**5]}), ["shapes['W'][0] = 100000"]),
    (dict(shapes={"W": [200, 200]}), ["shapes['W'] = [200, 200] has 40000 elements"]),
    (dict(shapes={"W": ["N", "N"]}, sizes={"N": 200}), ["'W' would have 40000 elements"]),
])
def test_huge_sizes_are_refused(kw, words):
    with pytest.raises((BadArgument, TooLarge)) as info:
        verify("d(L, W) == 2*W", define={"L": "sum(W*W)"}, **kw)
    assert all(w in str(info.value) for w in words) and "at most" in str(info.value)


def test_huge_intermediate_results_are_refused():
    too_large("x * y.T == 0", "200×200", "at most 256",
              shapes={"x": [200, 1], "y": [200, 1]})
    too_large("x.T @ (y @ y.T) == 0", "a matrix product",
              shapes={"x": [20, 1], "y": [20, 1]})


def test_limits_are_named_constants():
    for name in ("MAX_TEXT_CHARS", "MAX_NESTING", "MAX_DEPTH", "MAX_DIGITS", "MAX_EXPONENT",
                 "MAX_ORDER", "MAX_ELEMENTS", "MAX_FILE_BYTES"):
        assert isinstance(getattr(limits, name), int)


def test_within_limits_still_works():
    assert verify("d(x**1000, x) == 1000*x**999").holds
    assert verify("x == " + " + ".join(["x"] * 150) + " - 149*x").holds
    assert verify("((((((((((x)))))))))) == x").holds
    assert verify("10**-999 * 10**999 == 1").holds


# -- bad arguments ----------------------------------------------------------------------

@pytest.mark.parametrize("args, kw, words", ids=short, argvalues=[
    ((3,), {}, "claim must be a string"),
    ((None,), {}, "claim must be a string"),
    (("x == x", [("a", "x")]), {}, "define must be a mapping"),
    (("x == x", {"a": 3}), {}, "define['a'] must be an expression as a string"),
    (("x == x", {1: "x"}), {}, "define: names must be strings"),
    (("x == x",), dict(rtol=-1), "rtol must be a number >= 0"),
    (("x == x",), dict(rtol=float("nan")), "rtol must be a number >= 0"),
    (("x == x",), dict(rtol="1e-3"), "rtol must be a number >= 0"),
    (("x == x",), dict(rtol=True), "rtol must be a number >= 0"),
    (("x == x",), dict(sizes={"n": 0}), "sizes['n'] must be a positive int"),
    (("x == x",), dict(sizes={"n": 2.5}), "sizes['n'] must be a positive int"),
    (("x == x",), dict(sizes=[("n", 3)]), "sizes must be a mapping"),
    (("x == x",), dict(rtool=1e-3), "unknown keyword argument 'rtool'"),
    (("x == x",), dict(at=[1, 2]), "at must be a mapping"),
    (("x == x",), dict(at={"x": None}), "at['x'] must be a number"),
    (("x == x",), dict(at={"x": float("inf")}), "at['x'] must be a number"),
    (("x == x",), dict(shapes=5), "shapes must be a mapping"),
    (("x == x",), dict(shapes={"W": [2, 3, 4]}), "shapes['W']: at most 2 dimensions"),
    (("x == x",), dict(shapes={"W": [None]}), "shapes['W'][0] must be a positive int"),
    (("x == x",), dict(assume={"x": 5}), "assume['x'] must be a word"),
    (("x == x",), dict(name=5), "name must be a string"),
])
def test_bad_arguments_are_typed_errors_naming_the_argument(args, kw, words):
    with pytest.raises(BadArgument) as info:
        verify(*args, **kw)
    assert isinstance(info.value, VerifyError) and isinstance(info.value, TypeError)
    assert words in str(info.value)


# -- derivation files -------------------------------------------------------------------

def run_cli(tmp_path, content, capsys, name="d.yaml"):
    """``symbackprop verify FILE`` through the console entry point: (status, stderr)."""
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    status = main(["verify", str(path)])
    return status, capsys.readouterr().err


@pytest.mark.parametrize("content, words", ids=short, argvalues=[
    (b"\xff\xfe\x00d\x00e\x00f", ["d.yaml:1:", "not UTF-8"]),
    (b"claims:\n  - x == x\n  - \xff\n", ["d.yaml:3:", "not UTF-8"]),
    (b"", ["empty file"]),
    (b"# only a comment\n", ["empty file"]),
    (b"- d(x**2, x) == 2*x\n", ["d.yaml:1:", "must be a mapping"]),
    (b"just a scalar\n", ["d.yaml:1:", "must be a mapping"]),
    (b"claims: " + b"[" * 5000 + b"]" * 5000 + b"\n", ["nested too deeply"]),
    (b"define:\n  L: x**2\nclaims:\n  - d(L, x) == 2*x\n  - d(L, x) == 10**(10**10)\n",
     ["d.yaml:5:", "exponent 10000000000 too large"]),
    (b"claims:\n  - x = 10^{10^{10}}\n", ["d.yaml:2:", "exponent"]),
    (b"claims:\n  - \"" + b"(" * 5000 + b"x" + b")" * 5000 + b" == x\"\n",
     ["d.yaml:2:", "nested too deeply"]),
    (b"claims:\n  - x == " + b"+".join([b"x"] * 50000) + b"\n", ["d.yaml:2:", "too long"]),
    (b"define:\n  L: sum(W*W)\nshapes: {W: [N, N]}\nsizes: {N: 1000000000}\n"
     b"claims:\n  - d(L, W) == 2*W\n", ["d.yaml:4:", "sizes['N'] = 1000000000"]),
    (b"shapes: {W: [N, N]}\nsizes: {N: 10**9}\nclaims:\n  - W == W\n",
     ["d.yaml:2:", "must be a positive int"]),
    (b"shapes: {W: [100000, 100000]}\nclaims:\n  - W == W\n", ["d.yaml:1:", "100000"]),
    (b"rtol: .nan\nclaims:\n  - x == x\n", ["d.yaml:1:", "rtol must be a number >= 0"]),
    (b"claims:\n  - claim: x == 1\n    at: {x: 1e999999999}\n", ["d.yaml:2:", "at x"]),
])
def test_malformed_files_exit_2_with_file_line_and_no_traceback(tmp_path, capsys, content,
                                                                  words):
    status, err = run_cli(tmp_path, content, capsys)
    assert status == 2
    assert "Traceback" not in err and err.startswith("symbackprop verify: error:")
    for w in words:
        assert w in err, err
    assert len(err) < 1500


def test_yaml_tags_never_run_anything(tmp_path, capsys):
    marker = tmp_path / "pwned"
    for content in (f'define:\n  L: !!python/object/apply:os.system ["touch {marker}"]\n'
                    f'claims:\n  - d(L, w) == 0\n',
                    f'claims: !!python/object/apply:os.system ["touch {marker}"]\n',
                    f'!!python/object/apply:os.system ["touch {marker}"]\n',
                    f'claims:\n  - !!python/object/new:os.system ["touch {marker}"]\n',
                    'claims:\n  - !custom x == x\n'):
        status, err = run_cli(tmp_path, content, capsys)
        assert status == 2 and "is not allowed" in err and "Traceback" not in err
    assert not marker.exists()


def test_the_console_script_exits_2_without_traceback(tmp_path):
    marker = tmp_path / "pwned"
    files = {"tag.yaml": f'claims: !!python/object/apply:os.system ["touch {marker}"]\n',
             "huge.yaml": "claims:\n  - x == 2**2**2**2**2**2\n",
             "bytes.yaml": None}
    for name, text in files.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(b"\xff\xfe\xfa")
        else:
            path.write_text(text)
        run = subprocess.run([sys.executable, "-m", "symbackprop", "verify", str(path)],
                             capture_output=True, text=True, timeout=SECONDS)
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr and f"{name}:" in run.stderr
    assert not marker.exists()


def test_rtol_flag_refuses_nan(tmp_path, capsys):
    path = tmp_path / "d.yaml"
    path.write_text("claims:\n  - x == x\n")
    with pytest.raises(SystemExit) as info:
        main(["verify", str(path), "--rtol", "nan"])
    assert info.value.code == 2
    assert "must be a number >= 0" in capsys.readouterr().err
