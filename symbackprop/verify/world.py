"""The definitions of a derivation, and the value of any claim expression among them.

A ``World`` reads ``define:`` (name → expression, sympy syntax or LaTeX), orders the
definitions by what they use (so order in the file does not matter, and a cycle is an
error naming it), and evaluates every tree into sympy over named scalars: each defined
quantity is a symbol (or a matrix of element symbols) whose body is kept in a ``Bodies``,
so ``d(f, v)`` is the chain rule through names (``chain.py``).

Names that are used but not defined are inputs.  In a claim that mentions a defined name,
a name that is neither defined nor used by any definition (nor declared in ``shapes``,
``assume`` or ``at``) is an error: it is almost always a typo (``yaht``).  A claim that
mentions no defined name is standalone and all its names are free variables.

>>> w = World({"z": "w*x + b", "yhat": "sigmoid(z)", "L": "(yhat - y)**2/2"})
>>> from symbackprop.verify.parse import parse_expression
>>> w.evaluate(parse_expression("d(L, w)"))
x*yhat*(1 - yhat)*(-y + yhat)
"""

import sympy as sp

from symbackprop.verify import arguments, expand, functions, indices, limits, values
from symbackprop.verify import tree as t
from symbackprop.verify.chain import Bodies
from symbackprop.verify.errors import (ClaimError, CyclicDefinitions, ShapeMismatch, TooLarge,
                                       UndefinedName, VerifyError)
from symbackprop.verify.parse import is_latex, parse_expression, parse_name

#: user assumption words -> sympy assumptions
ASSUMPTIONS = {"positive": {"positive": True}, "negative": {"negative": True},
               "nonnegative": {"nonnegative": True}, "nonzero": {"nonzero": True},
               "real": {}}


class Known(set):
    """The names a derivation knows, and (``shaped``) which of them are vectors or matrices:
    the LaTeX parser reads ``z^3_j`` as element j of ``z_3`` when ``z_3`` is one."""

    shaped = frozenset()


