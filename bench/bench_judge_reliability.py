"""Judges weighted by their reliability (`judging.aggregate`), in a planted arena (issue 26).

A planted arena (no model runs): 5 experts of planted strength answer every instruction (a
response's quality is its expert's strength plus noise, its length is drawn apart from its
quality), and every uninvolved expert judges every battle in both presentation orders, so each
battle has 3 LLM judges. Four judges are honest with planted accuracies 0.9, 0.8, 0.7 and 0.6
(each order: a tie with probability 0.05, otherwise the better response with probability p,
drawn independently per order); the fifth is adversarial: it always picks the response shown
first (`first`), or always the longer one (`longer`).

For both aggregations it measures what the pipeline computes from the same votes: the judges'
weights (gpu_ops.arena.judge_reliability, from the judges' agreement alone; no execution judge,
no truth), the battles mart's local scores (weighted votes, as battle_votes/battles), BT ratings
on the weighted votes and winners (gpu_ops.sft_data.winners.select_winners at winners.alpha 0.7,
the default, and 0, local votes only); the winner is right when it is the instruction's response
of planted highest quality. Each judge's planted accuracy is the share of its decisive verdicts
that name the truly better response (measured on the draw, so the adversaries' is near 0.5).

    python -m bench.bench_judge_reliability [--instructions 200] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl

from gpu_ops.arena.judge_reliability import judge_reliability
from gpu_ops.arena.ratings import fit_bradley_terry
from gpu_ops.arena.scheduling import llm_votes
from gpu_ops.sft_data.winners import select_winners

EXPERTS = ("e1", "e2", "e3", "e4", "e5")
STRENGTH = (0.6, 0.45, 0.3, 0.15, 0.0)
QUALITY_NOISE = 0.5
HONEST_ACCURACY = {"e1": 0.9, "e2": 0.8, "e3": 0.7, "e4": 0.6}
ADVERSARY = "e5"
TIE_RATE = 0.05
ADVERSARIES = ("first", "longer")
ALPHAS = (0.7, 0.0)


@dataclass(frozen=True)
class PlantedArena:
    """The votes of one planted arena and the truth behind them."""

    judgments: pl.DataFrame  # the judgments lake columns the estimator reads
    better: pl.DataFrame  # instruction_id, model_a, model_b, better ('model_a' or 'model_b')
    best: dict[str, str]  # instruction -> expert with the highest planted quality
    planted_accuracy: dict[str, float]  # judge -> share of its decisive verdicts that are right


def plant(adversary: str, instructions: int = 200, seed: int = 0) -> PlantedArena:
    """Draw an arena whose fifth judge is `adversary` ('first' or 'longer')."""
    if adversary not in ADVERSARIES:
        raise ValueError(f"adversary must be one of {ADVERSARIES}, got {adversary!r}")
    rng = np.random.default_rng(seed)
    quality = np.array(STRENGTH)[None, :] + rng.normal(0.0, QUALITY_NOISE, (instructions, 5))
    length = rng.lognormal(6.0, 0.5, (instructions, 5))  # independent of quality
    rows, truth = [], []
    right = dict.fromkeys(EXPERTS, 0)
    decisive = dict.fromkeys(EXPERTS, 0)
    for i in range(instructions):
        iid = f"i{i:04d}"
        for a, b in itertools.combinations(range(5), 2):
            a_better = quality[i, a] > quality[i, b]
            truth.append((iid, EXPERTS[a], EXPERTS[b], "model_a" if a_better else "model_b"))
            for judge in EXPERTS:
                if judge in (EXPERTS[a], EXPERTS[b]):
                    continue
                for order in ("ab", "ba"):
                    first, second = (a, b) if order == "ab" else (b, a)
                    if judge == ADVERSARY and adversary == "first":
                        picked = first
                    elif judge == ADVERSARY:
                        picked = first if length[i, first] >= length[i, second] else second
                    elif rng.random() < TIE_RATE:
                        picked = None
                    else:
                        correct = rng.random() < HONEST_ACCURACY[judge]
                        better, worse = (a, b) if a_better else (b, a)
                        picked = better if correct else worse
                    if picked is not None:
                        decisive[judge] += 1
                        right[judge] += (picked == a) == a_better
                    verdict = "tie" if picked is None else "first" if picked == first else "second"
                    rows.append(
                        (iid, judge, EXPERTS[a], EXPERTS[b], EXPERTS[first], order, verdict)
                    )
    judgments = pl.DataFrame(
        rows,
        schema=["instruction_id", "judge", "model_a", "model_b", "shown_first", "order", "verdict"],
        orient="row",
    )
    better = pl.DataFrame(
        truth, schema=["instruction_id", "model_a", "model_b", "better"], orient="row"
    )
    best = {f"i{i:04d}": EXPERTS[int(np.argmax(quality[i]))] for i in range(instructions)}
    planted = {j: right[j] / decisive[j] for j in EXPERTS}
    return PlantedArena(judgments, better, best, planted)


def weighted_votes(judgments: pl.DataFrame, weights: dict[str, float]) -> pl.DataFrame:
    """The LLM votes as battle_votes holds them (`scheduling.llm_votes`), weighted per judge."""
    shown_second = (
        pl.when(pl.col("shown_first") == pl.col("model_a"))
        .then(pl.col("model_b"))
        .otherwise(pl.col("model_a"))
    )
    return llm_votes(judgments.with_columns(shown_second.alias("shown_second"))).with_columns(
        pl.col("judge").replace_strict(weights, return_dtype=pl.Float64).alias("weight")
    )


def battles_mart(votes: pl.DataFrame) -> pl.DataFrame:
    """The battles mart's local score: weighted votes for A over weighted decisive votes."""
    return (
        votes.group_by("instruction_id", "model_a", "model_b")
        .agg(
            pl.col("weight").filter(pl.col("winner") == "model_a").sum().alias("votes_a"),
            pl.col("weight").filter(pl.col("winner") == "model_b").sum().alias("votes_b"),
        )
        .with_columns(
            (pl.col("votes_a") / (pl.col("votes_a") + pl.col("votes_b")))
            .fill_nan(None)
            .alias("local_score_a")
        )
    )


