"""Stage 8: global ratings — Bradley-Terry with bootstrap CIs and the paper's online Elo."""

import dagster as dg
import numpy as np
import polars as pl

from dagster_wc.metadata import markdown_table, png_image
from dagster_wc.resources import ArenaResource
from gpu_ops.ratings import leaderboard
from warriorcoder.storage import write_lake_table
from warriorcoder.warehouse import query

# The documented, fixed battle order for online Elo: instruction selection order, then pair, judge, order.
ELO_BATTLES_SQL = """
select v.model_a, v.model_b, v.winner
from battle_votes v
join instructions_for_battle i using (instruction_id)
where v.winner in ('model_a', 'model_b', 'tie') and v.weight > 0
order by i.selection_rank, v.model_a, v.model_b, v.judge, v.presentation_order
"""


@dg.asset(
    group_name="ratings",
    kinds={"python", "parquet"},
    deps=["rating_pair_counts", "battle_votes"],
)
def expert_ratings(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """BT (maximum likelihood on pair counts) and online Elo (K=40), both with bootstrap CIs."""
    settings = arena.arena.ratings
    counts = query(
        arena.home, "select model_a, model_b, wins_a, wins_b, ties from rating_pair_counts"
    )
    ordered_battles = query(arena.home, ELO_BATTLES_SQL)
    common = {
        "bootstrap_rounds": settings.bootstrap_rounds,
        "seed": settings.seed,
        "scale": settings.scale,
        "base": settings.base,
        "initial": settings.initial_rating,
    }
    bt = leaderboard(counts, method="bt", **common)
    elo = leaderboard(ordered_battles, method="elo", k=settings.elo_k, **common)
    frame = pl.concat([bt, elo])
    path = write_lake_table(arena.home, "expert_ratings", frame)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "leaderboard": markdown_table(bt.drop("method")),
            "elo": markdown_table(elo.drop("method")),
            "battles_rated": len(ordered_battles),
            "rating_intervals": ci_plot(bt),
        }
    )


def ci_plot(table: pl.DataFrame) -> dg.MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table.sort("rating")
    figure, axis = plt.subplots(figsize=(5, 0.5 + 0.4 * len(rows)))
    y = np.arange(len(rows))
    rating = rows["rating"].to_numpy()
    lower = rating - rows["ci_lower"].to_numpy()
    upper = rows["ci_upper"].to_numpy() - rating
    axis.errorbar(rating, y, xerr=[lower, upper], fmt="o", capsize=4)
    axis.set_yticks(y, rows["expert"].to_list())
    axis.set_xlabel("Bradley-Terry rating (Elo scale), 95% bootstrap CI")
    return png_image(figure)
