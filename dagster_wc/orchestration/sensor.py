"""The config sensor: keeps the arena up to date with its config, as ordinary Dagster runs.

In `dagster dev` (the daemon runs this sensor, on by default) each tick
- registers a partition of `experts` for every new slug (experts and extra judges);
- if the runs it requested last are still queued or running, waits for them; when they
  succeeded it records them (`PipelineWalk.settle`), when one failed or was cancelled it does
  not ask again for the same inputs (a config edit, or `warriorcoder run`, tries again);
- otherwise finds the first stale step of the pipeline (the same steps and the same walk as
  `warriorcoder run`: `dagster_wc.orchestration.walk`) and requests one run per step: the
  step's assets, for one expert partition, or every stale sibling partition at once.
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
from dagster_wc.orchestration.plan import pipeline_shape, plan_steps
from dagster_wc.orchestration.step_state import home_stamps, pipeline_lock
from dagster_wc.orchestration.versions import step_versions
from dagster_wc.orchestration.walk import STEP_TAG, VERSION_TAG, WAVE_TAG, PipelineWalk, step_tags
from dagster_wc.resources import ArenaResource
from wc_foundation.config import ConfigError, load_config


def new_expert_slugs(configured: list[str], known: list[str]) -> list[str]:
    """Configured slugs the instance has no partition for yet, in config order."""
    seen = set(known)
    return [slug for slug in configured if slug not in seen]


def finish_wave(context: dg.SensorEvaluationContext, walk: PipelineWalk, wave: dict) -> str | None:
    """Settle the wave's runs if all are done; returns why to wait, or None when finished."""
    runs = context.instance.get_runs(filters=dg.RunsFilter(tags={WAVE_TAG: wave["id"]}))
    if len(runs) < wave["size"] or any(not run.is_finished for run in runs):
        return f"waiting for {wave['size']} run(s) of step {wave['label']}"
    before = {path: tuple(stamp) for path, stamp in wave["before"].items()}
    for run in runs:
        label, version = run.tags[STEP_TAG], run.tags[VERSION_TAG]
        walk.settle(
            label,
            version,
            before,
            succeeded=run.is_success,
            partition=run.tags.get("dagster/partition"),
            save=False,
        )
        if not run.is_success:
            wave.setdefault("failed", {})[label] = version
    walk.state.save()
    return None


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
    shape = pipeline_shape(
        context.repository_def.asset_graph,
        build_warehouse_dbt_assets().keys,
        manifest_check_parents(),
    )
    with pipeline_lock(arena.home, wait=False) as locked:
        if not locked:
            return dg.SkipReason("`warriorcoder run` is working on this home; waiting for it")
        walk = PipelineWalk(
            plan_steps(shape, config), shape, step_versions(config, shape), arena.home
        )
        wave = cursor.get("wave")
        if wave and not wave.get("done"):
            waiting = finish_wave(context, walk, wave)
            if waiting:
                return dg.SensorResult(skip_reason=waiting, dynamic_partitions_requests=partitions)
            wave["done"] = True
        failed = (wave or {}).get("failed", {})
        requested = walk.next_wave(failed)
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
                tags={WAVE_TAG: wave_id, **step_tags(step, version)},
            )
            for step, version in requested
        ],
        dynamic_partitions_requests=partitions,
        cursor=json.dumps(cursor),
    )
