"""The config sensor: when the arena config changes, bring the arena up to date, unattended.

In `dagster dev` (the daemon runs this sensor, on by default, every 30 s) the sensor reads the
config file. When its content differs from the last version it acted on (the cursor holds the
content hash) and it is valid, the sensor
- adds a partition of `experts` for every new slug (experts and extra judges), and
- requests one run of `arena_update_job`, whose op walks the pipeline step by step
  (`dagster_wc.runner.run_pipeline`, the same steps as `warriorcoder run`). Each step is its own
  run on the instance, tagged with its stage, so the UI shows the catch-up as it happens.
Every LLM call is cached, so the update computes only the new cells: a new expert's mining,
responses and battles, the new judge's votes; a disabled expert leaves ratings and winners.
An invalid config is skipped (the reason shows in the UI) and its hash is not stored, so the
fixed file triggers the update. Removing an expert never deletes its partition or data.
"""

import hashlib
from pathlib import Path

import dagster as dg
from pydantic import Field

from dagster_wc.partitions import experts_partitions
from dagster_wc.resources import ArenaResource
from warriorcoder.config import ConfigError, load_config


class ArenaUpdateConfig(dg.Config):
    """Which pipeline stages the update runs; empty means every stage."""

    stages: list[str] = Field(default_factory=list)


@dg.op
def update_arena(
    context: dg.OpExecutionContext, config: ArenaUpdateConfig, arena: ArenaResource
) -> None:
    """Run the pipeline's steps in order (each one a run of its own); only new cells compute."""
    from dagster_wc.runner import run_pipeline

    def log_step(index: int, total: int, step, state: str) -> None:
        if state == "done":
            context.log.info(f"step {index + 1}/{total} done: {step.stage}: {step.label}")

    summary = run_pipeline(
        arena.config_path, arena.home, stages=config.stages or None, on_step=log_step
    )
    context.log.info(f"arena up to date: {len(summary.steps_run)} steps")


@dg.job(description="Bring the arena up to date with its config (what `warriorcoder run` does).")
def arena_update_job() -> None:
    update_arena()


def new_expert_slugs(configured: list[str], known: list[str]) -> list[str]:
    """Configured slugs the instance has no partition for yet, in config order."""
    seen = set(known)
    return [slug for slug in configured if slug not in seen]


def config_digest(path: str) -> str:
    """Content hash of the config file: the sensor's cursor."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dg.sensor(
    name="expert_config_sensor",
    job=arena_update_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def expert_config_sensor(
    context: dg.SensorEvaluationContext, arena: ArenaResource
) -> dg.SensorResult | dg.SkipReason:
    """Register new experts and request one arena update run when the config file changes."""
    try:
        digest = config_digest(arena.config_path)
        config = load_config(arena.config_path, home=arena.home.root)
    except (ConfigError, OSError) as error:
        return dg.SkipReason(f"config is invalid, nothing registered: {error}")
    if digest == context.cursor:
        return dg.SkipReason("the config has not changed since the last update")
    slugs = [e.slug for e in config.experts] + [j.slug for j in config.judging.extra_judges]
    known = context.instance.get_dynamic_partitions(experts_partitions.name)
    new = new_expert_slugs(slugs, known)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"config-{digest}",
                tags={
                    "warriorcoder/config_digest": digest,
                    "warriorcoder/new_experts": ",".join(new),
                },
            )
        ],
        dynamic_partitions_requests=[experts_partitions.build_add_request(new)] if new else [],
        cursor=digest,
    )
