"""Turn stated tests (``assert`` lines, ``>>>`` examples) into questions and a referee's check.

Each test becomes a ``TestCase``: the parts of its condition that need the code under test are
*probes* (the sandbox answers them with plain data), the rest is the *condition* the referee
evaluates on those answers without the code (``gpu_ops.sandbox.referee``). A probe is the
shortest prefix of a call chain rooted at a name the referee does not know (the solution's
functions, a setup variable): ``assert f(x).startswith('a')`` asks for ``f(x)`` and the referee
applies ``.startswith('a')`` to the plain string; ``f(x) == 'abc'.upper()`` asks for ``f(x)`` and
the referee computes ``'abc'.upper()`` (so the code under test decides neither). A chain goes on
in the sandbox only while its value is not plain data (``s.pop()`` on a ``Stack``).

Comprehensions, generator expressions and lambdas are read: a comprehension whose element or
filters call the code with its own variables becomes one *collecting* probe (the sandbox runs the
same iteration and answers one row of values per item), and the referee re-runs the iteration on
its side, taking one row per item (``[f(x) for x in [1, 2]] == [2, 4]``). Not read (the test is
dropped): code calls in a later ``for``'s iterable, in a lambda's body with its arguments, or in
a comprehension nested inside a collecting one.

Who may write what: the instruction's tests may not name dangerous builtins or modules (``exec``,
``open``, ``getattr``, ``os``, ``sys``...), dunder names or attributes, and import only
``ALLOWED_IMPORTS``; a competitor's tests may use only the names its author's code defines (its
API), the referee's builtins and names their own setup assigns, with scopes honoured (a lambda
argument or comprehension variable called ``exec`` does not make ``exec`` usable elsewhere), no
import, no walrus, no exponent above 64. Tests that read variables their own text never defines
(``assert s.pop() == 1`` without ``s = Stack()``) are dropped. Anything that cannot be split,
printed or checked is no test, never an error. Nothing here executes anything.
"""

from __future__ import annotations

import ast
import copy
import hashlib
from dataclasses import dataclass

from gpu_ops.arena.trusted_eval import (
    REFEREE_NAMES,
    comprehension_targets,
    free_names,
    has_dunder,
    lambda_arguments,
    referee_safe,
)
from gpu_ops.code_extract import assert_snippets, doctest_groups
from gpu_ops.sandbox.probes import Probe

PEER_BUILTINS = REFEREE_NAMES  # what a competitor's tests may use beyond its own API
DENIED_NAMES = frozenset(
    [
        "exec",
        "eval",
        "compile",
        "open",
        "input",
        "breakpoint",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "memoryview",
        "exit",
        "quit",
        "help",
        "os",
        "sys",
        "subprocess",
        "signal",
        "ctypes",
        "shutil",
        "socket",
        "builtins",
        "importlib",
        "gc",
        "inspect",
        "threading",
        "multiprocessing",
        "pathlib",
        "io",
        "resource",
        "posix",
        "_thread",
        "pty",
        "runpy",
        "types",
        "code",
        "codeop",
        "pickle",
        "marshal",
        "mmap",
        "fcntl",
        "select",
        "atexit",
        "faulthandler",
        "tracemalloc",
        "_wc_cut",
        "_wc_next",
        "_wc_v",
    ]
)
ALLOWED_IMPORTS = frozenset(
    [
        "math",
        "cmath",
        "collections",
        "itertools",
        "functools",
        "heapq",
        "bisect",
        "re",
        "string",
        "fractions",
        "decimal",
        "datetime",
        "random",
        "statistics",
        "operator",
        "typing",
        "dataclasses",
        "copy",
        "json",
        "enum",
        "numbers",
    ]
)
MAX_TEST_CHARS = 2_000
MAX_PEER_EXPONENT = 64
MAX_PROBES_PER_TEST = 8
_PLACEHOLDER = "_wc_probe_"
_ROW = "_wc_row_"
_NEXT = "_wc_next"
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


