"""The config sensor: it keeps the arena up to date as ordinary runs, one stale step at a time,
and launches nothing for an arena that is already current, also on a new instance."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest

from dagster_wc.definitions import build_definitions
from dagster_wc.orchestration.runner import run_pipeline
from dagster_wc.orchestration.sensor import expert_config_sensor
from dagster_wc.orchestration.step_state import pipeline_lock
from dagster_wc.orchestration.walk import STEP_TAG, WAVE_TAG
from dagster_wc.resources import ArenaResource
from wc_foundation.storage import Home, read_lake_table


def write_config(path, model_dir, experts: list[tuple[str, bool]]) -> None:
    lines = ["experts:"] + [
        f"  - {{slug: {slug}, model: '{model_dir}', family: tiny, enabled: {str(on).lower()}}}"
        for slug, on in experts
    ]
    path.write_text("\n".join(lines) + "\n")


def tick(instance, definitions, home: Home, config, cursor):
    arena = ArenaResource(config_path=str(config), home_dir=str(home.root))
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"arena": arena}, definitions=definitions
    )
    return expert_config_sensor(context)


def launch(instance, definitions, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """What the daemon does with a run request, in-process."""
    job = definitions.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        asset_selection=list(request.asset_selection),
        partition_key=request.partition_key,
        tags=request.tags,
    )


@pytest.mark.slow
def test_sensor_walks_the_stale_steps_as_runs_of_their_own(tmp_path, tiny_model_dir):
    config = tmp_path / "arena.yaml"
    write_config(config, tiny_model_dir, [("alpha", True), ("beta", True), ("gamma", False)])
    home = Home.resolve(tmp_path / "home").ensure()
    definitions = build_definitions(config, str(home.root))
    instance = dg.DagsterInstance.ephemeral()

    first = tick(instance, definitions, home, config, None)
    assert first.dynamic_partitions_requests[0].partition_keys == ["alpha", "beta", "gamma"]
    (registry,) = first.run_requests
    assert registry.tags[STEP_TAG] == "expert_registry" and registry.partition_key is None
    instance.add_dynamic_partitions("experts", ["alpha", "beta", "gamma"])

    waiting = tick(instance, definitions, home, config, first.cursor)
    assert not waiting.run_requests and "waiting" in waiting.skip_reason.skip_message

    assert launch(instance, definitions, registry).success
    second = tick(instance, definitions, home, config, first.cursor)
    mined = second.run_requests
    assert [r.partition_key for r in mined] == ["alpha", "beta"]  # gamma is disabled
    assert {r.tags[STEP_TAG] for r in mined} == {
        "instructions_mined[alpha]",
        "instructions_mined[beta]",
    }
    assert len({r.tags[WAVE_TAG] for r in mined}) == 1  # sibling partitions go together
    assert read_lake_table(home, "expert_registry")["expert"].sort().to_list() == [
        "alpha",
        "beta",
        "gamma",
    ]

    # a failed run is not asked for again with the same inputs
    for request in mined:
        job = definitions.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=list(request.asset_selection),
            partition_key=request.partition_key,
            tags=request.tags,
            raise_on_error=False,
            run_config={"resources": {"arena": {"config": {"config_path": "/nonexistent.yaml"}}}},
        )
        assert not result.success
    stuck = tick(instance, definitions, home, config, second.cursor)
    assert not stuck.run_requests
    assert "failed steps wait for a change" in stuck.skip_reason.skip_message
    assert "instructions_mined[alpha]" in json.loads(stuck.cursor)["wave"]["failed"]

    # while `warriorcoder run` holds the home, the sensor waits
    with pipeline_lock(home):
        busy = tick(instance, definitions, home, config, stuck.cursor)
    assert isinstance(busy, dg.SkipReason) and "warriorcoder run" in busy.skip_message

    config.write_text("experts: [{slug: 'bad slug', model: x}]\n")
    invalid = tick(instance, definitions, home, config, stuck.cursor)
    assert isinstance(invalid, dg.SkipReason) and "invalid" in invalid.skip_message


@pytest.mark.slow
def test_an_up_to_date_arena_launches_nothing_on_a_new_instance(tmp_path, small_arena_reference):
    config, reference = small_arena_reference
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(reference.root, home.root)
    finished = run_pipeline(config, home)  # the reference stopped at sft_data: only the rest runs
    assert finished.steps_skipped and all(label.startswith("dbt:") for label in finished.steps_run)
    again = run_pipeline(config, home)
    assert again.steps_run == [] and again.run_ids == []

    definitions = build_definitions(config, str(home.root))
    instance = dg.DagsterInstance.ephemeral()
    result = tick(instance, definitions, home, config, None)
    assert result.run_requests == []
    assert result.skip_reason.skip_message == "the arena is up to date"
