"""``symbackprop verify FILE.yaml [--json] [--rtol R]``: check a derivation file.

Prints each claim with ✓ or ✗ (and, for ✗, the reason, the correct form and a
counterexample; with ``--explain`` also the kind of mistake in words, the corrected line
and a chain's links), or with ``--json`` a JSON array, one object per claim.  Exit status:
0 when every claim is as expected (it holds, or fails as its ``expect: fails`` says), 1
otherwise, 2 for a malformed file (the error names the file and line).

>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers()
>>> register(sub)
>>> p.parse_args(["verify", "f.yaml", "--rtol", "1e-3"]).rtol
0.001
"""

import argparse
import json
import math
import sys

from symbackprop.errors import SymbackpropError


def register(subparsers):
    """Add the ``verify`` subcommand to an argparse ``subparsers``."""
    p = subparsers.add_parser(
        "verify", help="check derivation claims in a YAML file",
        description="Check the claims of a derivation file (define: and claims:) against "
                    "the derived formulas. Exit 0 if all hold, 1 if any fails, 2 if the "
                    "file is malformed.")
    p.add_argument("file", metavar="FILE.yaml", help="the derivation file")
    p.add_argument("--json", action="store_true",
                   help="print a JSON array, one object per claim")
    p.add_argument("--explain", action="store_true",
                   help="for each failing claim also say what kind of mistake it is, show "
                        "the corrected line (LaTeX for LaTeX claims) and every link of a chain")
    p.add_argument("--rtol", type=_nonnegative, default=None, metavar="R",
                   help="relative tolerance for numeric comparisons (default: exact)")
    p.set_defaults(func=run)


def _nonnegative(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def run(args, out=None, err=None):
    """Run the subcommand; returns the exit status (0 all hold, 1 any fails, 2 malformed)."""
    from symbackprop.verify.files import run_file
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        results = run_file(args.file, rtol=args.rtol)
    except SymbackpropError as e:
        print(f"symbackprop verify: error: {e}", file=err)
        if args.json:
            print(json.dumps({"error": str(e), "file": getattr(e, "file", args.file),
                              "line": getattr(e, "line", None)}, ensure_ascii=False),
                  file=out)
        return 2
    if args.json:
        rows = []
        for entry, v in results:
            row = v.to_dict()
            row["line"] = entry.line
            row["expect"] = entry.expect
            row["as_expected"] = entry.as_expected(v)
            rows.append(row)
        print(json.dumps(rows, indent=2, ensure_ascii=False), file=out)
    else:
        for entry, v in results:
            text = v.explain(detail=getattr(args, "explain", False))
            if entry.expect != "holds":
                text += "\n  (expected: " + entry.expect + (")" if entry.as_expected(v)
                                                            else ", but it is not)")
            print(text, file=out)
        n_ok = sum(1 for _, v in results if v.holds)
        n_wrong = sum(1 for e, v in results if not v.holds and e.expect != "holds"
                      and e.as_expected(v))
        tail = f" ({n_wrong} fail as expected)" if n_wrong else ""
        print(f"\n{n_ok} of {len(results)} claims hold{tail}", file=out)
    return 0 if all(entry.as_expected(v) for entry, v in results) else 1