@dataclass(frozen=True)
class TestCase:
    """One test: ``condition`` (with placeholders ``_wc_probe_<k>``) and the probes it needs.
    ``finish[k]``: the steps of probe k's chain (one tuple per column for a collecting probe),
    whose last ``rest`` the referee applies to the answer."""

    source: str
    condition: str
    probes: tuple[Probe, ...]
    finish: tuple[tuple[tuple[str, ...], ...], ...] = ()

    def referee_job(self, encoded: list[dict]) -> dict:
        """The referee's input for this test and these travelled answers (``Answers.encoded``)."""
        probes: dict[str, dict] = {}
        for k, (probe, answer) in enumerate(zip(self.probes, encoded, strict=True)):
            name = f"{_PLACEHOLDER}{k}"
            if probe.rows:
                probes[name] = {"rows": answer["rows"], "cuts": [list(c) for c in self.finish[k]]}
            else:
                steps = list(self.finish[k][0]) if self.finish else []
                probes[name] = {"value": answer["value"], "rest": answer["rest"], "steps": steps}
        return {"condition": self.condition, "probes": probes}

    def passes(self, answers: list[object], **referee_kwargs) -> bool:
        """Whether the condition holds on these root values (every step still to apply), as the
        referee decides it (a sandbox run); for tools and tests, the judge batches instead."""
        from gpu_ops.sandbox.plain_codec import PlainDataError, encode_answer
        from gpu_ops.sandbox.referee import decide

        encoded = []
        try:
            for k, (probe, value) in enumerate(zip(self.probes, answers, strict=True)):
                if probe.rows:
                    rows = [
                        [
                            [encode_answer(cell), len(self.finish[k][j])]
                            for j, cell in enumerate(row)
                        ]
                        for row in value  # type: ignore[attr-defined]
                    ]
                    encoded.append({"rows": rows})
                else:
                    encoded.append({"value": encode_answer(value), "rest": len(self.finish[k][0])})
        except (PlainDataError, TypeError, ValueError):
            return False
        return decide([self.referee_job(encoded)], **referee_kwargs)[0] is True


class _Unsupported(Exception):
    """A test this splitter does not read (it is dropped)."""


@dataclass
class _Collector:
    local: frozenset[str]
    roots: list[tuple[ast.expr, tuple[str, ...]]]
    row: str


