"""SIGKILL in the middle of mining (generation), embedding and judging; the re-run finishes.

The arena of tests/small_arena.py runs as `warriorcoder run` in a child process, killed for
real with SIGKILL at a crash point (gpu_ops.failpoints: right after a batch of model calls is
committed to the call cache, or after an embedding batch, and before the stage writes its
table), three times in a row on the same home, each run resuming the last. Then a run without a
crash point finishes, and:
- each resumed stage asks the model only for the calls the killed run had not finished (per
  partition, from the cache-miss counts in the Dagster metadata);
- the call cache holds exactly the calls of the uninterrupted reference run, no more;
- every lake table equals the reference's (row counts and content hashes).
SIGKILL in the middle of SFT is tests/gpu_ops/test_sft.py (the trainer's own process).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.small_arena import (
    LAKE_TABLES,
    SAMPLES,
    UP_TO_SFT,
    cached_call_keys,
    calls_made,
)
from wc_foundation.storage import Home, lake_partitions, read_lake_table

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
WARRIORCODER = Path(sys.executable).with_name("warriorcoder")


def run_cli(config: Path, home: Home, failpoint: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WC_HOME": str(home.root)}
    env.pop("WC_FAILPOINTS", None)
    if failpoint:
        env["WC_FAILPOINTS"] = failpoint
    stages = [arg for stage in UP_TO_SFT for arg in ("--stage", stage)]
    return subprocess.run(
        [str(WARRIORCODER), "run", "--config", str(config), "--home", str(home.root), *stages],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def content_hash(frame: pl.DataFrame) -> str:
    """Order-independent hash of a table's rows (sorted row hashes), without the write-time stamp
    first_seen_at (when a row reached this lake, not what it holds)."""
    rows = sorted(frame.drop("first_seen_at", strict=False).hash_rows(seed=0).to_list())
    return hashlib.sha256(str(rows).encode()).hexdigest()


def runs_since(instance: dg.DagsterInstance, known: set[str]) -> set[str]:
    return {r.dagster_run.run_id for r in instance.get_run_records()} - known


def test_sigkilled_runs_resume_to_the_reference_tables(tmp_path, small_arena_reference):
    reference_config, reference = small_arena_reference
    config = tmp_path / "arena.yaml"
    shutil.copy(reference_config, config)
    home = Home.resolve(tmp_path / "home")
    reference_instance = dg.DagsterInstance.from_config(str(reference.dagster))
    reference_runs = {r.dagster_run.run_id for r in reference_instance.get_run_records()}
    reference_judged = calls_made(reference_instance, "judgments", reference_runs)

    # 1. killed after the second expert's mining batch is committed, before its table is written
    killed = run_cli(config, home, "llm.instructions_mined.committed=2")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert lake_partitions(home, "instructions_mined") == ["text"]
    assert len(cached_call_keys(home.llm_cache)) == 2 * SAMPLES

    # 2. resumes mining (the killed expert's calls are cache hits), killed mid-embedding
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    known = {r.dagster_run.run_id for r in instance.get_run_records()}
    killed = run_cli(config, home, "embeddings.batch=1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    mined = calls_made(instance, "instructions_mined", runs_since(instance, known))
    # text's table was written before the crash: its step is up to date and skipped; lists'
    # calls were all committed (cache hits); only the expert never mined asks the model
    assert mined == {"lists": 0, "numbers": SAMPLES}
    assert lake_partitions(home, "instruction_scores")  # scoring finished before the crash
    assert lake_partitions(home, "instruction_embeddings") == []

    # 3. resumes embedding and selection, killed after the second judge's batch is committed
    known |= runs_since(instance, known)
    killed = run_cli(config, home, "llm.judgments.committed=2")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert lake_partitions(home, "judgments") == ["text"]

    # 4. no crash point: finishes, repeating none of the committed calls
    known |= runs_since(instance, known)
    before = cached_call_keys(home.llm_cache)
    finished = run_cli(config, home, None)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    final_runs = runs_since(instance, known)
    judged = calls_made(instance, "judgments", final_runs)
    assert reference_judged["numbers"] > 0
    assert judged == {"lists": 0, "numbers": reference_judged["numbers"]}  # text's step is skipped
    after = cached_call_keys(home.llm_cache)
    made_in_final = sum(
        sum(calls_made(instance, asset, final_runs).values())
        for asset in ("instructions_mined", "instruction_scores", "responses", "judgments")
    )
    assert made_in_final == len(after - before)  # every miss was a call never finished before
    assert after == cached_call_keys(reference.llm_cache)

    for table in LAKE_TABLES:
        ours, theirs = read_lake_table(home, table), read_lake_table(reference, table)
        assert ours.shape == theirs.shape, table
        assert content_hash(ours) == content_hash(theirs), table
