"""Stage 2: exact and near-duplicate groups, computed once in Python; dbt's dedup marts read them."""

import dagster as dg

from dagster_wc.resources import ArenaResource
from gpu_ops.curation.dedup import optimal_lsh_params, survivors_table
from wc_foundation.storage import write_lake_table
from wc_foundation.warehouse import read_model

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("dedup",)


@dg.asset(kinds={"python", "parquet"}, deps=["instructions_to_dedup"])
def instruction_survivors(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """Each clean instruction and the one that survives for its duplicate group (MinHash-LSH with
    rensa, exact copies, connected components; an expert joining later never displaces an
    instruction of an earlier generation)."""
    settings = arena.arena_config.dedup
    clean = read_model(arena.home, "instructions_to_dedup", order_by=["instruction_id"])
    frame = survivors_table(
        clean["instruction_id"],
        clean["instruction"].to_list(),
        clean["generation"].to_list(),
        threshold=settings.threshold,
        num_perm=settings.num_perm,
        shingle_size=settings.shingle_size,
    )
    path = write_lake_table(arena.home, "instruction_survivors", frame)
    bands, rows_per_band = optimal_lsh_params(settings.threshold, settings.num_perm)
    reasons = frame["reason"].value_counts()
    count = dict(zip(reasons["reason"], reasons["count"], strict=True))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "rows": len(frame),
            "survivors": count.get("survivor", 0),
            "dropped_exact": count.get("exact", 0),
            "dropped_near": count.get("near", 0),
            "num_perm": settings.num_perm,
            "lsh_bands": bands,
            "rows_per_band": rows_per_band,
        }
    )
