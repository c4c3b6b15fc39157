"""Stage 4: embeddings of the kept instructions and the KCenterGreedy selection order."""

import dagster as dg
import numpy as np
import polars as pl

from dagster_wc.metadata import png_image
from dagster_wc.resources import ArenaResource
from gpu_ops.cluster import cluster_scope
from gpu_ops.cluster.embeddings import embed_across
from gpu_ops.curation.kcenter import kcenter_greedy, resolve_budget
from wc_foundation.storage import read_lake_table, write_lake_table
from wc_foundation.warehouse import read_model

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("embedding", "selection")


@dg.asset(kinds={"python", "parquet"}, deps=["instructions_kept"])
def instruction_embeddings(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """L2-normalized sentence embeddings of every kept instruction."""
    settings = arena.arena_config.embedding
    kept = read_model(arena.home, "instructions_kept", order_by=["instruction_id"]).select(
        "instruction_id", "instruction"
    )
    with cluster_scope("instruction_embeddings", arena.arena_config.compute.ray_address):
        vectors = embed_across(  # on Ray when a cluster is set, else here as before
            settings.model,
            kept["instruction"].to_list(),
            device=settings.device,
            batch_size=settings.batch_size,
        )
    model_name = settings.model or "all-MiniLM-L6-v2"
    frame = pl.DataFrame(
        {
            "instruction_id": kept["instruction_id"],
            "model": [model_name] * len(kept),
            "embedding": pl.Series(vectors.astype(np.float32).tolist(), dtype=pl.List(pl.Float32)),
        }
    )
    path = write_lake_table(arena.home, "instruction_embeddings", frame)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "rows": len(frame),
            "dimension": vectors.shape[1] if len(frame) else 0,
        }
    )


def previous_selection(arena: ArenaResource, ids: list[str]) -> list[int]:
    """Row indices (into `ids`) of the earlier selection order, for instructions still present.

    New experts' instructions join by continuing k-center from the existing order, so every
    earlier pick stays selected and its battles stay valid.
    """
    try:
        earlier = read_lake_table(arena.home, "instructions_selected").sort("selection_rank")
    except OSError:
        return []
    position = {instruction_id: index for index, instruction_id in enumerate(ids)}
    return [position[i] for i in earlier["instruction_id"].to_list() if i in position]


@dg.asset(kinds={"python", "parquet"}, deps=[instruction_embeddings])
def instructions_selected(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """A diverse core by greedy k-center: the pick order and the coverage radius after each pick."""
    settings = arena.arena_config.selection
    embeddings = read_lake_table(arena.home, "instruction_embeddings").sort("instruction_id")
    ids = embeddings["instruction_id"].to_list()
    matrix = np.asarray(embeddings["embedding"].to_list(), dtype=np.float32)
    budget = resolve_budget(settings.k, len(ids))
    already = previous_selection(arena, ids)[:budget]
    result = kcenter_greedy(
        matrix,
        budget,
        first_center=settings.first_center,
        seed=settings.seed,
        already_selected=already,
    )
    frame = pl.DataFrame(
        {
            "instruction_id": [ids[i] for i in result.order],
            "selection_rank": np.arange(len(result.order), dtype=np.int64),
            "coverage_radius": result.radius.astype(np.float64),
            "embedding_model": [embeddings["model"][0] if len(ids) else ""] * len(result.order),
        }
    )
    path = write_lake_table(arena.home, "instructions_selected", frame)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "pool": len(ids),
            "selected": len(frame),
            "kept_from_earlier_selection": len(already),
            "final_radius": float(result.radius[-1]) if len(frame) else 0.0,
            "radius_curve": radius_plot(result.radius),
        }
    )


def radius_plot(radius: np.ndarray) -> dg.MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3))
    axis.plot(np.arange(1, len(radius) + 1), radius)
    axis.set_xlabel("k (instructions selected)")
    axis.set_ylabel("coverage radius")
    axis.set_title("KCenterGreedy coverage")
    return png_image(figure)
