"""The config sensor and the update job it launches: adding or disabling an expert in the
config brings the arena up to date without a click."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_wc.definitions import build_definitions
from dagster_wc.defs.sensors import arena_update_job, expert_config_sensor
from dagster_wc.resources import ArenaResource
from warriorcoder.storage import Home, read_lake_table


def write_config(path, model_dir, experts: list[tuple[str, bool]]) -> None:
    lines = ["experts:"] + [
        f"  - {{slug: {slug}, model: '{model_dir}', family: tiny, enabled: {str(on).lower()}}}"
        for slug, on in experts
    ]
    path.write_text("\n".join(lines) + "\n")


def evaluate(instance, arena, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"arena": arena})
    return expert_config_sensor(context)


def test_sensor_registers_new_experts_and_requests_one_update_per_config_change(
    tmp_path, tiny_model_dir
):
    config = tmp_path / "arena.yaml"
    write_config(config, tiny_model_dir, [("alpha", True), ("beta", True)])
    arena = ArenaResource(config_path=str(config), home_dir=str(tmp_path / "home"))
    instance = dg.DagsterInstance.ephemeral()

    first = evaluate(instance, arena, None)
    assert isinstance(first, dg.SensorResult)
    (request,) = first.run_requests
    assert request.tags["warriorcoder/new_experts"] == "alpha,beta"
    (added,) = first.dynamic_partitions_requests
    assert added.partition_keys == ["alpha", "beta"]
    instance.add_dynamic_partitions("experts", ["alpha", "beta"])

    unchanged = evaluate(instance, arena, first.cursor)
    assert isinstance(unchanged, dg.SkipReason) and "not changed" in unchanged.skip_message

    write_config(config, tiny_model_dir, [("alpha", True), ("beta", False), ("gamma", True)])
    changed = evaluate(instance, arena, first.cursor)
    (update,) = changed.run_requests
    assert update.tags["warriorcoder/new_experts"] == "gamma"
    assert update.run_key != request.run_key and changed.cursor != first.cursor
    assert changed.dynamic_partitions_requests[0].partition_keys == ["gamma"]

    # disabling only: no new partition, still an update (ratings must leave the expert out)
    instance.add_dynamic_partitions("experts", ["gamma"])
    write_config(config, tiny_model_dir, [("alpha", True), ("beta", True), ("gamma", False)])
    disabled = evaluate(instance, arena, changed.cursor)
    assert len(disabled.run_requests) == 1 and disabled.dynamic_partitions_requests == []

    config.write_text("experts: [{slug: 'bad slug', model: x}]\n")
    invalid = evaluate(instance, arena, disabled.cursor)
    assert isinstance(invalid, dg.SkipReason) and "invalid" in invalid.skip_message


@pytest.mark.slow
def test_update_job_runs_the_pipeline_steps_as_runs_of_their_own(tmp_path, tiny_model_dir):
    config = tmp_path / "arena.yaml"
    write_config(config, tiny_model_dir, [("alpha", True), ("beta", True), ("gamma", False)])
    home = Home.resolve(tmp_path / "home")
    definitions = build_definitions(config, str(home.root))
    job = definitions.get_job_def(arena_update_job.name)
    home.dagster.mkdir(parents=True)
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    result = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"update_arena": {"config": {"stages": ["registry"]}}}},
    )
    assert result.success
    assert read_lake_table(home, "expert_registry")["expert"].sort().to_list() == [
        "alpha",
        "beta",
        "gamma",
    ]
    step_runs = [
        r for r in instance.get_run_records() if "warriorcoder/stage" in r.dagster_run.tags
    ]
    assert {r.dagster_run.tags["warriorcoder/stage"] for r in step_runs} == {"registry"}
    assert len(step_runs) == 2  # the registry asset and its dbt models
