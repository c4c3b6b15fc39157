"""Stage 2: MinHash signatures and LSH band hashes; dbt groups the duplicates."""

import dagster as dg
import numpy as np
import polars as pl

from dagster_wc.resources import ArenaResource
from gpu_ops.dedup import lsh_band_hashes, minhash_signatures, optimal_lsh_params
from warriorcoder.storage import write_lake_table
from warriorcoder.warehouse import query


@dg.asset(group_name="dedup", kinds={"python", "parquet"}, deps=["instructions_clean"])
def instruction_minhash(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """One MinHash signature and its LSH band hashes per clean instruction."""
    settings = arena.arena.dedup
    clean = query(arena.home, "select instruction_id, instruction from instructions_clean order by instruction_id")
    texts = clean["instruction"].to_list()
    num_bands, rows_per_band = optimal_lsh_params(settings.threshold, settings.num_perm)
    signatures = minhash_signatures(texts, num_perm=settings.num_perm, shingle_size=settings.shingle_size)
    bands = lsh_band_hashes(signatures, num_bands=num_bands, rows_per_band=rows_per_band)
    frame = pl.DataFrame(
        {
            "instruction_id": clean["instruction_id"],
            "signature": pl.Series(signatures.astype(np.uint32).tolist(), dtype=pl.List(pl.UInt32)),
            "band_hashes": pl.Series(bands.astype(np.uint64).tolist(), dtype=pl.List(pl.UInt64)),
        }
    )
    path = write_lake_table(arena.home, "instruction_minhash", frame)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "rows": len(frame),
            "num_perm": settings.num_perm,
            "lsh_bands": num_bands,
            "rows_per_band": rows_per_band,
        }
    )
