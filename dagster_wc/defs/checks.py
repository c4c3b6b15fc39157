"""Asset checks on the Python-written tables (dbt data tests become checks by themselves)."""

import dagster as dg
import polars as pl

from dagster_wc.resources import ArenaResource
from warriorcoder.storage import StorageError, read_lake_table


def _lake(arena: ArenaResource, table: str) -> pl.DataFrame | None:
    try:
        return read_lake_table(arena.home, table)
    except StorageError:
        return None


@dg.asset_check(
    asset="judgments",
    blocking=True,
    description="Both presentation orders judged for every vote pair.",
)
def judgments_have_both_orders(arena: ArenaResource) -> dg.AssetCheckResult:
    frame = _lake(arena, "judgments")
    if frame is None or frame.is_empty() or not arena.arena_config.judging.both_orders:
        return dg.AssetCheckResult(
            passed=True, metadata={"votes": 0 if frame is None else len(frame)}
        )
    orders = frame.group_by("instruction_id", "model_a", "model_b", "judge").agg(
        pl.col("order").n_unique().alias("n")
    )
    missing = orders.filter(pl.col("n") != 2)
    return dg.AssetCheckResult(
        passed=missing.is_empty(), metadata={"pairs_missing_an_order": len(missing)}
    )


@dg.asset_check(asset="judgments", description="No judge voted on a battle it takes part in.")
def judges_are_uninvolved(arena: ArenaResource) -> dg.AssetCheckResult:
    frame = _lake(arena, "judgments")
    if frame is None or frame.is_empty():
        return dg.AssetCheckResult(passed=True)
    involved = frame.filter(
        (pl.col("judge") == pl.col("model_a")) | (pl.col("judge") == pl.col("model_b"))
    )
    return dg.AssetCheckResult(
        passed=involved.is_empty(), metadata={"self_judged_votes": len(involved)}
    )


@dg.asset_check(asset="expert_ratings", description="Every CI brackets its rating.")
def ratings_inside_intervals(arena: ArenaResource) -> dg.AssetCheckResult:
    frame = _lake(arena, "expert_ratings")
    if frame is None or frame.is_empty():
        return dg.AssetCheckResult(passed=False, metadata={"reason": "no ratings"})
    bad = frame.filter(
        (pl.col("ci_lower") > pl.col("rating") + 1e-6)
        | (pl.col("ci_upper") < pl.col("rating") - 1e-6)
    )
    return dg.AssetCheckResult(passed=bad.is_empty(), metadata={"ratings_outside_ci": len(bad)})


@dg.asset_check(
    asset="sft_dataset", blocking=True, description="Exported SFT rows are non-empty chat pairs."
)
def sft_dataset_is_well_formed(arena: ArenaResource) -> dg.AssetCheckResult:
    path = arena.home.sft / "sft_dataset.parquet"
    if not path.exists():
        return dg.AssetCheckResult(passed=False, metadata={"reason": f"{path} missing"})
    frame = pl.read_parquet(path)
    contaminated = _lake(arena, "sft_decontamination")
    leaked = 0
    if contaminated is not None and len(contaminated) and len(frame):
        leaked = frame.filter(
            pl.col("instruction_id").is_in(contaminated["instruction_id"].implode())
        ).height
    empty = frame.filter(pl.col("messages").list.len() < 2).height if len(frame) else 0
    return dg.AssetCheckResult(
        passed=leaked == 0 and empty == 0 and len(frame) > 0,
        metadata={"rows": len(frame), "contaminated_rows": leaked, "malformed_rows": empty},
    )


asset_checks = [
    judgments_have_both_orders,
    judges_are_uninvolved,
    ratings_inside_intervals,
    sft_dataset_is_well_formed,
]
