"""Stage 3: difficulty / quality scores, one partition per scorer; dbt averages and buckets."""

import dagster as dg
import polars as pl

from dagster_wc.metadata import cache_metadata, value_counts
from dagster_wc.orchestration.partitions import PARTITION_ROLE_TAG, experts_partitions
from dagster_wc.resources import ArenaResource
from gpu_ops.curation.scoring import SCORES_SCHEMA, score_instructions
from wc_foundation.storage import write_lake_table
from wc_foundation.warehouse import read_model

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("experts", "scoring")


@dg.asset(
    partitions_def=experts_partitions,
    tags={PARTITION_ROLE_TAG: "scorer"},
    kinds={"python", "parquet"},
    deps=["instructions_dedup"],
)
def instruction_scores(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """A scorer's 1..10 ratings of every deduplicated instruction (never its own, by default)."""
    model = None
    config = arena.arena_config
    slug = context.partition_key
    if slug not in config.scorer_slugs():
        frame = pl.DataFrame(schema=SCORES_SCHEMA)
    else:
        instructions = read_model(
            arena.home, "instructions_dedup", order_by=["instruction_id"]
        ).select("instruction_id", "instruction", "miner")
        sampling = config.scoring.sampling()
        with arena.chat_model(config.expert(slug), "instruction_scores") as model:
            frame = score_instructions(
                model,
                instructions,
                scorer=slug,
                mode=config.scoring.mode,
                sampling=sampling,
                skip_own=not config.scoring.score_own_instructions,
            )
    path = write_lake_table(arena.home, "instruction_scores", frame, partition=slug)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            **cache_metadata(model),
            "rows": len(frame),
            "unparsed": int((~frame["parsed"]).sum()) if len(frame) else 0,
            "score_histogram": value_counts(frame, "score") if len(frame) else {},
        }
    )
