"""The project's import graph and its cycles (every import statement, at any depth in a file).

`python scripts/import_graph.py` prints each cycle and exits 1 if there is one. The graph is
`dagster_wc.orchestration.imports.import_graph` (the one the step code versions use): an import
of `a.b.c` counts as an edge to `a.b.c` (the module), and importing a name from a package counts
as an edge to the submodule of that name when one exists. TYPE_CHECKING imports count too: a
cycle that only type checking sees is still a knot in the design.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the project's packages sit beside scripts/

from dagster_wc.orchestration.imports import import_graph  # noqa: E402


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(graph.get(node, ())):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def main() -> int:
    cycles = find_cycles(import_graph())
    for cycle in cycles:
        print("import cycle: " + " <-> ".join(cycle))
    if not cycles:
        print(f"no import cycle among {len(import_graph())} modules")
    return 1 if cycles else 0


if __name__ == "__main__":
    raise SystemExit(main())
