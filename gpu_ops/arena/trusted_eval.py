"""What a test's deciding part may contain, checked statically (nothing is evaluated here).

A test like ``assert abs(area(2) - 12.566) < 1e-3`` has one part that needs the code under test
(``area(2)``, a *probe*, answered by the sandbox as plain data) and a part that decides the
verdict (``abs(_ - 12.566) < 1e-3``). The deciding part is evaluated by the *referee*
(``gpu_ops.sandbox.referee``): a sandboxed run without the code under test, on the decoded plain
answers, with a CPU-time and memory budget per test, and only the builtins below. The parent
never evaluates test text: a condition that is quadratic, builds 800 MB or raises costs its own
referee fork, not the judge.

This module holds the rules shared by the splitter (``test_cases``) and the referee:
``REFEREE_NAMES`` (the builtins the referee has), ``free_names`` (the names an expression reads
from outside, with lambda and comprehension scopes honoured: a comprehension variable named
``exec`` does not make a later ``exec(...)`` safe), and ``referee_safe`` (no dunder name or
attribute, no walrus, only known names).
"""

from __future__ import annotations

import ast

REFEREE_BUILTINS = frozenset(
    [
        "abs",
        "all",
        "any",
        "ascii",
        "bin",
        "bool",
        "bytes",
        "callable",
        "chr",
        "complex",
        "dict",
        "divmod",
        "enumerate",
        "filter",
        "float",
        "format",
        "frozenset",
        "hash",
        "hex",
        "int",
        "isinstance",
        "issubclass",
        "iter",
        "len",
        "list",
        "map",
        "max",
        "min",
        "next",
        "oct",
        "ord",
        "pow",
        "range",
        "repr",
        "reversed",
        "round",
        "set",
        "slice",
        "sorted",
        "str",
        "sum",
        "tuple",
        "type",
        "zip",
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "Exception",
        "IndexError",
        "KeyError",
        "LookupError",
        "StopIteration",
        "TypeError",
        "ValueError",
        "ZeroDivisionError",
    ]
)
REFEREE_MODULES = frozenset({"math"})
REFEREE_NAMES = REFEREE_BUILTINS | REFEREE_MODULES | {"True", "False", "None"}
WALRUS = ":="  # a pseudo-name free_names reports for an assignment expression
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


class TrustedEvalError(ValueError):
    """A test uses something the referee does not do."""


def comprehension_targets(node: ast.expr) -> set[str]:
    """Names the generators of a comprehension bind (local to it)."""
    return {
        n.id
        for generator in node.generators  # type: ignore[attr-defined]
        for n in ast.walk(generator.target)
        if isinstance(n, ast.Name)
    }


def lambda_arguments(node: ast.Lambda) -> set[str]:
    arguments = node.args
    names = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    names += [a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return set(names)


def _collect(node: ast.AST, bound: frozenset[str], out: set[str]) -> None:
    if isinstance(node, ast.Lambda):
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            _collect(default, bound, out)
        _collect(node.body, bound | lambda_arguments(node), out)
        return
    if isinstance(node, _COMPREHENSIONS):
        generators = node.generators
        _collect(generators[0].iter, bound, out)  # evaluated in the enclosing scope
        inner = bound | comprehension_targets(node)
        for index, generator in enumerate(generators):
            if index:
                _collect(generator.iter, inner, out)
            for condition in generator.ifs:
                _collect(condition, inner, out)
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for part in parts:
            _collect(part, inner, out)
        return
    if isinstance(node, ast.NamedExpr):
        out.add(WALRUS)
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
        out.add(node.id)
    for child in ast.iter_child_nodes(node):
        _collect(child, bound, out)


def free_names(node: ast.AST, bound: frozenset[str] | set[str] = frozenset()) -> set[str]:
    """Names ``node`` reads from its enclosing scopes (``bound``: already local there)."""
    out: set[str] = set()
    _collect(node, frozenset(bound), out)
    return out


def has_dunder(node: ast.AST) -> bool:
    """Whether any name, attribute or keyword of ``node`` is a dunder (``__class__`` & co.)."""
    for child in ast.walk(node):
        name = getattr(child, "id", None) or getattr(child, "attr", None)
        if isinstance(child, ast.keyword):
            name = child.arg
        if isinstance(child, ast.arg):
            name = child.arg
        if isinstance(name, str) and name.startswith("__"):
            return True
    return False


def referee_safe(node: ast.AST, placeholders: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether the referee may evaluate ``node``: only its names (and ``placeholders``), no
    dunder, no walrus, no await/yield."""
    if has_dunder(node):
        return False
    if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom)) for n in ast.walk(node)):
        return False
    return free_names(node) <= (REFEREE_NAMES | set(placeholders))
