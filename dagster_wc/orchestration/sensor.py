"""The config sensor: keeps the arena up to date with its config, as ordinary Dagster runs.

In `dagster dev` (the daemon runs this sensor, on by default) each tick
- registers a partition of `experts` for every new slug (experts and extra judges);
- if the runs it requested last are still queued or running, waits for them; when they
  succeeded it records them (`dagster_wc.orchestration.step_state`), when one failed or was cancelled it does
  not ask again for the same inputs (a config edit, or `warriorcoder run`, tries again);
- otherwise finds the first stale step of the pipeline (the same steps, the same staleness rule
  as `warriorcoder run`) and requests one run per step: the step's assets, for one expert
  partition, or every stale sibling partition at once.
So the catch-up is a chain of ordinary runs: the run queue shows them, the UI can cancel them,
and an unchanged arena launches nothing, also on a new instance (the state lives in the home,
not in the sensor's cursor). An invalid config is skipped with the reason shown in the UI.
While `warriorcoder run` works on the same home the sensor waits for it.
"""

from __future__ import annotations

import json
import uuid

import dagster as dg

from dagster_wc.dbt.assets import build_warehouse_dbt_assets, manifest_check_parents
from dagster_wc.orchestration.partitions import configured_slugs, experts_partitions
from dagster_wc.orchestration.plan import PipelineShape, Step, pipeline_shape, plan_steps
from dagster_wc.orchestration.step_state import (
    StepState,
    base_version,
    home_stamps,
    pipeline_lock,
)
from dagster_wc.resources import ArenaResource
from warriorcoder.config import ConfigError, load_config

WAVE_TAG = "warriorcoder/wave"
STEP_TAG = "warriorcoder/step"
STAGE_TAG = "warriorcoder/stage"
VERSION_TAG = "warriorcoder/input_version"


def new_expert_slugs(configured: list[str], known: list[str]) -> list[str]:
    """Configured slugs the instance has no partition for yet, in config order."""
    seen = set(known)
    return [slug for slug in configured if slug not in seen]


def finish_wave(context: dg.SensorEvaluationContext, state: StepState, wave: dict) -> str | None:
    """Record the wave's runs if all are done; returns why to wait, or None when finished."""
    runs = context.instance.get_runs(filters=dg.RunsFilter(tags={WAVE_TAG: wave["id"]}))
    if len(runs) < wave["size"] or any(not run.is_finished for run in runs):
        return f"waiting for {wave['size']} run(s) of step {wave['label']}"
    before = {path: tuple(stamp) for path, stamp in wave["before"].items()}
    for run in runs:
        label = run.tags[STEP_TAG]
        if run.is_success:
            state.record(
                label,
                run.tags[VERSION_TAG],
                before,
                dbt=label.startswith("dbt:"),
                partition=run.tags.get("dagster/partition"),
            )
        else:
            state.forget(label)
            wave.setdefault("failed", {})[label] = run.tags[VERSION_TAG]
    state.save()
    return None


def next_wave(
    steps: list[Step], shape: PipelineShape, state: StepState, base: str, failed: dict[str, str]
) -> list[tuple[Step, str]]:
    """The first stale step, with its stale sibling partitions (independent, so run together)."""
    for index, step in enumerate(steps):
        version = state.step_version(step, shape, steps, base)
        if state.is_fresh(step.label, version, dbt=step.kind == "dbt"):
            continue
        if failed.get(step.label) == version:
            return []  # failed with these very inputs: wait for a change
        wave = [(step, version)]
        for sibling in steps[index + 1 :]:
            if sibling.asset_keys != step.asset_keys or sibling.partition_key is None:
                break
            sibling_version = state.step_version(sibling, shape, steps, base)
            if not state.is_fresh(sibling.label, sibling_version, dbt=False):
                wave.append((sibling, sibling_version))
        return wave
    return []


@dg.sensor(
    name="expert_config_sensor",
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def expert_config_sensor(
    context: dg.SensorEvaluationContext, arena: ArenaResource
) -> dg.SensorResult | dg.SkipReason:
    """Request the next stale step's runs; wait for the ones in flight; launch nothing if current."""
    try:
        config = load_config(arena.config_path, home=arena.home.root)
    except (ConfigError, OSError) as error:
        return dg.SkipReason(f"config is invalid, nothing registered: {error}")
    known = context.instance.get_dynamic_partitions(experts_partitions.name)
    new = new_expert_slugs(configured_slugs(config), known)
    partitions = [experts_partitions.build_add_request(new)] if new else []
    cursor = json.loads(context.cursor or "{}")
    with pipeline_lock(arena.home, wait=False) as locked:
        if not locked:
            return dg.SkipReason("`warriorcoder run` is working on this home; waiting for it")
        state = StepState(arena.home)
        wave = cursor.get("wave")
        if wave and not wave.get("done"):
            waiting = finish_wave(context, state, wave)
            if waiting:
                return dg.SensorResult(skip_reason=waiting, dynamic_partitions_requests=partitions)
            wave["done"] = True
        failed = (wave or {}).get("failed", {})
        shape = pipeline_shape(
            context.repository_def.asset_graph,
            build_warehouse_dbt_assets().keys,
            manifest_check_parents(),
        )
        steps = plan_steps(shape, config)
        requested = next_wave(steps, shape, state, base_version(config), failed)
        if not requested:
            why = (
                "the arena is up to date"
                if not failed
                else f"failed steps wait for a change: {sorted(failed)}"
            )
            return dg.SensorResult(
                skip_reason=why,
                dynamic_partitions_requests=partitions,
                cursor=json.dumps({"wave": wave}) if wave else context.cursor,
            )
        wave_id = uuid.uuid4().hex[:12]
        first = requested[0][0]
        cursor = {
            "wave": {
                "id": wave_id,
                "label": first.label,
                "size": len(requested),
                "before": home_stamps(arena.home),
                "failed": failed,
            }
        }
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{wave_id}-{step.label}",
                asset_selection=list(step.asset_keys),
                asset_check_keys=list(step.check_keys) or None,
                partition_key=step.partition_key,
                tags={
                    WAVE_TAG: wave_id,
                    STEP_TAG: step.label,
                    STAGE_TAG: step.stage,
                    VERSION_TAG: version,
                },
            )
            for step, version in requested
        ],
        dynamic_partitions_requests=partitions,
        cursor=json.dumps(cursor),
    )
