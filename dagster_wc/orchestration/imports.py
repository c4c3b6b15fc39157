"""The project's import graph, read from the source with `ast` (nothing is imported).

Every import statement counts, at any depth in a file (a lazy import inside a function too), so
the graph over-approximates what a module may run: what a step's code version needs
(`dagster_wc.orchestration.versions`) and what `scripts/import_graph.py` checks for cycles and
floors. An import of `a.b.c` is an edge to the module `a.b.c`; importing a name from a package is
an edge to the submodule of that name when one exists.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

PACKAGES = ("gpu_ops", "wc_foundation", "dagster_wc", "wc_demo", "warriorcoder")  # bottom first
REPO_ROOT = Path(__file__).resolve().parents[2]


def module_files(root: Path = REPO_ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Module name -> file, for every module of the project's packages."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that one module imports (resolving relative and from-imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


_SCANS: dict[tuple, Any] = {}  # (what, the files' names, sizes and mtimes) -> result


def _scan(root: Path, packages: Iterable[str], what: str, compute: Callable) -> Any:
    """`compute(modules)`, again only when a file changed (the sensor asks on every tick)."""
    modules = module_files(root, packages)
    stamps = tuple(
        (name, str(path), path.stat().st_size, path.stat().st_mtime_ns)
        for name, path in modules.items()
    )
    key = (what, stamps)
    if key not in _SCANS:
        for old in [k for k in _SCANS if k[0] == what]:
            del _SCANS[old]
        _SCANS[key] = compute(modules)
    return _SCANS[key]


def import_graph(root: Path = REPO_ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module name -> the project modules it imports."""
    graph = _scan(
        root,
        packages,
        "imports",
        lambda modules: {name: imports_of(name, path, modules) for name, path in modules.items()},
    )
    return {name: set(targets) for name, targets in graph.items()}


def assets_defined(path: Path) -> list[str]:
    """The assets a module defines with `@asset` / `@dg.asset`: each function's name, or the
    `name=` the decorator gives."""
    text = path.read_text()
    if "asset" not in text:
        return []
    found = []
    for node in ast.parse(text, filename=str(path)).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target) not in ("asset", "dg.asset"):
                continue
            named = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
            found.append(
                named[0].value if named and isinstance(named[0], ast.Constant) else node.name
            )
    return found


def asset_modules(root: Path = REPO_ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Asset name -> the module whose code defines it (a stage module, or a plugin's)."""
    return _scan(
        root,
        packages,
        "assets",
        lambda modules: {
            asset: name for name, path in modules.items() for asset in assets_defined(path)
        },
    )


def import_closure(graph: dict[str, set[str]], starts: Iterable[str]) -> set[str]:
    """`starts` and every module they import, directly or not, with the packages above each
    (importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py` first)."""
    found: set[str] = set()
    frontier = [name for name in starts if name in graph]
    while frontier:
        name = frontier.pop()
        if name in found:
            continue
        found.add(name)
        parents = [name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)]
        frontier.extend(p for p in [*graph[name], *parents] if p in graph and p not in found)
    return found
