"""A real two-node Ray cluster on this machine (head + worker, one CPU each).

The arena's battle stages run on it with the same results as the local reference run; the
worker node is killed mid-step and the step finishes on the head, repeating nothing whose result
had reached the driver. The node-killing test runs last: it leaves the module's cluster with
its head only.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from gpu_ops.cluster import LEDGER, ClusterError, cluster_scope, map_chunks, map_tasks
from gpu_ops.cluster.local import LocalCluster
from gpu_ops.cluster.sandbox import run_many
from gpu_ops.sandbox import SandboxUnavailable
from tests.cluster.tasks import marked_square, plus_one, refuse, square_after
from tests.small_arena import LAKE_TABLES
from tests.test_crash_resume import content_hash
from wc_foundation.storage import Home, read_lake_table

pytestmark = [pytest.mark.ray_cluster, pytest.mark.slow, pytest.mark.timeout(600)]
BATTLE_STAGES = ["arena", "ratings", "sft_data"]  # responses, execution, judging -> winners


def test_an_unreachable_address_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WC_RAY_ADDRESS", "127.0.0.1:9")  # discard: nothing listens
    with pytest.raises(ClusterError, match=r"cannot reach the Ray cluster at '127\.0\.0\.1:9'"):
        map_tasks(abs, [1, 2])


def test_tasks_spread_over_both_nodes_in_item_order(ray_cluster: LocalCluster) -> None:
    LEDGER.reset()
    with cluster_scope("squares", ray_cluster.address):
        squares = map_tasks(partial(square_after, 0.3), list(range(8)))
        sums = map_chunks(plus_one, list(range(10)), chunks=3)
        programs = run_many([f"print({i} * 2)" for i in range(4)], timeout_s=5, memory_mb=256)
    assert squares == [v * v for v in range(8)]
    assert sums == list(range(1, 11))
    assert [r.stdout.strip() for r in programs] == ["0", "2", "4", "6"]
    report = LEDGER.report()
    assert report["ray_address"] == ray_cluster.address
    assert len(report["nodes"]) == 2  # eight 0.3 s tasks on two one-CPU nodes: both worked
    assert sum(n["tasks"]["squares"] for n in report["nodes"]) == 8 + 3 + 4


def test_a_node_without_the_sandbox_requirements_fails_with_the_sandbox_error(
    ray_cluster: LocalCluster,
) -> None:
    with (
        cluster_scope("refused", ray_cluster.address),
        pytest.raises(SandboxUnavailable, match=r"'full' is not available"),
    ):
        map_tasks(refuse, [1, 2, 3])


def test_battle_stages_on_two_nodes_equal_the_local_run(
    tmp_path: Path,
    small_arena_reference: tuple[Path, Home],
    ray_cluster: LocalCluster,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Responses, execution, judging, ratings and winners again, on the cluster with the caches
    in Postgres: the sandbox runs and bootstrap rounds are Ray tasks, the model calls are hits
    of the reference's cache moved to Postgres, and every table equals the local reference's."""
    from dagster_wc.orchestration.runner import run_pipeline
    from gpu_ops.state_db import PostgresCallCache, PostgresExecutionCache, import_sqlite_cache

    reference_config, reference = small_arena_reference
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(reference.root, home.root, ignore=shutil.ignore_patterns("*.lock"))
    moved = import_sqlite_cache(reference.llm_cache, postgres_url)
    assert moved["calls"] > 0
    for name in list(home.cache.iterdir()):  # no embedded cache: calls from Postgres only, and
        name.unlink()  # every sandbox run happens again, on the cluster
    for table in ("responses", "judgments", "execution_results", "expert_ratings", "sft_winners"):
        shutil.rmtree(home.lake / table)
    calls = PostgresCallCache(postgres_url)
    calls_before = len(calls)
    monkeypatch.setenv("WC_RAY_ADDRESS", ray_cluster.address)
    monkeypatch.setenv("WC_STATE_URL", postgres_url)
    summary = run_pipeline(reference_config, home, stages=BATTLE_STAGES)

    for table in LAKE_TABLES:
        ours, theirs = read_lake_table(home, table), read_lake_table(reference, table)
        assert ours.shape == theirs.shape, table
        assert content_hash(ours) == content_hash(theirs), table
    assert len(calls) == calls_before  # every model call was a hit of the shared cache
    outcomes = PostgresExecutionCache(postgres_url)
    assert outcomes._table.count() > 0  # the driver wrote the sandbox outcomes there
    assert not list(home.cache.glob("*.sqlite"))  # and no embedded cache was opened
    calls.close()
    outcomes.close()
    report = json.loads((home.root / "reports" / "cluster.json").read_text())
    assert report["ray_address"] == ray_cluster.address
    steps = {step for node in report["nodes"] for step in node["tasks"]}
    assert "expert_ratings" in steps  # bootstrap rounds, and sandbox runs of at least one partition
    assert any(step.startswith("execution_results[") for step in steps)  # (the others: cache hits)
    assert summary.cluster.startswith(f"cluster: {len(report['nodes'])} node(s)")


