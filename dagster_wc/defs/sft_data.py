"""Stages 9-10: each instruction's winning response, decontaminated and exported as SFT data."""

from pathlib import Path

import dagster as dg
import polars as pl

from dagster_wc.metadata import markdown_table, value_counts
from dagster_wc.resources import ArenaResource
from gpu_ops.arena.ratings import ratings_from_leaderboard
from gpu_ops.sft_data.decontamination import (
    decontaminate,
    drop_benchmark_tasks,
    load_benchmark_jsonl,
    load_humaneval_prompts,
)
from gpu_ops.sft_data.preferences import (
    decided_pairs,
    export_preferences,
    margin_histogram,
    with_texts,
)
from gpu_ops.sft_data.row_quality import filter_flagged
from gpu_ops.sft_data.sft_export import export_sft_dataset
from gpu_ops.sft_data.winners import select_winners, with_earlier_winners
from gpu_ops.worlds import find_world
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import read_lake_table, write_lake_table
from wc_foundation.warehouse import read_model

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = (
    "name",
    "experts",
    "scoring",
    "selection",
    "responses",
    "judging",
    "ratings",
    "winners",
    "decontamination",
    "export",
    "preference",
)


@dg.asset(
    kinds={"python", "parquet"},
    deps=["winner_inputs", "battle_instructions", "expert_ratings"],
)
def sft_winners(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """e_i(A) = sum_B alpha * P_global(A>B) + (1 - alpha) * x_i(A>B); the top response wins."""
    config = arena.arena_config
    ratings = ratings_from_leaderboard(
        read_lake_table(arena.home, "expert_ratings"), config.ratings.winner_method()
    )
    battles = read_model(arena.home, "winner_inputs")
    winners = select_winners(
        battles,
        ratings,
        alpha=config.winners.alpha,
        scale=config.ratings.scale,
        base=config.ratings.base,
    )
    texts = read_model(arena.home, "battle_instructions").select(
        "instruction_id", "instruction", "miner"
    )
    answers = read_lake_table(arena.home, "responses").select(
        "instruction_id", pl.col("expert").alias("winner"), "response"
    )
    frame = (
        winners.join(texts, on="instruction_id")
        .join(answers, on=["instruction_id", "winner"])
        .with_columns(rating_method=pl.lit(config.ratings.winner_method()))
        .sort("instruction_id")
    )
    path = write_lake_table(arena.home, "sft_winners", frame)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "rows": len(frame),
            "wins_per_expert": value_counts(frame, "winner"),
            "sample": markdown_table(
                frame.select("instruction_id", "winner", "winner_score", "runner_up"), max_rows=10
            ),
        }
    )


def benchmark_texts(arena: ArenaResource) -> pl.DataFrame:
    """Every benchmark the SFT data must not overlap: HumanEval plus user-supplied JSONL files."""
    settings = arena.arena_config.decontamination
    frames = [load_humaneval_prompts()] if "humaneval" in settings.benchmarks else []
    frames += [load_benchmark_jsonl(path) for path in settings.extra_jsonl]
    return pl.concat(frames) if frames else pl.DataFrame(schema=load_humaneval_prompts().schema)


def decontaminated(
    arena: ArenaResource, rows: pl.DataFrame, *, fields: tuple[str, ...]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows with no benchmark overlap in `fields` nor a benchmark task, the report)."""
    settings = arena.arena_config.decontamination
    kept, report = decontaminate(rows, benchmark_texts(arena), n=settings.ngram, fields=fields)
    for name in settings.benchmarks:
        if (world := find_world(name)) is not None:  # its tasks, however worded
            kept, by_task = drop_benchmark_tasks(kept, name, world.benchmark_task_id)
            report = pl.concat([report, by_task])
    return kept, report


def card_info(config: ArenaConfig, *, winners: int, dropped: int, quality: dict) -> dict:
    """What the dataset card says about this run: license, decontamination, row quality, settings."""
    return {
        "license": config.export.license,
        "experts": [e.slug for e in config.experts if e.enabled],
        "judges": [m.slug for m in config.judge_models()]
        + (["execution"] if config.judging.execution.enabled else []),
        "decontamination": {
            "benchmarks": [*config.decontamination.benchmarks, *config.decontamination.extra_jsonl],
            "ngram_size": config.decontamination.ngram,
            "winners checked": winners,
            "rows dropped (benchmark overlap)": dropped,
        },
        "row_quality": quality,
        "settings": {
            "arena": config.name,
            "alpha": config.winners.alpha,
            "rating_method": config.ratings.winner_method(),
            "pairing": config.responses.pairing,
            "judging": f"{config.judging.mode}, both orders: {config.judging.both_orders}",
            "min_score": config.scoring.min_score,
            "selection_k": config.selection.k,
        },
    }


def earlier_winners(paths: tuple[str, ...]) -> list[pl.DataFrame]:
    """The earlier rounds' winner files a flywheel round names (`export.earlier_winners`)."""
    missing = [path for path in paths if not Path(path).is_file()]
    if missing:
        raise dg.Failure(
            f"export.earlier_winners: {missing} not found; `warriorcoder flywheel` writes them "
            "under $WC_HOME/flywheel/round-N/ (start the flywheel over if they were deleted)"
        )
    return [pl.read_parquet(path) for path in paths]


