"""Formulas of graphs whose expression tree is exponential in the graph's size print fast, and
linear in size: shared values get names (u₁, u₂, …) defined once.

``v = sin(v) + v`` repeated k times reads each value twice, so its gradient written out as a
tree has about 2ᵏ copies of ``x``: depth 14 printed a 1.9 GB LaTeX string in 42 s.  Timings
run in a subprocess with a timeout, so a regression fails instead of hanging the suite.
"""

import json
import re
import subprocess
import sys
import textwrap

import pytest

import symbackprop as sb
from symbackprop.render.shared import MIN_CHARS

CHAIN = textwrap.dedent("""
    import json, sys, time
    import symbackprop as sb

    def chain(depth):
        x = sb.input("x", (3,)); v = x
        for _ in range(depth):
            v = sb.sin(v) + v
        L = sb.sum(v)
        return x, L, sb.grad(L, x)

    out = {}
    for depth in map(int, sys.argv[1:]):
        x, L, g = chain(depth)
        row = {}
        for what, show in [("text", lambda: str(g)), ("latex", g.latex),
                           ("explain", lambda: str(sb.explain(L, wrt=x))), ("listing", g.listing)]:
            cpu = time.process_time()
            s = show()
            row[what] = {"seconds": time.process_time() - cpu, "chars": len(s), "head": s[:300]}
        out[depth] = row
    print(json.dumps(out))
""")


def run_chain(*depths, timeout=120):
    done = subprocess.run([sys.executable, "-c", CHAIN, *map(str, depths)], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr
    return {int(k): v for k, v in json.loads(done.stdout).items()}


@pytest.fixture(scope="module")
def chains():
    return run_chain(14, 30)


@pytest.mark.parametrize("depth", [14, 30])
@pytest.mark.parametrize("what", ["text", "latex", "explain"])
def test_exponential_tree_prints_in_under_a_second(chains, depth, what):
    # CPU time of this process, so other work on the machine does not fail the test
    assert chains[depth][what]["seconds"] < 1.0, chains[depth][what]


def test_shared_values_are_named_and_defined():
    x, L, g = chain(6)
    text = str(g)
    assert "\n  where u" in text and "u₁ = x + sin(x)" in text
    latex = g.latex()
    assert r",\quad \mathrm{where}\ u_{" in latex and r"u_{1} = x + \sin\left(x\right)" in latex
    steps = sb.explain(L, wrt=x).steps
    shared = [s for s in steps if s.kind == "shared"]
    assert shared and [s.lhs for s in shared] == [f"u{c}" for c in "₁₂₃₄₅"]
    defined = set()
    for s in steps:  # every name is defined before a step reads it
        used = set(re.findall("u[₀-₉]+", s.rhs))
        assert used <= defined, (s.lhs, used - defined)
        defined.add(s.lhs)


def test_output_size_is_linear_in_depth():
    sizes = run_chain(10, 20, 30, 40)
    for what in ("text", "latex", "explain"):
        chars = [sizes[d][what]["chars"] for d in (10, 20, 30, 40)]
        steps = [b - a for a, b in zip(chars, chars[1:])]
        assert max(steps) < 1.5 * min(steps), (what, chars)  # exponential would double every level
        assert chars[-1] < 200 * 40, (what, chars)


def test_small_or_single_use_values_stay_inline():
    t = sb.input("t", (None, 3))
    assert str(sb.sin(t) * t + t) == "t ⊙ sin(t) + t"  # t read three times, but short
    e = sb.tanh(sb.exp(t) * 3 + sb.log(t) * 5 + sb.sqrt(t) * 7 + t ** 2)
    assert len(str(e)) > MIN_CHARS
    assert "where" not in str(e * 2)  # long, but read once
    shared = e * sb.sin(e)
    assert str(shared).startswith("u₁ ⊙ sin(u₁)\n  where u₁ = tanh(")


def test_shared_names_do_not_clash_with_the_graphs_names():
    u1 = sb.input("u1", (None, 3))
    e = sb.tanh(sb.exp(u1) * 3 + sb.log(u1) * 5 + sb.sqrt(u1) * 7 + u1 ** 2)
    text = str(e * sb.sin(e))
    assert text.startswith("u₂ ⊙ sin(u₂)\n  where u₂ = tanh(") and "u₁" in text


def test_values_are_unchanged_by_naming():
    import numpy as np
    x, L, g = chain(8)
    before = sb.evaluate([g], {"x": np.array([0.1, 0.2, 0.3])})[0]
    str(g); g.latex(); sb.explain(L, wrt=x)
    np.testing.assert_array_equal(sb.evaluate([g], {"x": np.array([0.1, 0.2, 0.3])})[0], before)


def test_named_latex_renders_in_mathtext():
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    x, L, g = chain(6)
    parser.parse("$" + g.latex() + "$")
    for line in sb.explain(L, wrt=x).latex_lines():
        parser.parse("$" + line + "$")


def test_expand_of_an_exponential_tree_fails_fast():
    code = textwrap.dedent("""
        import time, symbackprop as sb
        x = sb.input("x", (3,)); v = x
        for _ in range(30): v = sb.sin(v) + v
        g = sb.grad(sb.sum(v), x)
        t = time.process_time()
        try:
            sb.expand(g)
        except sb.SymbackpropError as e:
            print(type(e).__name__, time.process_time() - t, e)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kind, seconds, message = done.stdout.split(" ", 2)
    assert kind == "DerivationError" and "exceed 50000 operations" in message and "MAX_OPS" in message
    assert float(seconds) < 3.0


def chain(depth):
    x = sb.input("x", (3,))
    v = x
    for _ in range(depth):
        v = sb.sin(v) + v
    L = sb.sum(v)
    return x, L, sb.grad(L, x)
