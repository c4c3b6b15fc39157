"""Turn stated tests (``assert`` lines, ``>>>`` examples) into questions and a parent-side check.

Each test becomes a ``TestCase``: the parts of its condition that need the code under test are
*probes* (expressions the sandbox evaluates and answers with plain data), the rest is the
*condition* the parent evaluates on those answers (``trusted_eval``). A probe is any maximal
sub-expression the trusted interpreter does not handle: a call of the solution's functions, a
method call, a variable. ``assert add(2, 3) == 5`` asks for ``add(2, 3)`` and checks ``_ == 5``
here; ``>>> fib(10)`` / ``55`` becomes the same. Tests that read variables their own text never
defines (``assert s.pop() == 1`` without the ``s = Stack()`` line) are dropped: they cannot be run
apart from the code around them. Nothing here executes anything.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from gpu_ops.arena.trusted_eval import SAFE_NAMES, TrustedEvalError, evaluate, function_name
from gpu_ops.code_extract import assert_snippets, doctest_groups
from gpu_ops.sandbox.probes import Probe

PEER_BUILTINS = frozenset(
    [
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "divmod",
        "enumerate",
        "filter",
        "float",
        "frozenset",
        "int",
        "isinstance",
        "len",
        "list",
        "map",
        "max",
        "min",
        "range",
        "repr",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "type",
        "zip",
        "True",
        "False",
        "None",
    ]
)
MAX_TEST_CHARS = 2_000
MAX_PEER_EXPONENT = 64
MAX_PROBES_PER_TEST = 8
_PLACEHOLDER = "_wc_probe_"
_TRUSTED_NODES = (
    ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp, ast.BoolOp,
    ast.Compare, ast.IfExp, ast.Subscript, ast.Slice,
)  # fmt: skip


@dataclass(frozen=True)
class TestCase:
    """One test: ``condition`` (with placeholders ``_wc_probe_<k>``) and the probes it needs."""

    source: str
    condition: str
    probes: tuple[Probe, ...]

    def passes(self, answers: list[object]) -> bool:
        """Whether the condition holds on these probe answers (evaluated in this process)."""
        from gpu_ops.arena.trusted_eval import check

        names = {f"{_PLACEHOLDER}{k}": value for k, value in enumerate(answers)}
        tree = _parse(self.condition, "eval")
        return tree is not None and check(tree.body, names)


def _parse(source: str, mode: str) -> ast.AST | None:
    try:
        return ast.parse(source, mode=mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _free_variables(node: ast.AST) -> set[str]:
    """Names read as values (not called) inside ``node``."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {
        n.id
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and id(n) not in called
    }


class _Splitter(ast.NodeTransformer):
    """Replaces every maximal sub-expression the trusted interpreter cannot do by a placeholder."""

    def __init__(self) -> None:
        self.probes: list[str] = []

    def _probe(self, node: ast.expr) -> ast.expr:
        self.probes.append(ast.unparse(node))
        return ast.copy_location(
            ast.Name(f"{_PLACEHOLDER}{len(self.probes) - 1}", ast.Load()), node
        )

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Call) and function_name(node.func) is not None:
            node.args = [self.visit(a) for a in node.args]
            for keyword in node.keywords:
                keyword.value = self.visit(keyword.value)
            return node
        if isinstance(node, ast.Name) and node.id in SAFE_NAMES:
            return node
        if isinstance(node, ast.expr) and not isinstance(node, _TRUSTED_NODES):
            return self._probe(node)
        return self.generic_visit(node)


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


def _within(tree: ast.AST, allowed: frozenset[str] | set[str]) -> bool:
    """Whether ``tree`` only uses ``allowed`` names (plus names it binds), with no import and no
    dunder name or attribute."""
    bound = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    bound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.Lambda) for a in n.args.args}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            return False
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and name.startswith("__"):
            return False
        if isinstance(node, ast.Name) and node.id not in allowed and node.id not in bound:
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (isinstance(exponent, ast.Constant) and type(exponent.value) is int):
                return False
            if abs(exponent.value) > MAX_PEER_EXPONENT:  # 10**10**8 runs in C, past any alarm
                return False
    return True


def _case(*args, **kwargs) -> TestCase | None:
    """``_split`` that treats a pathologically deep test as no test."""
    try:
        return _split(*args, **kwargs)
    except (RecursionError, MemoryError):
        return None


def _split(
    source: str,
    condition: ast.expr,
    setup: str,
    defined: set[str],
    restrict_to: frozenset[str] | None = None,
) -> TestCase | None:
    if _free_variables(condition) - defined - set(SAFE_NAMES):
        return None
    if restrict_to is not None:
        allowed = restrict_to | PEER_BUILTINS | set(SAFE_NAMES) | defined
        setup_tree = _parse(setup, "exec") if setup else None
        if not _within(condition, allowed) or (
            setup and (setup_tree is None or not _within(setup_tree, allowed))
        ):
            return None
    splitter = _Splitter()
    rewritten = splitter.visit(condition)
    if not splitter.probes or len(splitter.probes) > MAX_PROBES_PER_TEST:
        return None  # nothing to ask the code (or too much)
    probes = tuple(Probe(expression=p, setup=setup) for p in splitter.probes)
    return TestCase(source=source, condition=ast.unparse(rewritten), probes=probes)


def cases_from_assert(snippet: str, restrict_to: frozenset[str] | None = None) -> TestCase | None:
    """The test case of one ``assert`` statement, or None when it cannot be split."""
    if len(snippet) > MAX_TEST_CHARS:
        return None
    tree = _parse(snippet, "exec")
    if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    return _case(snippet, tree.body[0].test, "", set(), restrict_to)


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
    if node is None:
        return None
    try:
        evaluate(node.body, {})  # the expected output must be a plain literal
    except (TrustedEvalError, ArithmeticError, TypeError, ValueError, RecursionError):
        return None
    if _free_variables(node.body):
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
        if len(source) > MAX_TEST_CHARS:
            return cases
        tree = _parse(source, "exec")
        if tree is None:
            return cases
        if output and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            pair = _expected(output, tree.body[0].value)
            if pair is not None:
                condition = ast.Compare(pair[0], [ast.Eq()], [pair[1]])
                case = _case(
                    f"{source}\n{chr(10).join(output)}", condition, "\n".join(setup), defined
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


def test_cases(
    text: str, limit: int = 32, restrict_to: frozenset[str] | None = None
) -> list[TestCase]:
    """Every test case stated in ``text`` (asserts, then doctest examples), de-duplicated;
    ``restrict_to``: the names a competitor's tests may use (see the module docstring)."""
    if not isinstance(text, str) or not text:
        return []
    found: dict[tuple, TestCase] = {}
    for snippet in assert_snippets(text):
        case = cases_from_assert(snippet, restrict_to)
        if case is not None:
            found.setdefault(case_key(case), case)
    for group in doctest_groups(text):
        for case in cases_from_doctest(group, restrict_to):
            found.setdefault(case_key(case), case)
    return list(found.values())[:limit]


def case_key(case: TestCase) -> tuple:
    """Two cases asking the same questions with the same condition are the same test."""
    return (case.condition, tuple((p.setup, p.expression) for p in case.probes))


test_cases.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
TestCase.__test__ = False  # type: ignore[attr-defined]
