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

import math
from dataclasses import dataclass, field

import yaml

from symbackprop.verify import arguments, limits
from symbackprop.verify.check import verify
from symbackprop.verify.errors import BadArgument, DerivationFileError, TooLarge, VerifyError
from symbackprop.verify.world import World

TOP_KEYS = {"define", "claims", "shapes", "sizes", "assume", "rtol", "functions"}
CLAIM_KEYS = {"claim", "name", "at", "rtol", "expect"}

#: the YAML tags a derivation file may use (implicit ones included): plain data only
PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in
              ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")}


@dataclass
class ClaimEntry:
    """One item of ``claims:``, with the line it starts on."""

    text: str
    line: int
    name: object = None
    at: dict = field(default_factory=dict)
    rtol: object = None
    #: "holds" (the default) or "fails", optionally "fails: <words of the reason>"
    expect: str = "holds"

    def as_expected(self, verdict):
        """Whether the verdict is what ``expect:`` says (a wrong line kept on purpose)."""
        want, _, words = self.expect.partition(":")
        if want.strip() == "holds":
            return bool(verdict.holds)
        return not verdict.holds and words.strip() in (verdict.reason or "")


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
    functions: dict = None


def _fail(path, node, message):
    line = node.start_mark.line + 1 if node is not None else None
    return DerivationFileError(message).locate(file=path, line=line)


def _scalar(node):
    return yaml.safe_load(yaml.serialize(node)) if node is not None else None


def _mapping(path, node, what):
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping (name: value)")
    return [(k, v) for k, v in node.value]


def _read(path):
    """The file's text: at most ``limits.MAX_FILE_BYTES``, and UTF-8."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.MAX_FILE_BYTES + 1)
    except OSError as e:
        raise DerivationFileError(f"cannot read: {e.strerror}").locate(file=path) from None
    if len(data) > limits.MAX_FILE_BYTES:
        raise TooLarge(f"file larger than {limits.MAX_FILE_BYTES} bytes").locate(file=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DerivationFileError(f"not UTF-8 text: byte 0x{data[e.start]:02x} cannot be "
                                  f"read").locate(file=path, line=line) from None


def _compose(path, text):
    """The YAML node tree (no Python objects are built), every tag checked."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        err = DerivationFileError(f"not valid YAML: {problem}")
        raise err.locate(file=path, line=mark.line + 1 if mark else None) from None
    except RecursionError:      # PyYAML's composer recurses once per nesting level
        raise TooLarge("YAML nested too deeply").locate(file=path) from None
    _check_tags(path, root)
    return root


def _check_tags(path, root):
    """Only plain YAML (strings, numbers, lists, mappings): a tag such as
    ``!!python/object/apply:os.system`` is an error, never a constructor to call."""
    seen, stack = set(), [root] if root is not None else []
    while stack:                # iterative, and each node once: aliases share nodes
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _fail(path, node, f"YAML tag {tag} is not allowed (plain strings, numbers, "
                                    f"lists and mappings only)")
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))


def load(path):
    """Read and check the structure of a derivation file (no math yet).

    Raises ``DerivationFileError`` (or ``TooLarge``) naming the file and line.
    """
    root = _compose(path, _read(path))
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
    for key, check in (("shapes", arguments.check_shapes), ("sizes", arguments.check_sizes),
                       ("assume", arguments.check_assume)):
        extras[key] = _scalar(top[key]) if key in top else {}
        if extras[key] is None:
            extras[key] = {}
        if not isinstance(extras[key], dict):
            raise _fail(path, top[key], f"'{key}' must be a mapping")
        _each_entry(path, top.get(key), check)
    rtol = _scalar(top["rtol"]) if "rtol" in top else None
    functions = _functions(path, top.get("functions"))
    return DerivationFile(path, define, lines, claims, extras["shapes"], extras["sizes"],
                          extras["assume"], _rtol(path, top.get("rtol"), rtol), functions)


def _functions(path, node):
    """``functions: {name: number of arguments}``, each entry checked with its line."""
    if node is None:
        return {}
    out = {}
    for k, v in _mapping(path, node, "'functions'"):
        name, n = _scalar(k), _scalar(v)
        if not isinstance(name, str) or isinstance(n, bool) or not isinstance(n, int) \
                or not 1 <= n <= 8:
            raise _fail(path, v, f"functions: {name!r} needs its number of arguments, "
                                 f"1 to 8 (functions: {{loss: 1, F_k: 2}}), got {n!r}")
        out[name] = n
    return out


def _each_entry(path, node, check):
    """``check`` each entry of a mapping node on its own, so an error has its line."""
    if not isinstance(node, yaml.MappingNode):
        return
    for k, v in node.value:
        try:
            check({_scalar(k): _scalar(v)})
        except BadArgument as e:
            raise _fail(path, k, e.message) from None


def _rtol(path, node, value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _fail(path, node, f"rtol must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise _fail(path, node, f"rtol must be a number >= 0, got {value!r}")
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
    _each_entry(path, fields.get("at"), arguments.check_at)
    name = _scalar(fields.get("name"))
    expect = _scalar(fields["expect"]) if "expect" in fields else "holds"
    if not isinstance(expect, str) or expect.partition(":")[0].strip() not in ("holds", "fails"):
        raise _fail(path, fields["expect"], f"expect must be 'holds', 'fails' or 'fails: "
                                            f"<words of the reason>', got {expect!r}")
    return ClaimEntry(_scalar(fields["claim"]), fields["claim"].start_mark.line + 1,
                      name=None if name is None else str(name), at=at,
                      rtol=_rtol(path, fields.get("rtol"), _scalar(fields.get("rtol"))),
                      expect=expect)


def run_file(path, rtol=None):
    """Verify every claim of a derivation file: a list of ``(ClaimEntry, Verdict)``.

    ``rtol`` (the command line's) applies to claims without their own ``rtol:``.
    Raises ``VerifyError`` (with file and line) for a malformed file or claim.
    """
    doc = load(path)
    try:
        world = World(doc.define, doc.shapes, doc.sizes, doc.assume, lines=doc.define_lines,
                      functions=doc.functions)
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