class World:
    """Definitions, shapes and assumptions; evaluates claim trees (see module doc)."""

    def __init__(self, define=None, shapes=None, sizes=None, assume=None, lines=None,
                 functions=None):
        self.functions = _declared_functions(functions)
        self.shapes = {_key(k): v for k, v in arguments.check_shapes(shapes).items()}
        self.sizes = expand.choose_sizes(self.shapes, arguments.check_sizes(sizes))
        self.assume = {_key(k): _assumptions(k, v) for k, v in (assume or {}).items()}
        self.lines = lines or {}
        self.bodies = Bodies()
        self.values = {}          # name -> symbol or matrix of element symbols
        self.elements = {}        # element name (W_12) -> its symbol
        self.defined = []         # defined names, in evaluation order
        self.abstract = set()     # abstract function names called
        self.applied = {}         # abstract function name -> its applications (sympy)
        self.promoted = set()     # function names also used as their value (y = f(g(x)))
        self.known = Known(set(self.shapes) | set(self.assume) | set(self.functions))
        self.known.shaped = frozenset(self.shapes)
        self._read(define or {})
        self.promote_values(set().union(*map(_names, self._trees.values())) if self._trees
                            else set())

    # -- definitions -------------------------------------------------------------------
    def _read(self, define):
        items = define.items() if hasattr(define, "items") else define
        trees, texts, keys = {}, {}, []
        for key, text in items:
            where = f"definition of {str(key)!r}"
            try:
                name = parse_name(key, where=where)
            except VerifyError as e:
                raise self._locate(e, key)
            if name in texts:
                raise self._locate(ClaimError(f"'{name}' is defined twice", where=where), key)
            texts[name] = text if isinstance(text, str) else str(text)
            keys.append((name, key))
        # sympy-syntax bodies first: their names let LaTeX bodies read out_{o1} as one name
        known = set(texts) | self.known
        for latex_pass in (False, True):
            for name, key in keys:
                if is_latex(texts[name]) != latex_pass:
                    continue
                try:
                    trees[name] = parse_expression(texts[name], where=f"definition of "
                                                   f"{str(key)!r}", known=known,
                                                   functions=self.functions)
                except VerifyError as e:
                    raise self._locate(e, key)
                known |= _names(trees[name])
        trees = {name: trees[name] for name, _ in keys}
        self._trees = trees
        self.texts = texts
        self.known |= set(trees)
        for node in trees.values():
            self.known |= _names(node)
        refs = {n: {self._alias(r, trees) for r in _names(node)} & set(trees)
                for n, node in trees.items()}
        for name in _topological(refs, self):
            self._define(name, trees[name], texts[name])

    def _alias(self, name, pool):
        if name in pool:
            return name
        bare = name.replace("_", "")
        return bare if bare in pool else name

    def _define(self, name, node, text):
        where = f"definition of {name!r}"
        try:
            value = self.evaluate(node, text=text, where=where, strict=False)
        except VerifyError as e:
            raise self._locate(e, name)
        shp = values.shape(value)
        if not shp:
            sym = expand.symbol(name, self.assume.get(name))
            self.bodies.add(sym, sp.sympify(value))
            self.values[name] = sym
        else:
            mat = expand.element_matrix(name, shp, self.assume.get(name))
            for i in range(shp[0]):
                for j in range(shp[1]):
                    self.bodies.add(mat[i, j], value[i, j])
                    self.elements[mat[i, j].name] = mat[i, j]
            self.values[name] = mat
            self.known.shaped = self.known.shaped | {name}
        self.defined.append(name)

    def promote_values(self, used):
        r"""Function names used as values (``y = f(g(x))`` and ``\frac{dy}{dg}``): the name
        ``g`` is the value ``g(x)``, an intermediate quantity like any defined one, so
        ``d(y, g)`` is ``f'(g)`` and ``d(g, x)`` is ``g'(x)``.  A function applied to two
        different arguments has no one value: using its name as a value is an error."""
        for name in sorted(used & self.abstract - self.promoted - set(self.values)):
            apps = self.applied.get(name, set())
            if len(apps) != 1:
                raise UndefinedName(f"'{name}' is a function applied to {len(apps)} different "
                                    f"arguments; its name alone has no one value")
            app = next(iter(apps))
            sym = expand.symbol(name, self.assume.get(name))
            self.bodies.insert_first_use(sym, app)
            self.values[name] = sym
            self.defined.append(name)
            self.promoted.add(name)

    def _locate(self, e, key):
        line = self.lines.get(key) or self.lines.get(str(key))
        return e.locate(line=line) if hasattr(e, "locate") else e

    # -- names -------------------------------------------------------------------------
    def _lookup(self, name, col, strict, text, where):
        if name in self.values:
            return self.values[name]
        if name in self.elements:
            return self.elements[name]
        if name in self.sizes and name not in self.shapes:
            return sp.Integer(self.sizes[name])     # \frac{1}{m}: the batch's size
        bare = name.replace("_", "")
        if bare != name and bare in self.values and name not in self.known:
            return self.values[bare]
        if name in self.abstract and name in self.applied:
            self.promote_values({name})
            return self.values[name]
        if name in self.abstract:
            raise UndefinedName(f"'{name}' is called as a function elsewhere; write "
                                f"'{name}*(...)' for a product", text=text, col=col,
                                where=where)
        if strict and name not in self.known:
            raise UndefinedName(f"undefined symbol '{name}': not defined, not used by any "
                                f"definition{_suggest(name, self.known)}", text=text,
                                col=col, where=where)
        return self._input(name)

    def _input(self, name):
        if name in self.shapes:
            try:
                shp = expand.concrete_shape(self.shapes[name], self.sizes)
            except (ValueError, KeyError) as e:
                raise VerifyError(f"shape of '{name}': {e}") from None
            limits.check_elements(*shp, what=f"'{name}'")
        else:
            shp = (1, 1)
        value = expand.element_matrix(name, shp, self.assume.get(name))
        if shp != (1, 1):
            for s in value:
                self.elements[s.name] = s
        self.values[name] = value
        self.known.add(name)
        return value

    def is_defined(self, name):
        """True for defined quantities (after the ``W_2`` → ``W2`` fallback)."""
        return name in self.defined or name.replace("_", "") in self.defined

    def mentions_definition(self, node):
        """True when the tree uses a defined name: then unknown names are typos."""
        return any(self.is_defined(n) or n in self.elements and self._element_of_defined(n)
                   for n in _names(node))

    def _element_of_defined(self, n):
        return any(n.startswith(d + "_") for d in self.defined)

    # -- evaluation --------------------------------------------------------------------
    def evaluate(self, node, text=None, where=None, strict=None, env=None):
        """The value of a tree: a sympy expression, or a matrix of them, in named scalars.

        ``strict`` (default: whether the tree mentions a defined name) makes unknown
        names errors rather than new inputs.
        """
        if strict is None:
            strict = bool(self.defined) and self.mentions_definition(node)
        return _Evaluator(self, text, where, strict, env).run(node)


