"""What the sweeps' conditions draw from: one arena's exported instructions, every competitor's
answers, and winners recomputed from its votes and ratings with the product's own code
(`select_winners`, `leaderboard`), at another alpha or among a subset of the competitors."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from gpu_ops.arena.ratings import leaderboard, ratings_from_leaderboard
from gpu_ops.errors import InputError
from gpu_ops.evaluation.benchmarks import benchmark_recognizer
from gpu_ops.evaluation.conditions import best_expert, condition_rows
from gpu_ops.sft_data.winners import select_winners
from gpu_ops.training.sft import load_sft_rows
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import Home, read_lake_table
from wc_foundation.warehouse import read_model


@dataclass(frozen=True)
class ShareArena:
    """One share's finished arena: its home (lake and warehouse) and its config."""

    share: float
    home: Home
    config: ArenaConfig

    @property
    def benchmark(self) -> str:
        settings = self.config.evaluation
        return [*settings.benchmarks, *settings.extra_jsonl][0]


@dataclass(frozen=True)
class Pool:
    """What every condition of one arena draws from: the exported winners' instructions and
    every competitor's answers to them."""

    arena_rows: list[dict]
    responses: pl.DataFrame
    best: str  # the best single expert, by execution over these instructions
    strongest: str  # the globally strongest expert (the winner rating)

    @property
    def experts(self) -> list[str]:
        return sorted(self.responses["expert"].unique().to_list())


def load_pool(arena: ShareArena) -> Pool:
    rows = load_sft_rows(arena.home.sft / "sft_dataset.jsonl")
    ratings = global_ratings(arena)
    best = best_expert(
        read_lake_table(arena.home, "execution_results"), [r["instruction_id"] for r in rows]
    )
    responses = read_lake_table(arena.home, "responses").select(
        "instruction_id", "expert", "response"
    )
    return Pool(rows, responses, best, max(sorted(ratings), key=lambda slug: ratings[slug]))


def global_ratings(arena: ShareArena) -> dict[str, float]:
    method = arena.config.ratings.winner_method()
    return ratings_from_leaderboard(read_lake_table(arena.home, "expert_ratings"), method)


def conditions(
    arena: ShareArena, pool: Pool, seed: int, arena_rows: Sequence[dict] | None = None
) -> dict[str, list[dict]]:
    """`demo_effect`'s conditions at ``seed`` (every single expert included); ``arena_rows``
    replaces the exported winners (recomputed winners), filtered the same way."""
    found, _ = condition_rows(
        pool.arena_rows if arena_rows is None else arena_rows,
        pool.responses,
        seed=seed,
        is_benchmark_instruction=benchmark_recognizer(arena.benchmark),
    )
    return found


def with_winners(pool: Pool, winners: pl.DataFrame) -> list[dict]:
    """The exported rows with each instruction answered by ``winners``' pick instead."""
    answers = {
        (iid, expert): text or ""
        for iid, expert, text in pool.responses.select(
            "instruction_id", "expert", "response"
        ).iter_rows()
    }
    picks = dict(winners.select("instruction_id", "winner").iter_rows())
    rows = []
    for row in pool.arena_rows:
        iid = row["instruction_id"]
        if iid not in picks:
            raise InputError(f"no recomputed winner for exported instruction {iid}")
        user = next(m["content"] for m in row["messages"] if m["role"] == "user")
        rows.append(
            {
                "instruction_id": iid,
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answers[(iid, picks[iid])]},
                ],
            }
        )
    return rows


def alpha_winners(arena: ShareArena, alpha: float) -> pl.DataFrame:
    """The winners at ``alpha`` from the arena's own votes and ratings (the SFT stage's code)."""
    settings = arena.config.ratings
    return select_winners(
        read_model(arena.home, "winner_inputs"),
        global_ratings(arena),
        alpha=alpha,
        scale=settings.scale,
        base=settings.base,
    )


def subset_winners(arena: ShareArena, subset: Sequence[str]) -> pl.DataFrame:
    """The winners had only ``subset`` competed: the votes of their battles alone, ratings
    refitted with the ratings stage's settings, winners reselected at the config's alpha."""
    if len(subset) < 2:
        raise InputError(f"a subset arena needs two competitors, got {list(subset)}")
    inside = pl.col("model_a").is_in(list(subset)) & pl.col("model_b").is_in(list(subset))
    votes = (
        read_model(arena.home, "elo_battle_sequence", order_by=["battle_order"])
        .drop("battle_order")
        .filter(inside)
    )
    settings = arena.config.ratings
    method = settings.winner_method()
    table = leaderboard(
        votes,
        method="bt" if method == "bt" else "elo",
        bootstrap_rounds=settings.bootstrap_rounds,
        seed=settings.seed,
        k=settings.elo_k,
        scale=settings.scale,
        base=settings.base,
        initial=settings.initial_rating,
        unit=settings.bootstrap_unit,
    )
    return select_winners(
        read_model(arena.home, "winner_inputs").filter(inside),
        ratings_from_leaderboard(table, method),
        alpha=arena.config.winners.alpha,
        scale=settings.scale,
        base=settings.base,
    )


def subsets(experts: Sequence[str]) -> dict[int, list[tuple[str, ...]]]:
    """Every subset of the competitors, by size."""
    ordered = sorted(experts)
    return {n: list(itertools.combinations(ordered, n)) for n in range(1, len(ordered) + 1)}
