"""The config sensor: a new expert in the config registers its partition and requests its runs.

In `dagster dev` (with the default daemon) this sensor polls the config file. When an expert
slug appears that the instance does not know, it adds the dynamic partition and requests the
expert's own work (mining; responses, scores, judging on existing battles are picked up by the
`warriorcoder run` flow or by the automation conditions downstream). Removing an expert from the
config never deletes its partition or data; set `enabled: false` to leave it out of ratings.
"""

import dagster as dg

from dagster_wc.partitions import experts_partitions
from dagster_wc.resources import ArenaResource
from warriorcoder.config import ConfigError, load_config

NEW_EXPERT_ASSETS = [
    "instructions_mined",
    "responses",
    "instruction_scores",
    "judgments",
    "execution_results",
]


def new_expert_slugs(configured: list[str], known: list[str]) -> list[str]:
    """Configured slugs the instance has no partition for yet, in config order."""
    seen = set(known)
    return [slug for slug in configured if slug not in seen]


@dg.sensor(
    name="expert_config_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=dg.AssetSelection.assets(*NEW_EXPERT_ASSETS),
)
def expert_config_sensor(
    context: dg.SensorEvaluationContext, arena: ArenaResource
) -> dg.SensorResult | dg.SkipReason:
    """Watch the config file; register new experts and request the mining run of each."""
    try:
        config = load_config(arena.config_path, home=arena.home.root)
    except ConfigError as error:
        return dg.SkipReason(f"config is invalid, nothing registered: {error}")
    slugs = [e.slug for e in config.experts] + [j.slug for j in config.judging.extra_judges]
    known = context.instance.get_dynamic_partitions(experts_partitions.name)
    new = new_expert_slugs(slugs, known)
    if not new:
        return dg.SkipReason("no new experts in the config")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=slug,
                asset_selection=[dg.AssetKey("instructions_mined")],
                run_key=f"mine-{slug}",
            )
            for slug in new
        ],
        dynamic_partitions_requests=[experts_partitions.build_add_request(new)],
    )