class _Evaluator:
    """One evaluation: carries the source text so every error can point at a column."""

    def __init__(self, world, text, where, strict, env=None):
        self.w, self.text, self.where, self.strict = world, text, where, strict
        self.env = dict(env or {})     # index letter -> its value (1-based), see indices.py

    def err(self, cls, message, col):
        return cls(message, text=self.text, col=col or None, where=self.where)

    def run(self, node):
        try:
            return self.eval(node)
        except values.ShapeProblem as e:
            raise self.err(ShapeMismatch, str(e), getattr(e, "col", None)) from None
        except TooLarge as e:
            if e.text is not None:
                raise
            raise self.err(TooLarge, e.message, e.col) from None

    def eval(self, node):
        if isinstance(node, t.Number):
            return sp.Rational(node.value.numerator, node.value.denominator)
        if isinstance(node, t.Name):
            if self.env:
                hit = indices.element(self, node)
                if hit is not None:
                    return hit
            return self.w._lookup(node.name, node.col, self.strict, self.text, self.where)
        if isinstance(node, t.Unary):
            v = self.eval(node.arg)
            return values.transpose(v) if node.op == "T" else values.elementwise(lambda a: -a, v)
        if isinstance(node, t.Binary):
            a, b = self.eval(node.left), self.eval(node.right)
            try:
                if node.op == "**":     # before sympy computes 10**(10**10)
                    limits.check_power(a, b)
                out = values.binary(node.op, a, b)
                limits.check_number(out)
                if node.op == "**":
                    limits.check_exponents(out)
                return out
            except (values.ShapeProblem, TooLarge) as e:
                e.col = e.col if isinstance(e, TooLarge) and e.col else node.col
                raise
        if isinstance(node, t.Call):
            return self.call(node)
        if isinstance(node, t.Derivative):
            return self.derivative(node)
        if isinstance(node, t.Compare):
            return indices.compare(self, node)
        if isinstance(node, t.Reduce):
            return indices.reduce(self, node)
        if isinstance(node, t.At):
            return self.at(node)
        raise self.err(ClaimError, f"cannot evaluate {t.show(node)}", getattr(node, "col", 0))

    def call(self, node):
        declared = self.w.functions.get(node.func)
        resolved = (node.func, node.primes) if declared is not None else \
            functions.resolve(node.func, node.primes)
        if declared is not None and len(node.args) != declared:
            raise self.err(ClaimError, f"{node.func} is declared with {declared} argument"
                           f"{'s' if declared != 1 else ''}, called with {len(node.args)}",
                           node.col)
        if resolved is None:
            raise self.err(UndefinedName, f"unknown function '{node.func}' (known: "
                           f"{', '.join(functions.known_names())}; abstract functions are "
                           f"f, g, h (also f_1, g_k) or declared in 'functions:')", node.col)
        name, n = resolved
        args = [self.eval(a) for a in node.args]
        if name in functions.ELEMENTWISE:
            if len(args) != 1:
                raise self.err(ClaimError, f"{name} takes one argument", node.col)
            return values.elementwise(lambda a: functions.apply(name, n, a), args[0])
        if name in functions.SPECIAL:
            return self.special(name, n, args, node)
        if name in self.w.values and name not in self.w.promoted:
            raise self.err(UndefinedName, f"'{name}' is a variable, called here as a function "
                           f"(write '{name}*(...)' for a product)", node.col)
        self.w.abstract.add(name)
        if len(args) == 1 and values.shape(args[0]):
            return values.elementwise(lambda a: functions.apply_abstract(name, n, [a]), args[0])
        if any(values.shape(a) for a in args):
            raise self.err(ShapeMismatch, f"{name}: several arguments must be scalars", node.col)
        try:
            out = functions.apply_abstract(name, n, args)
        except ValueError as e:
            raise self.err(ClaimError, str(e), node.col) from None
        if n == 0:
            if name in self.w.promoted:
                # the function's value is a named quantity: its one application is it
                body = self.w.bodies.bodies.get(self.w.values[name])
                if body is not None and sp.sympify(out) == body:
                    return self.w.values[name]
            else:
                self.w.applied.setdefault(name, set()).add(out)
        return out

    def special(self, name, n, args, node):
        if n:
            raise self.err(ClaimError, f"no derivative form of {name}; use d(...)", node.col)
        one = len(args) == 1
        if name in ("sum", "mean", "softmax", "diag") and not one:
            raise self.err(ClaimError, f"{name} takes one argument", node.col)
        if name == "diag":
            if not one:
                raise self.err(ClaimError, "diag takes one argument", node.col)
            els = _elements(args[0])
            limits.check_elements(len(els), len(els), "diag")
            return sp.ImmutableMatrix(sp.diag(*els))
        if name == "sum":
            return sp.Add(*_elements(args[0]))
        if name == "mean":
            els = _elements(args[0])
            return sp.Add(*els) / len(els)
        if name == "softmax":
            v = args[0]
            total = sp.Add(*(sp.exp(e) for e in _elements(v)))
            return values.elementwise(lambda e: sp.exp(e) / total, v)
        if name in ("step", "Heaviside"):
            if not one:
                raise self.err(ClaimError, f"{name} takes one argument", node.col)
            return values.elementwise(lambda a: sp.Heaviside(a, 0), args[0])
        if len(args) != 2:
            raise self.err(ClaimError, f"{name} takes two arguments", node.col)
        fn = sp.Max if name.lower() == "max" else sp.Min
        return values.elementwise(fn, *args)

    def at(self, node):
        """``\\left. body \\right|_{x=a}``: the body with each variable set to its value."""
        subs = {}
        for name, val in node.point:
            sym = self.eval(name)
            if not isinstance(sym, sp.Symbol):
                raise self.err(ClaimError, f"{name.name} is not a variable to set", name.col)
            subs[sym] = self.eval(val)
        body = self.eval(node.body)
        # the defined quantities take their values at the point too (a = sigmoid(w x + b)
        # at w = 0.5 ...), each from its body with the point's values set
        full = {}
        for sym, b in self.w.bodies.bodies.items():
            full[sym] = subs[sym] if sym in subs else b.xreplace(full).xreplace(subs)
        return values.elementwise(
            lambda e: sp.sympify(e).xreplace(subs).xreplace(full).xreplace(subs), body)

    def derivative(self, node):
        if not isinstance(node.v, t.Name):
            raise self.err(ClaimError, "d(f, v): v must be a variable, not "
                           f"{t.show(node.v)!r}", node.v.col or node.col)
        v = self.eval(node.v)
        f = self.eval(node.f)
        bodies = self.w.bodies
        if not values.shape(v):
            if not isinstance(v, sp.Symbol):
                raise self.err(ClaimError, f"d(f, v): {node.v.name} is not a variable",
                               node.col)
            return values.elementwise(lambda e: bodies.derivative(sp.sympify(e), v), f)
        if values.shape(f):
            if 1 in f.shape and 1 in v.shape:
                # a vector by a vector: the Jacobian, J[i, j] = ∂f_i/∂v_j
                fs, vs = list(f), list(v)
                limits.check_elements(len(fs), len(vs), "a Jacobian")
                return sp.ImmutableMatrix(len(fs), len(vs), lambda i, j: bodies.derivative(
                    sp.sympify(fs[i]), vs[j]))
            raise self.err(ShapeMismatch, f"d(f, v): f must be a scalar or a vector when v is "
                           f"a vector (f is {values.describe_shape(f)}, v "
                           f"{values.describe_shape(v)})", node.col)
        return sp.ImmutableMatrix(v.shape[0], v.shape[1],
                                  lambda i, j: bodies.derivative(sp.sympify(f), v[i, j]))


