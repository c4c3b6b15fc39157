"""Stage 0: the expert registry, from the config into the lake (and the `experts` mart)."""

import hashlib

import dagster as dg
import polars as pl

from dagster_wc.metadata import markdown_table
from dagster_wc.resources import ArenaResource
from gpu_ops.lake_schemas import LAKE_SCHEMAS
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import lake_partitions, read_lake_table, write_lake_table

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("experts", "judging")

REGISTRY_SCHEMA = LAKE_SCHEMAS["expert_registry"]


def registry_frame(config: ArenaConfig, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per expert and extra judge model, with its roles and when it joined.

    `joined_generation` is 0 for the experts of the first run and one more than the newest
    earlier generation for experts that join later: judging uses it to tell a new judge's
    "existing battles" (both sides joined before it). An expert that leaves the config stays
    listed, disabled, so its data is kept and the marts leave it out.
    """
    joined: dict[str, int] = {}
    kept_rows: list[tuple] = []
    configured = {m.slug for m in (*config.experts, *config.judging.extra_judges)}
    if previous is not None and len(previous):
        previous = previous.with_columns(
            pl.col("joined_generation")
            if "joined_generation" in previous.columns
            else pl.lit(0).alias("joined_generation")
        )
        joined = dict(zip(previous["expert"], previous["joined_generation"], strict=True))
        for row in previous.filter(~pl.col("expert").is_in(list(configured))).iter_rows(named=True):
            kept_rows.append({**row, "enabled": False})
    next_generation = max(joined.values(), default=-1) + 1
    rows = []
    for model, roles, enabled in [
        *((e, list(e.roles), e.enabled) for e in config.experts),
        *((j, ["judge"], True) for j in config.judging.extra_judges),
    ]:
        digest = hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:16]
        generation = joined.get(model.slug, next_generation if joined else 0)
        rows.append(
            {
                "expert": model.slug,
                "model": model.model,
                "backend": model.backend,
                "family": model.family,
                "roles": roles,
                "enabled": enabled,
                "config_hash": digest,
                "joined_generation": generation,
            }
        )
    return pl.DataFrame([*rows, *kept_rows], schema=REGISTRY_SCHEMA)


@dg.asset(kinds={"python", "parquet"})
def expert_registry(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """Every configured model and its roles; disabled experts stay listed (their data is kept)."""
    previous = (
        read_lake_table(arena.home, "expert_registry")
        if lake_partitions(arena.home, "expert_registry")
        else None
    )
    frame = registry_frame(arena.arena_config, previous)
    path = write_lake_table(arena.home, "expert_registry", frame)
    enabled = frame.filter(pl.col("enabled"))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "experts": len(frame),
            "enabled": len(enabled),
            "registry": markdown_table(frame.drop("config_hash")),
        }
    )
