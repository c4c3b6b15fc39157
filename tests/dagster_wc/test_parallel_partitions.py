"""Two expert partitions at once under Dagster's multiprocess executor, while dbt rewrites.

On a copy of the small reference arena (tests/small_arena.py), with a response length the
experts never used (so every response call is new work), three `dagster asset materialize`
processes start together: `responses` + `execution_results` for each expert (the
implicit job's multiprocess executor runs every step in its own process; both read
`instructions_for_battle` from the warehouse) and a dbt run that rebuilds that very model
(the warehouse's only writer). The single-writer rule (dbt builds a copy and swaps it in under a
lock; readers open read-only) means no run meets a DuckDB lock, and all three succeed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import dagster as dg
import polars as pl
import pytest

from tests.small_arena import K, calls_made
from wc_foundation.storage import Home, read_lake_table

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
EXPERTS = ("text", "lists")


def materialize(selection: str, partition: str | None, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize",
        "-m", "dagster_wc.definitions", "--select", selection,
    ]  # fmt: skip
    if partition:
        command += ["--partition", partition]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_two_partitions_run_at_once_beside_a_dbt_rebuild(tmp_path, small_arena_reference):
    reference_config, reference = small_arena_reference
    shutil.copytree(reference.root, tmp_path / "home")
    home = Home.resolve(tmp_path / "home")
    config = tmp_path / "arena.yaml"
    text = reference_config.read_text()
    assert "max_new_tokens: 80}" in text  # the responses' setting (tests/small_arena.py)
    config.write_text(text.replace("max_new_tokens: 80}", "max_new_tokens: 72}"))
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    earlier_runs = {r.dagster_run.run_id for r in instance.get_run_records()}

    env = {
        **os.environ,
        "DAGSTER_HOME": str(home.dagster),
        "WC_HOME": str(home.root),
        "WC_CONFIG": str(config),
        "HF_HUB_OFFLINE": "1",
    }
    processes = {slug: materialize("responses,execution_results", slug, env) for slug in EXPERTS}
    processes["dbt"] = materialize("instructions_for_battle", None, env)
    outputs = {name: process.communicate(timeout=600)[0] for name, process in processes.items()}
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed:\n{outputs[name][-3000:]}"
        assert "lock" not in outputs[name].lower() or "Could not set lock" not in outputs[name]

    records = [r for r in instance.get_run_records() if r.dagster_run.run_id not in earlier_runs]
    assert len(records) == 3
    # they really overlapped: every run started before any of them ended
    assert max(r.start_time for r in records) < min(r.end_time for r in records)
    for record in records:
        run_id = record.dagster_run.run_id
        events = instance.all_logs(run_id)
        messages = " ".join(e.message or "" for e in events)
        assert "multiprocess executor" in messages, run_id
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS

    responses = read_lake_table(home, "responses")
    made = calls_made(instance, "responses", {r.dagster_run.run_id for r in records})
    for slug in EXPERTS:  # rewritten with the new length; every call was a model call
        mine = responses.filter(pl.col("expert") == slug)
        assert mine.height == K and (mine["completion_tokens"] <= 72).all(), slug
        assert made[slug] == K, slug
    executed = read_lake_table(home, "execution_results")
    assert executed.filter(pl.col("expert").is_in(EXPERTS)).height == K * len(EXPERTS)
