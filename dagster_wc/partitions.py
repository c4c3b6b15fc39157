"""One dynamic partition per expert slug (experts and extra judge models).

Keys are added by the config sensor or the CLI (`warriorcoder add-expert`, `warriorcoder run`);
a disabled expert keeps its key and its data, and the marts leave it out.
"""

import dagster as dg

experts_partitions = dg.DynamicPartitionsDefinition(name="experts")


def sync_expert_partitions(instance: dg.DagsterInstance, slugs: list[str]) -> list[str]:
    """Add the slugs the instance does not know yet; return the ones added."""
    known = set(instance.get_dynamic_partitions(experts_partitions.name))
    new = [slug for slug in slugs if slug not in known]
    if new:
        instance.add_dynamic_partitions(experts_partitions.name, new)
    return new