def _parse(source: str, mode: str) -> ast.AST | None:
    try:
        return ast.parse(source, mode=mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def _chain(node: ast.expr) -> tuple[ast.Name, list[ast.expr]] | None:
    """(base name, [the chain's nodes from the innermost out]) when ``node`` is a chain of calls,
    attributes and subscripts on a name; else None."""
    ops: list[ast.expr] = []
    current = node
    while isinstance(current, (ast.Call, ast.Attribute, ast.Subscript)):
        ops.append(current)
        current = current.func if isinstance(current, ast.Call) else current.value
    return (current, ops[::-1]) if isinstance(current, ast.Name) else None


def _arguments(op: ast.expr) -> list[ast.expr]:
    if isinstance(op, ast.Call):
        return [*op.args, *(k.value for k in op.keywords)]
    return [op.slice] if isinstance(op, ast.Subscript) else []


def _step(op: ast.expr) -> str:
    """The source of one chain step applied to ``_wc_v``."""
    value = ast.Name("_wc_v", ast.Load())
    if isinstance(op, ast.Call):
        return ast.unparse(ast.Call(value, op.args, op.keywords))
    if isinstance(op, ast.Subscript):
        return ast.unparse(ast.Subscript(value, op.slice, ast.Load()))
    return ast.unparse(ast.Attribute(value, op.attr, ast.Load()))  # type: ignore[attr-defined]


class _Splitter:
    """Rewrites a condition: probes become placeholders, the rest stays for the referee."""

    def __init__(self, setup: str, group: str, shadow: frozenset[str]) -> None:
        self.setup, self.group, self.shadow = setup, group, shadow
        self.probes: list[Probe] = []
        self.finish: list[tuple[tuple[str, ...], ...]] = []
        self.collector: _Collector | None = None
        self.rows = 0

    def _response(self, name: str, local: frozenset[str]) -> bool:
        return name not in local and (name not in REFEREE_NAMES or name in self.shadow)

    def depends(self, node: ast.AST, local: frozenset[str]) -> bool:
        return any(self._response(name, local) for name in free_names(node, local))

    def split(self, node: ast.expr, local: frozenset[str]) -> ast.expr:
        if not self.depends(node, local):
            return node
        chain = _chain(node)
        if chain is not None and self._response(chain[0].id, local):
            return self._probe(chain, local)
        if isinstance(node, _COMPREHENSIONS):
            return self._comprehension(node, local)
        if isinstance(node, ast.Lambda):
            return self._lambda(node, local)
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, name, self.split(value, local))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.expr):
                        value[index] = self.split(item, local)
                    elif isinstance(item, ast.keyword):
                        item.value = self.split(item.value, local)
        return node

    def _probe(self, chain: tuple[ast.Name, list[ast.expr]], local: frozenset[str]) -> ast.expr:
        base, ops = chain
        calls = [index for index, op in enumerate(ops) if isinstance(op, ast.Call)]
        cut = calls[0] + 1 if calls else 0  # the call of the code's own function is the root
        for index, op in enumerate(ops):
            if any(self.depends(part, frozenset()) for part in _arguments(op)):
                cut = max(cut, index + 1)  # this step needs the code (or a local): root too
        root = ops[cut - 1] if cut else base
        steps = tuple(_step(op) for op in ops[cut:])
        uses = free_names(root) & local
        if uses:
            if self.collector is None or not uses <= self.collector.local:
                raise _Unsupported("a code call on variables this splitter cannot collect")
            self.collector.roots.append((copy.deepcopy(root), steps))
            index = len(self.collector.roots) - 1
            return ast.Subscript(
                ast.Name(self.collector.row, ast.Load()), ast.Constant(index), ast.Load()
            )
        self.probes.append(
            Probe(expression=ast.unparse(root), setup=self.setup, steps=steps, group=self.group)
        )
        self.finish.append((steps,))
        return ast.Name(f"{_PLACEHOLDER}{len(self.probes) - 1}", ast.Load())

    def _lambda(self, node: ast.Lambda, local: frozenset[str]) -> ast.expr:
        node.args.defaults = [self.split(d, local) for d in node.args.defaults]
        node.args.kw_defaults = [
            self.split(d, local) if d is not None else None for d in node.args.kw_defaults
        ]
        saved, self.collector = self.collector, None  # code calls on its arguments: unsupported
        try:
            node.body = self.split(node.body, local | lambda_arguments(node))
        finally:
            self.collector = saved
        return node

    def _comprehension(self, node: ast.expr, local: frozenset[str]) -> ast.expr:
        original = copy.deepcopy(node)
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        if any(g.is_async for g in generators):
            raise _Unsupported("async comprehension")
        generators[0].iter = self.split(generators[0].iter, local)
        inner = local | comprehension_targets(node)
        if any(self.depends(g.iter, inner) for g in generators[1:]):
            raise _Unsupported("a code call in a later for's iterable")
        dependent = [[self.depends(c, inner) for c in g.ifs] for g in generators]
        saved = self.collector
        row = f"{_ROW}{self.rows}"
        self.rows += 1
        collector = _Collector(frozenset(inner), [], row) if saved is None else None
        self.collector = collector
        try:
            for generator in generators:
                generator.ifs = [self.split(c, inner) for c in generator.ifs]
            if isinstance(node, ast.DictComp):
                node.key, node.value = self.split(node.key, inner), self.split(node.value, inner)
            else:
                node.elt = self.split(node.elt, inner)  # type: ignore[attr-defined]
        finally:
            self.collector = saved
        if collector is None or not collector.roots:
            return node
        moved = [
            c
            for g, flags in zip(generators, dependent, strict=True)
            for c, f in zip(g.ifs, flags, strict=True)
            if f
        ]
        for generator, flags in zip(generators, dependent, strict=True):
            generator.ifs = [c for c, f in zip(generator.ifs, flags, strict=True) if not f]
        self._collecting_probe(original, collector, inner)
        take = ast.Call(
            ast.Name(_NEXT, ast.Load()),
            [ast.Name(f"{_PLACEHOLDER}{len(self.probes) - 1}", ast.Load())],
            [],
        )
        generators.append(
            ast.comprehension(ast.Name(row, ast.Store()), ast.List([take], ast.Load()), moved, 0)
        )
        return node

    def _collecting_probe(
        self, original: ast.expr, collector: _Collector, inner: frozenset[str]
    ) -> None:
        """The sandbox side of a collecting comprehension: the same iteration (filters that do
        not need the code only) yielding one row of ``_wc_cut(root, steps)`` per item."""
        generators = original.generators  # type: ignore[attr-defined]
        for generator in generators:
            generator.ifs = [c for c in generator.ifs if not self.depends(c, inner)]
        cells = [
            ast.Call(
                ast.Name("_wc_cut", ast.Load()),
                [root, ast.Tuple([ast.Constant(s) for s in steps], ast.Load())],
                [],
            )
            for root, steps in collector.roots
        ]
        source = ast.unparse(ast.ListComp(ast.Tuple(cells, ast.Load()), generators))
        self.probes.append(Probe(expression=source, setup=self.setup, rows=True, group=self.group))
        self.finish.append(tuple(steps for _, steps in collector.roots))