@dg.asset(kinds={"python", "parquet", "json"}, deps=[sft_winners])
def sft_dataset(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """Winners minus benchmark overlaps, as chat `messages` JSONL + Parquet with a dataset card."""
    config = arena.arena_config
    this_run = read_lake_table(arena.home, "sft_winners")
    winners = with_earlier_winners(this_run, earlier_winners(config.export.earlier_winners))
    kept, report = decontaminated(arena, winners, fields=("instruction", "response"))
    write_lake_table(arena.home, "sft_decontamination", report)
    dropped = int(report["instruction_id"].n_unique()) if len(report) else 0
    kept, quality = filter_flagged(kept, drop=config.export.drop_flagged_rows)
    card = card_info(config, winners=len(winners), dropped=dropped, quality=quality)
    paths = export_sft_dataset(kept, arena.home.sft, card_info=card)
    return dg.MaterializeResult(
        metadata={
            "rows": len(kept),
            "rows_from_earlier_rounds": len(winners) - len(this_run),
            "dropped_contaminated": dropped,
            "row_quality": quality,
            "files": {name: str(path) for name, path in paths.items()},
            "wins_per_expert": value_counts(kept, "winner") if len(kept) else {},
        }
    )


@dg.asset_check(
    asset="sft_dataset", blocking=True, description="Exported SFT rows are non-empty chat pairs."
)
def sft_dataset_is_well_formed(arena: ArenaResource) -> dg.AssetCheckResult:
    path = arena.home.sft / "sft_dataset.parquet"
    if not path.exists():
        return dg.AssetCheckResult(passed=False, metadata={"reason": f"{path} missing"})
    frame = pl.read_parquet(path)
    contaminated = arena.lake_table_or_none("sft_decontamination")
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


@dg.asset(kinds={"python", "parquet", "json"}, deps=["preference_inputs", "battle_instructions"])
def preference_pairs(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """Decided battles (both orders agree, margin >= preference.min_margin) as DPO pairs:
    chosen = the winner's response, rejected = the loser's; decontaminated like the SFT data."""
    config = arena.arena_config
    battles = read_model(arena.home, "preference_inputs")
    pairs = decided_pairs(battles, min_margin=config.preference.min_margin)
    texts = read_model(arena.home, "battle_instructions").select("instruction_id", "instruction")
    responses = read_lake_table(arena.home, "responses").select(
        "instruction_id", "expert", "response"
    )
    pairs = with_texts(pairs, texts, responses)
    kept, report = decontaminated(arena, pairs, fields=("instruction", "chosen", "rejected"))
    dropped = int(report["instruction_id"].n_unique()) if len(report) else 0
    path = write_lake_table(arena.home, "preference_pairs", kept)
    card = {
        "license": config.export.license,
        "min_margin": config.preference.min_margin,
        "battles": len(battles),
        "decontamination": {
            "benchmarks": [*config.decontamination.benchmarks, *config.decontamination.extra_jsonl],
            "ngram_size": config.decontamination.ngram,
            "pairs dropped (benchmark overlap)": int(len(pairs) - len(kept)),
        },
        "settings": {"arena": config.name, "judging": config.judging.mode},
    }
    files = export_preferences(kept, arena.home.sft, card_info=card)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "pair_count": len(kept),
            "battles": len(battles),
            "dropped_contaminated_instructions": dropped,
            "margin_histogram": margin_histogram(kept),
            "files": {name: str(file) for name, file in files.items()},
        }
    )
