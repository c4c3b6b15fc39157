"""Winner selection per instruction: the paper's blend of global ratings and local votes.

For instruction i with competitors C_i, each response A scores

    e_i(A) = sum over B in C_i, B != A, of [alpha * P_global(A > B) + (1 - alpha) * x_i(A > B)]

where P_global comes from the ratings (Elo scale) and x_i(A > B) is the local score of the pair
on instruction i. The local score has one implementation, the `battles` mart (votes for A / votes
for A and B, tie votes left out, null without a decisive vote); this module reads it and only
takes x_i(A > B) = 0.5 where it is null or the pair was never judged: no local evidence.

Ties in e_i are broken deterministically: higher global rating first, then slug order (a < b).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from gpu_ops.arena.ratings import win_probability
from gpu_ops.errors import InputError
from gpu_ops.frames import as_polars, require_columns

WINNER_COLUMNS = (
    "instruction_id",
    "winner",
    "winner_score",
    "runner_up",
    "runner_up_score",
    "global_component",
    "local_component",
    "votes_for",
    "votes_against",
    "alpha",
)
_SCORE_DECIMALS = 9  # scores equal to this many decimals count as tied (float sum order noise)


def _directed_scores(battles: pl.DataFrame) -> pl.DataFrame:
    """One row per (instruction, A, B) in both directions: x(A > B) and A's decisive votes."""
    forward = battles.select(
        "instruction_id",
        pl.col("model_a").alias("expert"),
        pl.col("model_b").alias("opponent"),
        pl.col("local_score_a").alias("x_local"),
        pl.col("votes_a").alias("votes_for"),
        pl.col("votes_b").alias("votes_against"),
    )
    backward = battles.select(
        "instruction_id",
        pl.col("model_b").alias("expert"),
        pl.col("model_a").alias("opponent"),
        (1.0 - pl.col("local_score_a")).alias("x_local"),
        pl.col("votes_b").alias("votes_for"),
        pl.col("votes_a").alias("votes_against"),
    )
    return pl.concat([forward, backward])


def _competitor_frame(
    battles: pl.DataFrame, competitors: Mapping[str, Sequence[str]] | None
) -> pl.DataFrame:
    if competitors is None:
        return (
            pl.concat(
                [
                    battles.select("instruction_id", pl.col("model_a").alias("expert")),
                    battles.select("instruction_id", pl.col("model_b").alias("expert")),
                ]
            )
            .unique()
            .sort("instruction_id", "expert")
        )
    rows = [
        (str(instruction), str(expert))
        for instruction, experts in competitors.items()
        for expert in dict.fromkeys(experts)
    ]
    return pl.DataFrame(
        rows, schema={"instruction_id": pl.String, "expert": pl.String}, orient="row"
    )


