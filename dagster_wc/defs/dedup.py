"""Stage 2: MinHash signatures and LSH band hashes; dbt groups the duplicates."""

import dagster as dg

from dagster_wc.resources import ArenaResource
from gpu_ops.curation.dedup import minhash_table, optimal_lsh_params
from warriorcoder.storage import write_lake_table
from warriorcoder.warehouse import query


@dg.asset(kinds={"python", "parquet"}, deps=["instructions_clean"])
def instruction_minhash(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """One MinHash signature and its LSH band hashes per clean instruction (rensa)."""
    settings = arena.arena_config.dedup
    clean = query(
        arena.home,
        "select instruction_id, instruction from instructions_clean order by instruction_id",
    )
    frame = minhash_table(
        clean["instruction_id"],
        clean["instruction"].to_list(),
        threshold=settings.threshold,
        num_perm=settings.num_perm,
        shingle_size=settings.shingle_size,
    )
    path = write_lake_table(arena.home, "instruction_minhash", frame)
    bands, rows_per_band = optimal_lsh_params(settings.threshold, settings.num_perm)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "rows": len(frame),
            "num_perm": settings.num_perm,
            "lsh_bands": bands,
            "rows_per_band": rows_per_band,
        }
    )
