"""Stage 8: global ratings — Bradley-Terry with bootstrap CIs and the paper's online Elo."""

import dagster as dg
import polars as pl

from dagster_wc.metadata import markdown_table, png_image
from dagster_wc.plots import rating_intervals_figure, win_rate_heatmap_figure
from dagster_wc.resources import ArenaResource
from gpu_ops.arena.ratings import leaderboard, record_warnings
from gpu_ops.cluster import cluster_scope
from gpu_ops.state_db import open_row_store
from wc_foundation.storage import write_lake_table
from wc_foundation.warehouse import read_model

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("ratings",)


@dg.asset(
    kinds={"python", "parquet"},
    deps=["elo_battle_sequence", "pair_win_matrix"],
)
def expert_ratings(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """BT (maximum likelihood on weighted votes) and online Elo (K=40), both with bootstrap CIs
    over instructions (or votes: `ratings.bootstrap_unit`)."""
    settings = arena.arena_config.ratings
    # the votes in online Elo's documented, fixed order (dbt: elo_battle_sequence)
    ordered_battles = read_model(arena.home, "elo_battle_sequence", order_by=["battle_order"]).drop(
        "battle_order"
    )
    common = {
        "bootstrap_rounds": settings.bootstrap_rounds,
        "seed": settings.seed,
        "scale": settings.scale,
        "base": settings.base,
        "initial": settings.initial_rating,
        "unit": settings.bootstrap_unit,
    }
    compute = arena.arena_config.compute
    rounds = open_row_store(arena.home.cache / "bootstrap_rounds.sqlite", compute.state_url)
    try:  # each finished bootstrap round is committed: a rerun computes only the rest
        with cluster_scope("expert_ratings", compute.ray_address):
            bt = leaderboard(ordered_battles, method="bt", round_store=rounds, **common)
            elo = leaderboard(
                ordered_battles, method="elo", k=settings.elo_k, round_store=rounds, **common
            )
    finally:
        rounds.close()
    frame = pl.concat([bt, elo])
    for message in record_warnings(frame):
        context.log.warning(message)
    path = write_lake_table(arena.home, "expert_ratings", frame)
    head_to_head = read_model(arena.home, "pair_win_matrix").select("model", "opponent", "win_rate")
    best_first = bt.sort("rating", descending=True)["expert"].to_list()
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "leaderboard": markdown_table(bt.drop("method")),
            "elo": markdown_table(elo.drop("method")),
            "battles_rated": len(ordered_battles),
            "bootstrap_rounds_computed": rounds.computed,
            "bootstrap_rounds_resumed": rounds.hits,
            "rating_intervals": png_image(rating_intervals_figure(bt)),
            "win_rate_matrix": png_image(win_rate_heatmap_figure(head_to_head, best_first)),
        }
    )


@dg.asset_check(asset="expert_ratings", description="Every CI brackets its rating.")
def ratings_inside_intervals(arena: ArenaResource) -> dg.AssetCheckResult:
    frame = arena.lake_table_or_none("expert_ratings")
    if frame is None or frame.is_empty():
        return dg.AssetCheckResult(passed=False, metadata={"reason": "no ratings"})
    bad = frame.filter(
        (pl.col("ci_lower") > pl.col("rating") + 1e-6)
        | (pl.col("ci_upper") < pl.col("rating") - 1e-6)
    )
    return dg.AssetCheckResult(passed=bad.is_empty(), metadata={"ratings_outside_ci": len(bad)})