def select_winners(
    battles: Any,
    ratings: Mapping[str, float],
    competitors: Mapping[str, Sequence[str]] | None = None,
    *,
    alpha: float = 0.7,
    scale: float = 400,
    base: float = 10,
) -> pl.DataFrame:
    """Pick each instruction's winning response (one row per instruction).

    battles: the `battles` mart's instruction_id, model_a, model_b, local_score_a (x(A > B),
    null without a decisive vote), votes_a, votes_b; one row per instruction and pair (either
    orientation).
    ratings: {expert: global rating} (e.g. the BT leaderboard).
    competitors: {instruction_id: experts that answered it}; default: the experts appearing in
    that instruction's battles. A competitor pair with no battle row gets x = 0.5.
    Output columns: instruction_id, winner, winner_score, runner_up, runner_up_score,
    global_component (alpha * sum P), local_component ((1 - alpha) * sum x), whose sum is
    winner_score, votes_for / votes_against (the winner's decisive votes on the instruction),
    alpha. runner_up is null when an instruction has a single competitor.
    The caller joins the text columns (instruction, miner, response) and rating_method.
    """
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    frame = as_polars(battles, "battles")
    require_columns(
        frame,
        ("instruction_id", "model_a", "model_b", "local_score_a", "votes_a", "votes_b"),
        "battles",
    )
    frame = frame.select(
        pl.col("instruction_id").cast(pl.String),
        pl.col("model_a").cast(pl.String),
        pl.col("model_b").cast(pl.String),
        pl.col("local_score_a").cast(pl.Float64),
        pl.col("votes_a").cast(pl.Float64),
        pl.col("votes_b").cast(pl.Float64),
    )
    if frame.select(pl.any_horizontal(pl.all().exclude("local_score_a").is_null()).any()).item():
        raise InputError("battles contain nulls (only local_score_a may be null)")
    if frame.filter(
        ~pl.col("local_score_a").is_between(0.0, 1.0) & pl.col("local_score_a").is_not_null()
    ).height:
        raise InputError("local_score_a must be in [0, 1]")
    pair = [
        "instruction_id",
        pl.min_horizontal("model_a", "model_b").alias("low"),
        pl.max_horizontal("model_a", "model_b").alias("high"),
    ]
    if frame.select(pair).is_duplicated().any():
        raise InputError("battles hold a pair twice for one instruction (one row per pair)")
    if frame.filter((pl.col("votes_a") < 0) | (pl.col("votes_b") < 0)).height:
        raise InputError("battle votes must be non-negative")
    if frame.filter(pl.col("model_a") == pl.col("model_b")).height:
        raise InputError("battles contain a model playing itself")

    players = _competitor_frame(frame, competitors)
    missing = sorted(set(players["expert"].to_list()) - set(ratings))
    if missing:
        raise InputError(f"no global rating for competitor(s) {missing}")
    rating_frame = pl.DataFrame(
        {"expert": list(ratings), "rating": [float(r) for r in ratings.values()]},
        schema={"expert": pl.String, "rating": pl.Float64},
    )
    players = players.join(rating_frame, on="expert", how="left")
    opponents = players.select(
        "instruction_id",
        pl.col("expert").alias("opponent"),
        pl.col("rating").alias("opponent_rating"),
    )
    pairs = (
        players.join(opponents, on="instruction_id")
        .filter(pl.col("expert") != pl.col("opponent"))
        .join(_directed_scores(frame), on=["instruction_id", "expert", "opponent"], how="left")
        .with_columns(pl.col("votes_for", "votes_against").fill_null(0.0))
        .with_columns(x_local=pl.col("x_local").fill_null(0.5))
    )
    p_global = win_probability(
        pairs["rating"].to_numpy(), pairs["opponent_rating"].to_numpy(), scale, base
    )
    pairs = pairs.with_columns(p_global=pl.Series(p_global, dtype=pl.Float64))
    scored = (
        players.join(
            pairs.group_by("instruction_id", "expert").agg(
                global_component=alpha * pl.col("p_global").sum(),
                local_component=(1.0 - alpha) * pl.col("x_local").sum(),
                votes_for=pl.col("votes_for").sum(),
                votes_against=pl.col("votes_against").sum(),
            ),
            on=["instruction_id", "expert"],
            how="left",
        )
        .with_columns(pl.col("global_component", "local_component").fill_null(0.0))
        .with_columns(pl.col("votes_for", "votes_against").fill_null(0.0))
        .with_columns(score=pl.col("global_component") + pl.col("local_component"))
        .sort(
            ["instruction_id", pl.col("score").round(_SCORE_DECIMALS), "rating", "expert"],
            descending=[False, True, True, False],
        )
        .with_columns(place=pl.int_range(pl.len()).over("instruction_id"))
    )
    best = scored.filter(pl.col("place") == 0)
    second = scored.filter(pl.col("place") == 1).select(
        "instruction_id",
        pl.col("expert").alias("runner_up"),
        pl.col("score").alias("runner_up_score"),
    )
    return (
        best.join(second, on="instruction_id", how="left")
        .select(
            "instruction_id",
            pl.col("expert").alias("winner"),
            pl.col("score").alias("winner_score"),
            "runner_up",
            "runner_up_score",
            "global_component",
            "local_component",
            "votes_for",
            "votes_against",
            pl.lit(float(alpha)).alias("alpha"),
        )
        .sort("instruction_id")
    )


EARLIER_WINNER_COLUMNS = ("instruction_id", "instruction", "response", "winner", "miner")


def with_earlier_winners(current: Any, earlier: Sequence[Any]) -> pl.DataFrame:
    """This run's winners plus earlier rounds' (oldest first) on instructions this run did not
    decide: a flywheel round trains on the union of every round's winners, one row per
    instruction, the latest decision kept (a later round may have a better answer to it)."""
    frame = as_polars(current, "winners")
    frames = [frame]
    for index, rows in enumerate(reversed(list(earlier))):
        rows = as_polars(rows, "earlier winners")
        require_columns(rows, EARLIER_WINNER_COLUMNS, f"earlier winners #{len(earlier) - index}")
        frames.append(rows.select([c for c in frame.columns if c in rows.columns]))
    if len(frames) == 1:
        return frame
    return (
        pl.concat(frames, how="diagonal_relaxed")
        .unique(subset="instruction_id", keep="first", maintain_order=True)
        .sort("instruction_id")
    )