def defined_names(code: str) -> set[str]:
    """Top-level functions, classes and assigned names of ``code`` (imports excluded)."""
    tree = _parse(code, "exec")
    names: set[str] = set()
    for node in tree.body if tree is not None else []:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _value_names(node: ast.AST, bound: frozenset[str] = frozenset()) -> set[str]:
    """Free names read as values, not called (``s`` in ``s.pop()``, not ``add`` in ``add(1)``)."""
    clone = copy.deepcopy(node)
    for child in ast.walk(clone):
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Name):
            child.func = ast.Constant(None)
    return free_names(clone, bound)


def _big_power(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (isinstance(exponent, ast.Constant) and type(exponent.value) is int):
                return True
            if abs(exponent.value) > MAX_PEER_EXPONENT:  # 10**10**8 runs in C, past any alarm
                return True
    return False


def _denied(tree: ast.AST) -> bool:
    """The instruction's rule: no denied name anywhere, no dunder, imports from the allowed list."""
    if has_dunder(tree):
        return True
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.NamedExpr)):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
            )
            if any(m.split(".")[0] not in ALLOWED_IMPORTS for m in modules):
                return True
            if any(a.name == "*" for a in node.names):
                return True
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return True  # random._os, collections._sys: private attributes reach modules
        name = node.id if isinstance(node, ast.Name) else getattr(node, "arg", None)
        if isinstance(node, ast.alias):
            name = node.asname or node.name
        if isinstance(name, str) and name in DENIED_NAMES:
            return True
    return False


