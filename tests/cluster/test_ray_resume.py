"""Per-result commits on a real two-node Ray cluster (head + worker, one CPU each), with the
execution cache in Postgres: each program's outcome is committed by the driver as its Ray task
returns, so

- a driver SIGKILLed mid-step (crash point `execution.committed`) keeps every finished program,
  and the rerun runs only the others;
- the same for the rating bootstraps' rounds (Ray tasks, committed part by part);
- a worker node killed mid-step costs only the programs it was running: the step finishes on
  the head, the outcomes committed before the kill are never run again, and a rerun runs nothing.

Each ends with the results of an uninterrupted local run. The node-killing test runs last: it
leaves the module's cluster with its head only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.cluster import LEDGER, cluster_scope
from gpu_ops.cluster.local import LocalCluster, node_env
from gpu_ops.sandbox.result_cache import ExecutionCache
from tests.cluster.bootstrap_driver import table as bootstrap_table
from tests.cluster.resume_driver import score

pytestmark = [
    pytest.mark.ray_cluster,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]
PROGRAMS = 8


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    """The scores of an uninterrupted run in this process (no cluster, no shared cache)."""
    scores = score(ExecutionCache(), PROGRAMS)
    assert {row["runs"] for row in scores} == {True, False}  # some programs fail, some pass
    return scores


@pytest.fixture
def fresh_url(postgres_url: str) -> str:
    """The test's Postgres with an empty execution cache."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS outcomes")
    return postgres_url


def outcomes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]


def drive(cluster: LocalCluster, url: str, failpoint: str | None = None) -> subprocess.Popen:
    """The driver as its own process, on the cluster (`WC_RAY_ADDRESS`)."""
    env = node_env() | {"WC_RAY_ADDRESS": cluster.address}
    env.pop("WC_FAILPOINTS", None)
    if failpoint:
        env["WC_FAILPOINTS"] = failpoint
    command = [sys.executable, "-m", "tests.cluster.resume_driver", url, str(PROGRAMS)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_a_killed_driver_resumes_from_the_shared_cache(
    ray_cluster: LocalCluster, fresh_url: str, reference: list[dict]
) -> None:
    killed = drive(ray_cluster, fresh_url, "execution.committed=3")
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILLed mid-step
    assert outcomes(fresh_url) == 3  # each finished program was committed as it returned
    rerun = drive(ray_cluster, fresh_url)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert report["sandbox_runs"] == PROGRAMS - 3  # only the unfinished ones ran again
    assert report["scores"] == reference
    assert outcomes(fresh_url) == PROGRAMS


def test_a_killed_driver_resumes_the_bootstrap_rounds_from_postgres(
    ray_cluster: LocalCluster, postgres_url: str, tmp_path: Path
) -> None:
    """Elo's rounds as Ray tasks, each part committed to Postgres as it returns: the driver
    killed after 3 of its 10 parts reruns only the other rounds, and the table equals one
    process's without a store (BT's rounds go the same way: tests/gpu_ops/test_bootstrap_resume.py)."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bootstrap_rows")
    out = tmp_path / "leaderboard.parquet"
    driver = [sys.executable, "-m", "tests.cluster.bootstrap_driver", postgres_url, "20"]
    command = [*driver, str(out), "elo"]
    env = node_env() | {"WC_RAY_ADDRESS": ray_cluster.address}
    killed = subprocess.run(
        command,
        env=env | {"WC_FAILPOINTS": "bootstrap.committed=3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == {"computed": 14, "hits": 6}
    assert pl.read_parquet(out).equals(bootstrap_table(20, None, "elo"))


def test_a_killed_worker_node_loses_only_its_running_programs(
    ray_cluster: LocalCluster,
    fresh_url: str,
    reference: list[dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gpu_ops.state_db import PostgresExecutionCache

    monkeypatch.setenv("WC_RAY_ADDRESS", ray_cluster.address)
    cache = PostgresExecutionCache(fresh_url)
    found: list[list[dict]] = []

    def step() -> None:
        with cluster_scope("execution_results[solo]", ray_cluster.address):
            found.append(score(cache, PROGRAMS))

    LEDGER.reset()
    runner = threading.Thread(target=step)
    runner.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        len(LEDGER.report()["nodes"]) < 2 or not outcomes(fresh_url)
    ):
        time.sleep(0.05)  # until the worker node has returned a program, and one is committed
    assert len(LEDGER.report()["nodes"]) == 2, "the worker node never got a program"
    ray_cluster.kill(ray_cluster.nodes[1])
    kept = outcomes(fresh_url)
    assert 0 < kept < PROGRAMS  # committed while the step was still running
    runner.join(timeout=600)
    assert not runner.is_alive()
    assert found == [reference]  # the step finished on the head, with the same scores
    arrived = sum(sum(node["tasks"].values()) for node in LEDGER.report()["nodes"])
    assert arrived == PROGRAMS  # each program's result reached the driver once
    assert cache.sandbox_runs == PROGRAMS
    cache.close()
    rerun = PostgresExecutionCache(fresh_url)
    try:
        assert score(rerun, PROGRAMS) == reference
        assert rerun.sandbox_runs == 0  # every finished program came from the shared cache
    finally:
        rerun.close()
