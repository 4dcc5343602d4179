"""Derivation files: YAML with ``define:`` and ``claims:``, read with line numbers.

Format (keys other than ``claims`` are optional)::

    define:                 # in order; sympy syntax or LaTeX; keys may be LaTeX names
      z: w*x + b
      yhat: sigmoid(z)
      L: (yhat - y)**2/2
    shapes: {W: [h, n]}      # vector/matrix names; sizes by name or number
    sizes: {h: 3}            # optional: fix a symbolic size (others: 2, 3, 4, ...)
    assume: {x: positive}    # optional
    rtol: 0                  # optional: relative tolerance for every claim
    claims:
      - d(L, w) == (yhat - y) * yhat * (1 - yhat) * x
      - name: worked example
        claim: d(L, w) == -0.0887
        at: {w: 0.5, x: 1, b: 0, y: 1}
        rtol: 1e-3

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "d.yaml")
>>> _ = open(path, "w").write("define:\\n  L: w**2\\nclaims:\\n  - d(L, w) == 2*w\\n")
>>> [(c.line, v.holds) for c, v in run_file(path)]
[(4, True)]
"""

from dataclasses import dataclass, field

import yaml

from symbackprop.verify.check import verify
from symbackprop.verify.errors import DerivationFileError, VerifyError
from symbackprop.verify.world import World

TOP_KEYS = {"define", "claims", "shapes", "sizes", "assume", "rtol"}
CLAIM_KEYS = {"claim", "name", "at", "rtol"}


@dataclass
class ClaimEntry:
    """One item of ``claims:``, with the line it starts on."""

    text: str
    line: int
    name: object = None
    at: dict = field(default_factory=dict)
    rtol: object = None


@dataclass
class DerivationFile:
    """A parsed derivation file: plain data plus the line of each definition and claim."""

    path: str
    define: list
    define_lines: dict
    claims: list
    shapes: dict
    sizes: dict
    assume: dict
    rtol: object


def _fail(path, node, message):
    line = node.start_mark.line + 1 if node is not None else None
    return DerivationFileError(message).locate(file=path, line=line)


def _scalar(node):
    return yaml.safe_load(yaml.serialize(node)) if node is not None else None


def _mapping(path, node, what):
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping (name: value)")
    return [(k, v) for k, v in node.value]


def load(path):
    """Read and check the structure of a derivation file (no math yet).

    Raises ``DerivationFileError`` naming the file and line.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise DerivationFileError(f"cannot read: {e.strerror}").locate(file=path) from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        err = DerivationFileError(f"not valid YAML: {problem}")
        raise err.locate(file=path, line=mark.line + 1 if mark else None) from None
    if root is None:
        raise DerivationFileError("empty file; expected 'define:' and 'claims:'").locate(
            file=path)
    top = {}
    for k, v in _mapping(path, root, "the file"):
        key = _scalar(k)
        if key not in TOP_KEYS:
            raise _fail(path, k, f"unknown key {key!r} (expected {', '.join(sorted(TOP_KEYS))})")
        top[key] = v
    define, lines = [], {}
    if "define" in top and _scalar(top["define"]) is not None:
        for k, v in _mapping(path, top["define"], "'define'"):
            name, value = _scalar(k), _scalar(v)
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise _fail(path, v, f"definition of {name!r} must be an expression")
            define.append((name, value))
            lines[name] = k.start_mark.line + 1
    if "claims" not in top:
        raise _fail(path, root, "no 'claims:' list")
    node = top["claims"]
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(path, node, "'claims' must be a list")
    claims = [_claim(path, item) for item in node.value]
    extras = {}
    for key in ("shapes", "sizes", "assume"):
        extras[key] = _scalar(top[key]) if key in top else {}
        if extras[key] is None:
            extras[key] = {}
        if not isinstance(extras[key], dict):
            raise _fail(path, top[key], f"'{key}' must be a mapping")
    rtol = _scalar(top["rtol"]) if "rtol" in top else None
    return DerivationFile(path, define, lines, claims, extras["shapes"], extras["sizes"],
                          extras["assume"], _rtol(path, top.get("rtol"), rtol))


def _rtol(path, node, value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise _fail(path, node, f"rtol must be a number, got {value!r}") from None
    if value < 0:
        raise _fail(path, node, "rtol must not be negative")
    return value


def _claim(path, item):
    line = item.start_mark.line + 1
    if isinstance(item, yaml.ScalarNode):
        text = _scalar(item)
        if not isinstance(text, str):
            raise _fail(path, item, f"a claim must be a string, got {text!r}")
        return ClaimEntry(text, line)
    if not isinstance(item, yaml.MappingNode):
        raise _fail(path, item, "a claim must be a string or a mapping with 'claim:'")
    fields = {}
    for k, v in item.value:
        key = _scalar(k)
        if key not in CLAIM_KEYS:
            raise _fail(path, k, f"unknown claim key {key!r} (expected "
                                 f"{', '.join(sorted(CLAIM_KEYS))})")
        fields[key] = v
    if "claim" not in fields or not isinstance(_scalar(fields["claim"]), str):
        raise _fail(path, item, "a claim mapping needs 'claim:' with the claim as a string")
    at = _scalar(fields["at"]) if "at" in fields else {}
    if not isinstance(at, dict):
        raise _fail(path, fields["at"], "'at' must be a mapping {name: number}")
    return ClaimEntry(_scalar(fields["claim"]), fields["claim"].start_mark.line + 1,
                      name=_scalar(fields.get("name")), at=at,
                      rtol=_rtol(path, fields.get("rtol"), _scalar(fields.get("rtol"))))


def run_file(path, rtol=None):
    """Verify every claim of a derivation file: a list of ``(ClaimEntry, Verdict)``.

    ``rtol`` (the command line's) applies to claims without their own ``rtol:``.
    Raises ``VerifyError`` (with file and line) for a malformed file or claim.
    """
    doc = load(path)
    try:
        world = World(doc.define, doc.shapes, doc.sizes, doc.assume, lines=doc.define_lines)
    except VerifyError as e:
        raise e.locate(file=path) if hasattr(e, "locate") else e
    out = []
    for i, entry in enumerate(doc.claims, 1):
        tol = entry.rtol if entry.rtol is not None else (
            rtol if rtol is not None else (doc.rtol or 0.0))
        label = entry.name or f"#{i}"
        try:
            v = verify(entry.text, at=entry.at, rtol=tol, name=entry.name, world=world)
        except VerifyError as e:
            if hasattr(e, "locate"):
                e.where = e.where if e.where and entry.name else f"claim {label}"
                raise e.locate(file=path, line=entry.line)
            raise DerivationFileError(str(e)).locate(file=path, line=entry.line) from None
        out.append((entry, v))
    return out
