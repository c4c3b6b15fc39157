"""The acceptance run's pieces (scripts/cluster_acceptance.py), without a cluster: the table
comparison of two homes, the kill trigger read from a live cluster.json, and the checks of the
final one. The run itself is `make demo-cluster` (two demo runs: a command, not a test)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import polars as pl

from gpu_ops.cluster.ledger import Ledger
from scripts.cluster_acceptance import (
    REQUIRED,
    Check,
    Report,
    TableDiff,
    check_cluster_report,
    compare_homes,
    equality_check,
    killed_step,
)
from wc_foundation.storage import Home

ROLES = {"h" * 8: "head", "w" * 8: "worker"}


def put(home: Home, table: str, frame: pl.DataFrame, partition: str | None = None) -> None:
    """A lake file as the storage leaves it (a toy table: no declared schema to conform to)."""
    path = home.table_file(table, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)


def home_with(root: Path, winners: list[str], reverse: bool = False) -> Home:
    home = Home.resolve(root).ensure()
    frame = pl.DataFrame(
        {
            "instruction_id": [f"i{n}" for n in range(len(winners))],
            "winner": winners,
            "model": [f"{home.root}/models/demo/{w}" for w in winners],  # names its own home
            "first_seen_at": [datetime.now()] * len(winners),  # when it reached this lake
        }
    )
    put(home, "sft_winners", frame.reverse() if reverse else frame)
    for slug in ("a", "b"):
        put(home, "judgments", pl.DataFrame({"judge": [slug], "verdict": ["A"]}), slug)
    return home


def test_homes_compare_equal_apart_from_paths_and_write_stamps(tmp_path: Path) -> None:
    ours = home_with(tmp_path / "cluster", ["a", "b", "a"])
    theirs = home_with(tmp_path / "local", ["a", "b", "a"], reverse=True)  # another row order
    diffs = compare_homes(ours, theirs)
    assert [d.table for d in diffs] == ["lake.judgments", "lake.sft_winners"]
    assert all(d.equal for d in diffs)
    assert diffs[1].rows_cluster == 3


def test_the_registrys_config_hash_is_left_out_as_it_hashes_the_home(tmp_path: Path) -> None:
    homes = [Home.resolve(tmp_path / name).ensure() for name in ("cluster", "local")]
    for home in homes:
        digest = hashlib.sha256(str(home.root).encode()).hexdigest()[:16]
        registry = {"expert": ["a"], "model": [f"{home.root}/m"], "config_hash": [digest]}
        put(home, "expert_registry", pl.DataFrame(registry))
        put(home, "responses", pl.DataFrame({"config_hash": [digest]}))
    diffs = {d.table: d.equal for d in compare_homes(*homes)}
    assert diffs == {"lake.expert_registry": True, "lake.responses": False}  # only there


def test_a_changed_row_and_a_missing_table_are_unequal(tmp_path: Path) -> None:
    ours = home_with(tmp_path / "cluster", ["a", "b", "a"])
    theirs = home_with(tmp_path / "local", ["a", "b", "b"])
    put(theirs, "expert_ratings", pl.DataFrame({"expert": ["a"], "rating": [1.0]}))
    diffs = {d.table: d for d in compare_homes(ours, theirs)}
    assert diffs["lake.sft_winners"] == TableDiff("lake.sft_winners", 3, 3, 1, 1)
    assert not diffs["lake.sft_winners"].equal
    assert diffs["lake.expert_ratings"] == TableDiff("lake.expert_ratings", 0, 1, 0, 1)
    check = equality_check(list(diffs.values()), theirs)
    assert not check.passed
    assert "lake.sft_winners (1/1)" in check.detail
    assert "missing: " in check.detail and "lake.execution_results" in check.detail


def test_equality_needs_every_required_table() -> None:
    tables = [TableDiff(name, 2, 2, 0, 0) for name in REQUIRED]
    assert equality_check(tables, Home.resolve("/tmp/ref")).passed
    assert not equality_check(tables[1:], Home.resolve("/tmp/ref")).passed


def node(node_id: str, tasks: dict[str, int]) -> dict:
    return {"node_id": node_id, "tasks": tasks}


def test_the_kill_waits_for_the_worker_to_return_execution_tasks() -> None:
    worker = "w" * 8
    live = {"nodes": [node("h" * 8, {"execution_results[a]": 9}), node(worker, {"emb": 3})]}
    assert killed_step(live, worker, 2) is None  # embeddings only: not an execution step
    live["nodes"][1]["tasks"]["execution_results[a]"] = 1
    assert killed_step(live, worker, 2) is None
    live["nodes"][1]["tasks"]["execution_results[a]"] = 2
    kill = killed_step(live, worker, 2)
    assert (kill.step, kill.worker_tasks, kill.step_tasks) == ("execution_results[a]", 2, 11)
    assert kill.worker_steps == ["emb", "execution_results[a]"]


def test_the_final_cluster_json_checks() -> None:
    worker = "w" * 8
    live = {"nodes": [node("h" * 8, {"x[a]": 1}), node(worker, {"execution_results[a]": 4})]}
    kill = killed_step(live, worker, 4)
    final = {
        "complete": True,
        "nodes": [
            node("h" * 8, {"execution_results[a]": 30, "expert_ratings": 10}),
            node(worker, {"execution_results[a]": 5}),
        ],
    }
    assert all(c.passed for c in check_cluster_report(final, ROLES, kill))
    later = json.loads(json.dumps(final))
    later["nodes"][1]["tasks"]["expert_ratings"] = 1  # the dead worker cannot have done this
    assert not check_cluster_report(later, ROLES, kill)[1].passed
    stopped = {**final, "nodes": [node("h" * 8, {}), node(worker, {"execution_results[a]": 4})]}
    both, mid_step = check_cluster_report(stopped, ROLES, kill)
    assert not both.passed  # the head did nothing
    assert not mid_step.passed  # the step got no result after the kill
    assert not check_cluster_report({**final, "complete": False}, ROLES, kill)[0].passed
    assert not check_cluster_report(final, ROLES, None)[1].passed  # no kill happened


def test_the_report_fails_on_one_failed_check() -> None:
    report = Report(config="configs/demo.yaml", checks=[Check("a", True, "ok")])
    assert report.passed and report.lines()[-1] == "PASSED"
    report.checks.append(Check("b", False, "why"))
    assert not report.as_json()["passed"]
    assert "  FAIL  b: why" in report.lines()
    assert not Report(config="x").passed  # no check at all is no pass


def test_the_ledger_keeps_a_live_report_while_the_run_goes(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "cluster.json"
    ledger = Ledger()
    ledger.reset(live_path=path)
    ledger.address = "127.0.0.1:1"
    ledger.record("node-1", "127.0.0.1", 0.1, step="s")
    live = json.loads(path.read_text())
    assert live["complete"] is False and live["nodes"][0]["tasks"] == {"s": 1}
    ledger.record("node-1", "127.0.0.1", 0.1, step="s")  # within LIVE_INTERVAL_S: not written
    assert json.loads(path.read_text())["nodes"][0]["tasks"] == {"s": 1}
    final = json.loads(ledger.write(path).read_text())
    assert final["complete"] is True and final["nodes"][0]["tasks"] == {"s": 2}


def test_the_live_report_is_no_steps_output() -> None:
    """A file a step changes under a tracked folder is that step's output: the live report,
    rewritten by every later Ray step, would make the earlier steps stale for the next run."""
    from dagster_wc.orchestration.step_state import TRACKED_FOLDERS
    from gpu_ops.cluster.ledger import LIVE_REPORT, REPORT

    assert Path(LIVE_REPORT).parts[0] not in TRACKED_FOLDERS
    assert Path(REPORT).parts[0] == "reports"  # written once the last step is done
