"""Stage 0: the expert registry, from the config into the lake (and the `experts` mart)."""

import hashlib

import dagster as dg
import polars as pl

from dagster_wc.metadata import markdown_table
from dagster_wc.resources import ArenaResource
from warriorcoder.config import ArenaConfig, ModelConfig
from warriorcoder.storage import write_lake_table


def registry_frame(config: ArenaConfig) -> pl.DataFrame:
    """One row per expert and extra judge model, with the roles it plays."""
    rows = []
    for expert in config.experts:
        rows.append(_row(expert, list(expert.roles), expert.enabled))
    for judge in config.judging.extra_judges:
        rows.append(_row(judge, ["judge"], True))
    return pl.DataFrame(
        rows,
        schema={
            "expert": pl.String,
            "model": pl.String,
            "backend": pl.String,
            "family": pl.String,
            "roles": pl.List(pl.String),
            "enabled": pl.Boolean,
            "config_hash": pl.String,
        },
        orient="row",
    )


def _row(model: ModelConfig, roles: list[str], enabled: bool) -> tuple:
    digest = hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:16]
    return (model.slug, model.model, model.backend, model.family, roles, enabled, digest)


@dg.asset(group_name="registry", kinds={"python", "parquet"})
def expert_registry(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """Every configured model and its roles; disabled experts stay listed (their data is kept)."""
    frame = registry_frame(arena.arena)
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
