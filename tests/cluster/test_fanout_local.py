"""Without a Ray address nothing changes: the local path runs, in this process, in order.
And where the work runs is no part of what a step computes (its version)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dagster_wc.orchestration.versions import config_version
from gpu_ops.cluster import LEDGER, RAY_ADDRESS_ENV, cluster_scope, map_chunks, map_tasks
from gpu_ops.cluster.ledger import Ledger
from wc_foundation.config import parse_config


def test_without_an_address_the_local_path_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RAY_ADDRESS_ENV, raising=False)
    seen: list[list[int]] = []

    def local(items: list[int]) -> list[int]:
        seen.append(list(items))
        return [-i for i in items]

    assert map_tasks(abs, [3, -1, 2], local=local) == [-3, 1, -2]
    assert seen == [[3, -1, 2]]
    assert map_tasks(abs, [3, -1]) == [3, 1]
    assert map_chunks(abs, [-5, 6, -7], chunks=2) == [5, 6, 7]


def test_cluster_scope_sets_the_address_for_its_block_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RAY_ADDRESS_ENV, raising=False)
    with cluster_scope("step-a", "10.0.0.1:6379"):
        assert os.environ[RAY_ADDRESS_ENV] == "10.0.0.1:6379"
        assert LEDGER.step == "step-a"
    assert RAY_ADDRESS_ENV not in os.environ
    monkeypatch.setenv(RAY_ADDRESS_ENV, "10.0.0.2:6379")  # the env var wins over the config
    with cluster_scope("step-b", "10.0.0.1:6379"):
        assert os.environ[RAY_ADDRESS_ENV] == "10.0.0.2:6379"
    assert os.environ[RAY_ADDRESS_ENV] == "10.0.0.2:6379"


def test_the_ledger_reports_each_node_per_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RAY_ADDRESS_ENV, raising=False)
    ledger = Ledger()
    assert ledger.summary_line() == "cluster: local processes (no Ray address)"
    ledger.address = "127.0.0.1:6379"
    with ledger.stepping("execution_results[a]"):
        ledger.record("node-1", "10.0.0.1", 1.5)
        ledger.record("node-2", "10.0.0.2", 0.5)
    ledger.record("node-1", "10.0.0.1", 2.0, step="expert_ratings")
    report = json.loads(ledger.write(tmp_path / "reports" / "cluster.json").read_text())
    assert report["ray_address"] == "127.0.0.1:6379"
    first = report["nodes"][0]
    assert first["node_id"] == "node-1"
    assert first["tasks"] == {"execution_results[a]": 1, "expert_ratings": 1}
    assert first["wall_seconds"] == 3.5
    assert ledger.summary_line().startswith("cluster: 2 node(s) at 127.0.0.1:6379: node-1 2 tasks")


def test_compute_settings_are_not_part_of_a_steps_version() -> None:
    experts = [
        {"slug": s, "model": "m", "backend": "openai", "endpoints": ["http://x"]} for s in "ab"
    ]
    local = parse_config({"experts": experts})
    clustered = parse_config(
        {"experts": experts, "compute": {"ray_address": "h:6379", "state_url": "postgresql://h/d"}}
    )
    assert config_version(local) == config_version(clustered)  # the whole config
    assert config_version(local, ["compute", "ratings"]) == config_version(
        clustered, ["compute", "ratings"]
    )  # even where a stage names it
    other = parse_config({"experts": experts, "ratings": {"seed": 1}})
    assert config_version(local) != config_version(other)  # what is computed does count
