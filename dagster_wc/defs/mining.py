"""Stage 1: Magpie-style instruction mining, one partition per expert."""

import dagster as dg
import polars as pl

from dagster_wc.metadata import cache_metadata, markdown_table
from dagster_wc.orchestration.partitions import PARTITION_ROLE_TAG, experts_partitions
from dagster_wc.resources import ArenaResource
from gpu_ops.curation.mining import MINED_SCHEMA, MiningSetting, mine_instructions
from gpu_ops.worlds import reserved_reasons
from wc_foundation.storage import write_lake_table

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("experts", "mining")


@dg.asset(
    partitions_def=experts_partitions,
    tags={PARTITION_ROLE_TAG: "miner"},
    kinds={"python", "parquet"},
    deps=["expert_registry"],
)
def instructions_mined(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """Raw instructions an expert writes from its own pre-query template, with provenance."""
    model = None
    config = arena.arena_config
    expert = config.expert(context.partition_key)
    if not (expert.enabled and "miner" in expert.roles):
        frame = pl.DataFrame(schema=MINED_SCHEMA)
    else:
        grid = [
            MiningSetting(s.setting_id, s.temperature, s.top_p, config.mining.max_new_tokens)
            for s in config.mining.sampling_grid
        ]
        with arena.chat_model(expert, "instructions_mined") as model:
            frame = mine_instructions(
                model,
                expert=expert.slug,
                languages=config.mining.languages,
                sampling_grid=grid,
                samples_per_setting=config.mining.samples_per_setting,
                seed=config.mining.seed,
                system_prompts=config.mining.system_prompts(),
                reserved_reason=reserved_reasons(config.mining.reserved_worlds),
            )
    path = write_lake_table(arena.home, "instructions_mined", frame, partition=expert.slug)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            **cache_metadata(model),
            "rows": len(frame),
            # kept out of the arena by a world (its judges' training data): dropped by the
            # cleaning (instructions_screened, drop_reason `reserved`)
            "reserved": int(frame["reserved_reason"].is_not_null().sum()),
            "completion_tokens": int(frame["completion_tokens"].sum() or 0),
            "finish_reasons": markdown_table(
                frame.group_by("finish_reason").len().sort("finish_reason")
            ),
            "sample": markdown_table(
                frame.select("language", "setting_id", "raw_text"), max_rows=5
            ),
        }
    )
