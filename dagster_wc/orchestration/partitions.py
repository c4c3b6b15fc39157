"""One dynamic partition per expert slug (experts and extra judge models).

Keys are added by the config sensor or the CLI (`warriorcoder add-expert`, `warriorcoder run`);
a disabled expert keeps its key and its data, and the marts leave it out. A partitioned asset
names the role whose models it runs for in its `PARTITION_ROLE_TAG` tag (miner, scorer,
competitor, judge): that tag is the only place that says which experts a stage runs.
"""

import dagster as dg

from wc_foundation.config import ArenaConfig

experts_partitions = dg.DynamicPartitionsDefinition(name="experts")

PARTITION_ROLE_TAG = "warriorcoder/partition_role"
NEEDS_TARGET_TAG = "warriorcoder/needs_target"


def sync_expert_partitions(instance: dg.DagsterInstance, slugs: list[str]) -> list[str]:
    """Add the slugs the instance does not know yet; return the ones added."""
    known = set(instance.get_dynamic_partitions(experts_partitions.name))
    new = [slug for slug in slugs if slug not in known]
    if new:
        instance.add_dynamic_partitions(experts_partitions.name, new)
    return new


def configured_slugs(config: ArenaConfig) -> list[str]:
    """Every slug that needs a partition: the experts and the extra judge models."""
    return [e.slug for e in config.experts] + [j.slug for j in config.judging.extra_judges]


def slugs_for_role(config: ArenaConfig, role: str) -> list[str]:
    """The partitions a step runs for: the enabled models that play `role`."""
    if role == "scorer":
        return config.scorer_slugs()
    if role == "judge":
        return [m.slug for m in config.judge_models()]
    if role in ("miner", "competitor"):
        return [e.slug for e in config.experts_with_role(role)]
    raise ValueError(f"unknown partition role {role!r}")
