"""The project's import graph: its floors and its cycles (every import statement, at any depth).

The packages stand on floors, and an import may only point down or stay on its floor:
  warriorcoder   the face: CLI, end-of-run report, expert admin, named analyst queries
  wc_demo        the demo plugin: its world, experts and `demo_effect` asset (found by entry points)
  dagster_wc     Dagster: the stages (defs/), the machinery (orchestration/, dbt/)
  wc_foundation  config (one module per stage's section), storage (home, lake), warehouse reader
  gpu_ops        pure compute
`python scripts/import_graph.py` prints each import that runs up a floor and each cycle, and
exits 1 if there is one. The graph is
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

FLOORS = ("gpu_ops", "wc_foundation", "dagster_wc", "wc_demo", "warriorcoder")  # bottom first


def floor_of(module: str) -> int:
    return FLOORS.index(module.split(".")[0])


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every (importer, imported) pair where the imported module stands on a higher floor."""
    return sorted(
        (name, target)
        for name, targets in graph.items()
        for target in targets
        if floor_of(target) > floor_of(name)
    )


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
    graph = import_graph()
    upward = upward_imports(graph)
    for name, target in upward:
        print(f"import runs up a floor: {name} -> {target}")
    cycles = find_cycles(graph)
    for cycle in cycles:
        print("import cycle: " + " <-> ".join(cycle))
    if not cycles and not upward:
        print(f"no import cycle and none up a floor among {len(graph)} modules")
    return 1 if cycles or upward else 0


if __name__ == "__main__":
    raise SystemExit(main())
