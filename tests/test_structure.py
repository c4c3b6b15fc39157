"""The house rules that keep the code base navigable: no import cycle, a small gpu_ops top."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycle_among_the_projects_modules():
    graph_module = load_import_graph()
    graph = graph_module.import_graph()
    assert len(graph) > 50  # the scan found the packages
    assert graph_module.find_cycles(graph) == []


def test_every_import_points_down_a_floor_or_stays_on_it():
    graph_module = load_import_graph()
    graph = graph_module.import_graph()
    assert {name.split(".")[0] for name in graph} == set(graph_module.FLOORS)
    assert graph_module.upward_imports(graph) == []


def test_the_floor_check_finds_an_import_that_runs_up():
    upward = load_import_graph().upward_imports
    graph = {
        "warriorcoder.cli": {"dagster_wc.orchestration.runner", "wc_foundation.config"},
        "dagster_wc.orchestration.runner": {"warriorcoder.cli", "gpu_ops.ids"},
        "wc_foundation.config": set(),
    }
    assert upward(graph) == [("dagster_wc.orchestration.runner", "warriorcoder.cli")]


def test_the_cycle_finder_finds_a_cycle():
    finder = load_import_graph().find_cycles
    assert finder({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert finder({"a": {"b"}, "b": set()}) == []


def test_gpu_ops_keeps_at_most_twelve_modules_at_its_top():
    top = sorted(p.name for p in (REPO / "gpu_ops").glob("*.py"))
    assert len(top) <= 12, top


def test_the_product_never_imports_the_demo_plugin():
    """The demo (wc_demo) stands on the product: it registers itself (pyproject entry points)
    and is looked up by name (gpu_ops.worlds); only the CLI's `build-demo-experts` and
    `demo-sweep` name it."""
    graph = load_import_graph().import_graph()
    product = ("gpu_ops", "dagster_wc", "warriorcoder")
    allowed = {("warriorcoder.cli", "wc_demo.experts"), ("warriorcoder.cli", "wc_demo.sweeps")}
    arrows = {
        (module, target)
        for module, targets in graph.items()
        if module.split(".")[0] in product
        for target in targets
        if target.split(".")[0] == "wc_demo"
    }
    assert arrows == allowed
    assert any(target.startswith("gpu_ops") for target in graph["wc_demo.experts"])


def test_no_product_module_dispatches_on_a_world_name():
    for package in ("gpu_ops", "dagster_wc", "warriorcoder"):
        for path in (REPO / package).rglob("*.py"):
            assert '"demo-world"' not in path.read_text(encoding="utf-8"), path