def test_embeddings_on_the_cluster_equal_one_process(ray_cluster: LocalCluster) -> None:
    from gpu_ops.cluster.embeddings import embed_across
    from gpu_ops.curation.embeddings import embed_texts, load_embedding_model

    texts = [f"write a function number {i} that " + "sorts lists " * (i % 7) for i in range(16)]
    local = embed_texts(load_embedding_model(None, device="cpu"), texts, batch_size=4)
    LEDGER.reset()
    with cluster_scope("embeddings", ray_cluster.address):
        spread = embed_across(None, texts, device="cpu", batch_size=4, shard_batches=2)
    assert np.array_equal(spread, local)  # the same batches, so the same bits
    assert sum(sum(n["tasks"].values()) for n in LEDGER.report()["nodes"]) == 2  # 2 shards


def test_elo_and_bt_bootstraps_on_two_nodes_equal_one_process(ray_cluster: LocalCluster) -> None:
    """The rating bootstraps' rounds as Ray tasks: the same tables, bit for bit, as locally."""
    from gpu_ops.arena.ratings import bootstrap_bradley_terry, bootstrap_online_elo
    from tests.gpu_ops.test_ratings import clustered_battles

    log = clustered_battles({"a": 1100.0, "b": 1000.0, "c": 900.0}, 60, 3, seed=4)
    local_elo = bootstrap_online_elo(log, rounds=24, seed=3)
    local_bt = bootstrap_bradley_terry(log, rounds=24, seed=3)
    LEDGER.reset()
    with cluster_scope("expert_ratings", ray_cluster.address):
        elo = bootstrap_online_elo(log, rounds=24, seed=3)
        tasks = {n["node_id"]: n["tasks"]["expert_ratings"] for n in LEDGER.report()["nodes"]}
        bt = bootstrap_bradley_terry(log, rounds=24, seed=3)
    assert elo.equals(local_elo)
    assert bt.equals(local_bt)
    assert sum(tasks.values()) == 2  # the Elo rounds: one part per CPU of the cluster
    assert elo["ci_lower"].is_not_nan().all()


def test_killing_the_worker_node_mid_step(ray_cluster: LocalCluster, tmp_path: Path) -> None:
    """The step finishes on the head; what reached the driver before the kill ran once."""
    marks = tmp_path / "marks"
    marks.mkdir()

    arrived: list[int] = []
    worker = ray_cluster.nodes[1]
    results: list[int] = []

    def step() -> None:
        with cluster_scope("killed", ray_cluster.address):
            results.extend(
                map_tasks(
                    partial(marked_square, marks, 0.5),
                    list(range(16)),
                    on_result=lambda position, _: arrived.append(position),
                )
            )

    LEDGER.reset()
    runner = threading.Thread(target=step)
    runner.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(LEDGER.report()["nodes"]) < 2:
        time.sleep(0.05)  # until the worker node has returned a result
    assert len(LEDGER.report()["nodes"]) == 2, "the worker node never got a task"
    before_kill = list(arrived)
    ray_cluster.kill(worker)
    runner.join(timeout=240)
    assert not runner.is_alive()
    assert results == [v * v for v in range(16)]
    runs: dict[int, int] = {}
    for mark in marks.iterdir():
        value = int(mark.name.split("-")[0])
        runs[value] = runs.get(value, 0) + 1
    assert set(runs) == set(range(16))
    assert all(runs[v] == 1 for v in before_kill)  # nothing that reached the driver repeated
    assert len(before_kill) < 16  # the kill was mid-step