def _peer_allowed(condition: ast.expr, setup: str, allowed: frozenset[str]) -> bool:
    """A competitor's rule: its API and the referee's names only, scopes honoured; setup may
    only assign (in order: a name is usable after the line that assigns it) and call."""
    defined: set[str] = set()
    statements = []
    if setup:
        tree = _parse(setup, "exec")
        if tree is None:
            return False
        statements = tree.body  # type: ignore[attr-defined]
    for statement in [*statements, ast.Expr(condition)]:
        if not isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)):
            return False
        if _denied(statement) or _big_power(statement):
            return False
        if not free_names(statement) <= allowed | defined:
            return False
        defined |= {
            n.id
            for n in ast.walk(statement)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
    return True


def _group(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _split(
    source: str,
    condition: ast.expr,
    setup: str,
    defined: set[str],
    restrict_to: frozenset[str] | None = None,
) -> TestCase | None:
    if _value_names(condition) - defined - REFEREE_NAMES:
        return None  # reads a variable its own text never defines
    if restrict_to is not None:
        api = frozenset(restrict_to - DENIED_NAMES)
        if not _peer_allowed(condition, setup, api | REFEREE_NAMES):
            return None
        shadow = api & REFEREE_NAMES  # the author's own `sorted`: the test means that one
    else:
        setup_tree = _parse(setup, "exec") if setup else None
        if _denied(condition) or (setup and (setup_tree is None or _denied(setup_tree))):
            return None
        shadow = frozenset(defined & REFEREE_NAMES)
    splitter = _Splitter(setup, _group(f"{setup}\n{source}"), shadow)
    try:
        rewritten = splitter.split(copy.deepcopy(condition), frozenset())
    except _Unsupported:
        return None
    if not splitter.probes or len(splitter.probes) > MAX_PROBES_PER_TEST:
        return None  # nothing to ask the code (or too much)
    placeholders = {f"{_PLACEHOLDER}{k}" for k in range(len(splitter.probes))} | {_NEXT}
    if not referee_safe(rewritten, placeholders):
        return None
    return TestCase(
        source=source,
        condition=ast.unparse(rewritten),
        probes=tuple(splitter.probes),
        finish=tuple(splitter.finish),
    )


def _case(*args, **kwargs) -> TestCase | None:
    """``_split`` that treats any failure (a pathologically deep test, a node ``ast.unparse``
    cannot print) as no test."""
    try:
        return _split(*args, **kwargs)
    except (RecursionError, MemoryError, ValueError, TypeError, AttributeError):
        return None


def cases_from_assert(snippet: str, restrict_to: frozenset[str] | None = None) -> TestCase | None:
    """The test case of one ``assert`` statement, or None when it cannot be split."""
    if len(snippet) > MAX_TEST_CHARS:
        return None
    tree = _parse(snippet, "exec")
    if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    return _case(snippet, tree.body[0].test, "", set(), restrict_to)


def _literal(node: ast.expr) -> bool:
    """Whether ``node`` is a literal as a doctest prints one (cost linear in its text)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _literal(k) for k in node.keys) and all(
            _literal(v) for v in node.values
        )
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) in (
            int,
            float,
            complex,
        )
    if isinstance(node, ast.Call):  # set() and frozenset() print so
        return (
            isinstance(node.func, ast.Name)
            and node.func.id in ("set", "frozenset")
            and not node.args
            and not node.keywords
        )
    return False


def _expected(output: list[str], expression: ast.expr) -> tuple[ast.expr, ast.expr] | None:
    """(what to compare, expected value node) for one doctest expression and its output."""
    text = "\n".join(output)
    call = expression
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "print"
        and len(call.args) == 1
        and not call.keywords
    ):  # printed output: compare str(value) with the text
        return ast.Call(ast.Name("str", ast.Load()), [call.args[0]], []), ast.Constant(text)
    node = _parse(text, "eval")
    if node is None or not _literal(node.body):  # the expected output must be a plain literal
        return None
    return call, node.body


def cases_from_doctest(
    group: list[str], restrict_to: frozenset[str] | None = None
) -> list[TestCase]:
    """Test cases of one doctest group: each ``>>>`` expression with an expected output, after
    the group's earlier statements (run in the sandbox as the probes' setup)."""
    statements: list[tuple[str, list[str]]] = []  # (source, expected output lines)
    for line in group:
        if line.startswith(">>>"):
            statements.append((line[3:].strip(), []))
        elif line.startswith("...") and statements:
            source, output = statements[-1]
            statements[-1] = (source + "\n" + line[3:].strip(), output)
        elif statements:
            statements[-1][1].append(line)
    cases, setup, defined = [], [], set()
    for source, output in statements:
        if len(source) > MAX_TEST_CHARS or sum(len(s) for s in setup) > 4 * MAX_TEST_CHARS:
            return cases
        tree = _parse(source, "exec")
        if tree is None:
            return cases
        if output and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            pair = _expected(output, tree.body[0].value)
            if pair is not None:
                condition = ast.Compare(pair[0], [ast.Eq()], [pair[1]])
                case = _case(
                    f"{source}\n{chr(10).join(output)}",
                    condition,
                    "\n".join(setup),
                    defined,
                    restrict_to,
                )
                if case is not None:
                    cases.append(case)
            continue
        setup.append(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
                names = getattr(node, "names", None)
                defined.update(
                    [a.asname or a.name.split(".")[0] for a in names] if names else [node.name]
                )
    return cases


def _safely(function, *args) -> list:
    try:
        return function(*args)
    except Exception:
        return []


def test_cases(
    text: str, limit: int = 32, restrict_to: frozenset[str] | None = None
) -> list[TestCase]:
    """Every test case stated in ``text`` (asserts, then doctest examples), de-duplicated;
    ``restrict_to``: the names a competitor's tests may use (see the module docstring)."""
    if not isinstance(text, str) or not text:
        return []
    found: dict[tuple, TestCase] = {}
    for snippet in _safely(assert_snippets, text):
        case = _safely(lambda s: [cases_from_assert(s, restrict_to)], snippet)
        if case and case[0] is not None:
            found.setdefault(case_key(case[0]), case[0])
    for group in _safely(doctest_groups, text):
        for case in _safely(cases_from_doctest, group, restrict_to):
            found.setdefault(case_key(case), case)
    return list(found.values())[:limit]


def case_key(case: TestCase) -> tuple:
    """Two cases asking the same questions with the same condition are the same test."""
    return (case.condition, tuple((p.setup, p.expression, p.steps, p.rows) for p in case.probes))


test_cases.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
TestCase.__test__ = False  # type: ignore[attr-defined]