def _key(k):
    """A key of shapes/assume/functions, mapped by the name rule when it is LaTeX."""
    k = str(k)
    return parse_name(k) if is_latex(k) else k


def _declared_functions(functions):
    """``functions: {name: arity}`` checked: names by the name rule, arities 1 to 8."""
    out = {}
    if functions is None:
        return out
    if not isinstance(functions, dict):
        raise VerifyError("functions must be a mapping {name: number of arguments}")
    for k, n in functions.items():
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 8:
            raise VerifyError(f"functions: {k!r} must have a number of arguments from 1 to 8, "
                              f"got {n!r}")
        out[_key(k)] = n
    return out


def _elements(v):
    return list(v) if values.shape(v) else [v]


def _names(node):
    return {n.name for n in t.walk(node) if isinstance(n, t.Name)}


def _assumptions(name, words):
    if isinstance(words, str):
        words = [w.strip() for w in words.replace(",", " ").split()]
    out = {}
    for w in words:
        if w not in ASSUMPTIONS:
            raise VerifyError(f"assume {name}: unknown assumption {w!r} "
                              f"(known: {', '.join(ASSUMPTIONS)})")
        out.update(ASSUMPTIONS[w])
    return out


def _topological(refs, world):
    """Definition names so that each comes after those it uses; a cycle is an error."""
    order, state = [], {}
    for root in refs:
        if state.get(root) == 2:
            continue
        stack = [(root, iter(sorted(refs[root])))]
        state[root] = 1
        path = [root]
        while stack:          # iterative DFS: long chains must not hit the recursion limit
            name, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[name] = 2
                order.append(name)
            elif state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                err = CyclicDefinitions("cyclic definitions: " + " -> ".join(cycle))
                raise world._locate(err, nxt)
            elif state.get(nxt) is None:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(sorted(refs[nxt]))))
    return order


def _suggest(name, known):
    import difflib
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