def measure(arena: PlantedArena, aggregate: str) -> dict:
    """Judges' weights and accuracies, local-vote and winner accuracy under one aggregation."""
    table = judge_reliability(arena.judgments, aggregate)
    weights = dict(zip(table["judge"], table["weight"], strict=True))
    votes = weighted_votes(arena.judgments, weights)
    battles = battles_mart(votes)
    local = battles.join(arena.better, on=["instruction_id", "model_a", "model_b"])
    decided = local.filter(pl.col("local_score_a") != 0.5)
    local_right = decided.select(
        ((pl.col("local_score_a") > 0.5) == (pl.col("better") == "model_a")).mean()
    ).item()
    ratings = fit_bradley_terry(votes.filter(pl.col("weight") > 0))
    winners = {}
    for alpha in ALPHAS:
        chosen = select_winners(battles, ratings, alpha=alpha)
        hits = [arena.best[i] == w for i, w in chosen.select("instruction_id", "winner").rows()]
        winners[alpha] = float(np.mean(hits))
    return {
        "aggregate": aggregate,
        "weights": weights,
        "accuracy": dict(zip(table["judge"], table["accuracy"], strict=True)),
        "local_right": float(local_right),
        "winners_right": winners,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    print(
        "| adversary | seed | aggregate | winners right (alpha 0.7) | winners right (alpha 0) "
        "| battles right | weights e1..e5 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    summary: dict[tuple[str, str], list[dict]] = {}
    for adversary in ADVERSARIES:
        for seed in args.seeds:
            arena = plant(adversary, args.instructions, seed)
            for aggregate in ("vote", "reliability"):
                m = measure(arena, aggregate)
                summary.setdefault((adversary, aggregate), []).append({**m, "arena": arena})
                weights = " / ".join(f"{m['weights'][j]:.2f}" for j in EXPERTS)
                print(
                    f"| {adversary} | {seed} | {aggregate} | {m['winners_right'][0.7]:.3f} "
                    f"| {m['winners_right'][0.0]:.3f} | {m['local_right']:.3f} | {weights} |"
                )
    print("\nMean over seeds:")
    print(
        "| adversary | aggregate | winners right (alpha 0.7) | winners right (alpha 0) | battles right |"
    )
    print("| --- | --- | --- | --- | --- |")
    for (adversary, aggregate), runs in summary.items():
        w7 = np.mean([r["winners_right"][0.7] for r in runs])
        w0 = np.mean([r["winners_right"][0.0] for r in runs])
        lr = np.mean([r["local_right"] for r in runs])
        print(f"| {adversary} | {aggregate} | {w7:.3f} | {w0:.3f} | {lr:.3f} |")
    print("\nJudges, estimated vs planted accuracy (mean over seeds), and reliability weight:")
    print("| adversary | judge | planted accuracy | estimated accuracy | weight |")
    print("| --- | --- | --- | --- | --- |")
    for adversary in ADVERSARIES:
        runs = summary[(adversary, "reliability")]
        for judge in EXPERTS:
            planted = np.mean([r["arena"].planted_accuracy[judge] for r in runs])
            estimated = np.mean([r["accuracy"][judge] for r in runs])
            weight = np.mean([r["weights"][judge] for r in runs])
            role = f"{judge} (always {adversary})" if judge == ADVERSARY else judge
            print(f"| {adversary} | {role} | {planted:.3f} | {estimated:.3f} | {weight:.3f} |")


if __name__ == "__main__":
    main()
