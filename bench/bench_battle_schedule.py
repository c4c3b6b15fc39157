"""Battle schedules in a simulated arena: LLM judge calls against the winners and ratings they give.

A planted arena (no model runs): experts whose strength depends on the task family (each is best
at one family), instructions drawn from the families, responses whose quality is the expert's
strength there plus noise, LLM judges (every uninvolved expert, as the paper) with their own
noise, their own opinion per battle (shared by both presentation orders) and a first-position
bias, and the execution judge (a response passes each of 5 tests with probability
sigmoid(quality)). Every judge's verdict on every battle and order is drawn once, so a schedule
only chooses which of them it asks for, as the call cache would answer.

For `full` (the paper) and `adaptive` (gpu_ops.arena.scheduling, judges run in config order, each
battle's LLM votes weighed by judges_full / judges asked as the battle_votes mart weighs them; the
`unweighted_*` figures are the same votes at weight 1), at 5, 10 and 20 experts and
winners.alpha 0.7 and 0.3, it measures: LLM judge calls; the share of instructions whose
winner (gpu_ops.sft_data.winners.select_winners on BT ratings, as the pipeline) equals full's,
and the share whose winner differs although every judge voted on both winners' battles (the
ratings alone decided it: `differ_fully_judged`); the max error of the BT ratings against the
planted ones (the BT fit on the expected votes of the full schedule over 3,000 fresh instructions, i.e. where an arena of
infinitely many instructions converges); the share of experts whose 95% bootstrap interval
(instructions resampled, 100 rounds) covers the planted rating; and, for context, how often the
winner is the response of truly highest quality, and how far the adaptive ratings drift from
full's (`rating_drift_rms`, `rating_drift_max`). At 10 experts it also runs three more planted
arenas and two other bounds z.

`--scan` measures only the target's two figures (calls fewer, winners equal to full's) at one
size over planted arenas and bounds, with each measure's CPU seconds, as a table: how they move
with the arena's size in instructions (docs/BENCHMARKS.md, round 4). The default 200
instructions is far below a real arena; measured from 200 to 2000: the calls saved do not depend
on the size, the winners at alpha 0.7 (decided partly by the adaptive ratings' drift from
full's) agree more with full's from 500 on, and the drift shrinks more slowly than
1/sqrt(instructions).

    python -m bench.bench_battle_schedule [--quick] [--instructions N] [--rounds R]
    python -m bench.bench_battle_schedule --scan --instructions 1000 --rounds 0 \
        [--experts 10] [--seeds 10,110,120,130] [--z 2,1.75] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit

from gpu_ops.arena.ratings import fit_bradley_terry
from gpu_ops.arena.scheduling import VOTE_COLUMNS, RaceSettings, plan_judge
from gpu_ops.sft_data.winners import select_winners

FAMILIES = 4
TESTS = 5
EXEC_WEIGHT = 1.0  # judging.execution.weight default
OPINION_SD = 0.5  # a judge's opinion of a battle, in logits, shared by both orders
TIE_MARGIN = 0.5  # a judge says Tie when its logit is within this of zero (about 1 vote in 4)
WINNER_CODES = ("model_a", "model_b", "tie")
SIZES = (5, 10, 20)
ALPHAS = (0.7, 0.3)
INSTRUCTIONS = 200
BOOTSTRAP_ROUNDS = 100
POPULATION = 3000
OTHER_SEEDS = (110, 120, 130)  # more planted arenas at 10 experts
OTHER_Z = (1.5, 3.0)  # the bound's trade-off at 10 experts


@dataclass(frozen=True)
class Arena:
    """A planted arena: strengths per expert and family, judge noise and position bias."""

    experts: list[str]
    strength: np.ndarray  # (experts, families)
    judge_noise: np.ndarray  # temperature of each expert's verdicts (as a judge)
    judge_bias: np.ndarray  # logit bonus of the first-shown response


JUDGE_NOISES = ("planted", "alike")


def plant(n_experts: int, seed: int, judge_noise: str = "planted") -> Arena:
    """A planted arena; `judge_noise="alike"` gives every judge the arena's mean noise (the
    same arena otherwise), to tell what the judges' differing sharpness costs (round 9)."""
    if judge_noise not in JUDGE_NOISES:
        raise ValueError(f"judge noise is one of {', '.join(JUDGE_NOISES)}, got {judge_noise!r}")
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 0.4, n_experts)
    specialty = rng.permutation(np.arange(n_experts) % FAMILIES)
    strength = base[:, None] + 1.2 * (specialty[:, None] == np.arange(FAMILIES)[None, :])
    noise = rng.uniform(0.6, 1.6, n_experts)
    return Arena(
        experts=[f"e{k:02d}" for k in range(n_experts)],
        strength=strength,
        judge_noise=np.full(n_experts, noise.mean()) if judge_noise == "alike" else noise,
        judge_bias=rng.uniform(0.0, 0.6, n_experts),
    )


@dataclass(frozen=True)
class Draw:
    """Instructions with every verdict of every judge in both orders, and the execution scores."""

    ids: list[str]
    quality: np.ndarray  # (instructions, experts)
    pairs: list[tuple[int, int]]
    verdicts: np.ndarray  # (instructions, pairs, judges, 2 orders): 0 model_a, 1 model_b, 2 tie
    exec_score: np.ndarray  # (instructions, experts)
    opinion: np.ndarray  # (instructions, pairs, judges): each judge's opinion of each battle


def first_logit(
    arena: Arena, quality: np.ndarray, pairs: list[tuple[int, int]], opinion: np.ndarray
) -> np.ndarray:
    """(instructions, pairs, judges, orders): the judge's logit that the first-shown one wins,
    given its opinion of each battle (shared by both orders; zeros for none)."""
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    gap = (quality[:, a] - quality[:, b])[:, :, None]  # a better: positive
    d = gap / arena.judge_noise[None, None, :] + opinion
    bias = arena.judge_bias[None, None, :]
    return np.stack([d + bias, -d + bias], axis=-1)  # order ab (a first), order ba (b first)


def _opinions(n: int, arena: Arena, rng) -> np.ndarray:
    pairs = len(arena.experts) * (len(arena.experts) - 1) // 2
    return rng.normal(0.0, OPINION_SD, (n, pairs, len(arena.experts)))


def draw(arena: Arena, n: int, seed: int, prefix: str = "i") -> Draw:
    rng = np.random.default_rng(seed)
    family = rng.integers(0, FAMILIES, n)
    quality = arena.strength[:, family].T + rng.normal(0.0, 0.6, (n, len(arena.experts)))
    pairs = list(itertools.combinations(range(len(arena.experts)), 2))
    opinion = _opinions(n, arena, rng)
    logit = first_logit(arena, quality, pairs, opinion)
    noise = rng.logistic(size=logit.shape)
    first_wins = logit + noise > TIE_MARGIN
    second_wins = logit + noise < -TIE_MARGIN
    order = np.array([0, 1])[None, None, None, :]  # 0: a shown first
    a_wins = np.where(order == 0, first_wins, second_wins)
    b_wins = np.where(order == 0, second_wins, first_wins)
    verdicts = np.where(a_wins, 0, np.where(b_wins, 1, 2)).astype(np.int8)
    exec_score = rng.binomial(TESTS, expit(quality)) / TESTS
    ids = [f"{prefix}{k:05d}" for k in range(n)]
    return Draw(ids, quality, pairs, verdicts, exec_score, opinion)


# --- votes, the battles mart, winners and ratings --------------------------------------------------


def execution_frame(arena: Arena, d: Draw) -> pl.DataFrame:
    rows = []
    for i, iid in enumerate(d.ids):
        for a, b in d.pairs:
            sa, sb = d.exec_score[i, a], d.exec_score[i, b]
            winner = "model_a" if sa > sb else "model_b" if sa < sb else "tie"
            rows.append((iid, arena.experts[a], arena.experts[b], "execution", winner, EXEC_WEIGHT))
    return pl.DataFrame(rows, schema=VOTE_COLUMNS, orient="row")


def llm_frame(arena: Arena, d: Draw, asked: np.ndarray, orders: int = 2) -> pl.DataFrame:
    """The votes of the asked (instruction, pair, judge) cells, in `orders` orders."""
    i, p, j = np.nonzero(asked)
    pa = np.array([d.pairs[k][0] for k in p], dtype=np.int64)
    pb = np.array([d.pairs[k][1] for k in p], dtype=np.int64)
    ids = np.array(d.ids)
    names = np.array(arena.experts)
    frames = []
    for o in range(orders):
        frames.append(
            pl.DataFrame(
                {
                    "instruction_id": ids[i],
                    "model_a": names[pa],
                    "model_b": names[pb],
                    "judge": names[j],
                    "winner": np.array(WINNER_CODES)[d.verdicts[i, p, j, o]],
                    "weight": np.ones(len(i)),
                },
                schema=VOTE_COLUMNS,
            )
        )
    return pl.concat(frames)


def battles_mart(votes: pl.DataFrame) -> pl.DataFrame:
    """The `battles` mart's columns select_winners reads."""
    w = pl.col("weight")
    counted = votes.group_by("instruction_id", "model_a", "model_b").agg(
        votes_a=(w * (pl.col("winner") == "model_a")).sum(),
        votes_b=(w * (pl.col("winner") == "model_b")).sum(),
    )
    decisive = pl.col("votes_a") + pl.col("votes_b")
    return counted.with_columns(
        local_score_a=pl.when(decisive > 0).then(pl.col("votes_a") / decisive)
    )


def winners(votes: pl.DataFrame, ratings: dict[str, float], alpha: float) -> dict[str, str]:
    table = select_winners(battles_mart(votes), ratings, alpha=alpha)
    return dict(zip(table["instruction_id"], table["winner"], strict=True))


def _counts(votes: pl.DataFrame) -> pl.DataFrame:
    w = pl.col("weight")
    return votes.group_by("instruction_id", "model_a", "model_b").agg(
        wins_a=(w * (pl.col("winner") == "model_a")).sum(),
        wins_b=(w * (pl.col("winner") == "model_b")).sum(),
        ties=(w * (pl.col("winner") == "tie")).sum(),
    )


def ratings_with_ci(
    votes: pl.DataFrame, rounds: int, seed: int
) -> dict[str, tuple[float, float, float]]:
    """BT ratings and 95% percentile intervals, instructions resampled (the pipeline's default)."""
    counts = _counts(votes)
    pair_cols = ["model_a", "model_b"]
    fitted = fit_bradley_terry(
        counts.group_by(pair_cols).agg(pl.col("wins_a", "wins_b", "ties").sum())
    )
    ids = counts["instruction_id"].unique().sort()
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        picked = pl.DataFrame({"instruction_id": ids.gather(rng.integers(0, len(ids), len(ids)))})
        sample = (
            picked.join(counts, on="instruction_id")
            .group_by(pair_cols)
            .agg(pl.col("wins_a", "wins_b", "ties").sum())
        )
        draws.append(fit_bradley_terry(sample))
    out = {}
    for e, r in fitted.items():
        if not draws:  # rounds 0: the point fit only
            out[e] = (r, float("nan"), float("nan"))
            continue
        values = np.array([d.get(e, 1000.0) for d in draws])
        out[e] = (r, float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
    return out


def planted_ratings(arena: Arena, seed: int) -> dict[str, float]:
    """BT on the expected votes of the full schedule over POPULATION fresh instructions."""
    rng = np.random.default_rng(seed)
    family = rng.integers(0, FAMILIES, POPULATION)
    quality = arena.strength[:, family].T + rng.normal(0.0, 0.6, (POPULATION, len(arena.experts)))
    pairs = list(itertools.combinations(range(len(arena.experts)), 2))
    logit = first_logit(arena, quality, pairs, _opinions(POPULATION, arena, rng))
    p_first = expit(logit - TIE_MARGIN)
    p_second = expit(-logit - TIE_MARGIN)
    rows = []
    n_exec = TESTS + 1
    for p, (a, b) in enumerate(pairs):
        judges = [j for j in range(len(arena.experts)) if j not in (a, b)]
        pf, ps = p_first[:, p, judges, :], p_second[:, p, judges, :]
        wins_a = float(pf[..., 0].sum() + ps[..., 1].sum())
        wins_b = float(ps[..., 0].sum() + pf[..., 1].sum())
        ties = float(pf.size - wins_a - wins_b)
        # execution: exact tie/win probabilities of two binomial pass counts
        qa, qb = expit(quality[:, a]), expit(quality[:, b])
        ka = np.stack([_binom(TESTS, k, qa) for k in range(n_exec)], axis=1)
        kb = np.stack([_binom(TESTS, k, qb) for k in range(n_exec)], axis=1)
        joint = ka[:, :, None] * kb[:, None, :]
        exec_a = float(np.tril(joint, -1).sum()) * EXEC_WEIGHT
        exec_b = float(np.triu(joint, 1).sum()) * EXEC_WEIGHT
        exec_tie = float(np.trace(joint, axis1=1, axis2=2).sum()) * EXEC_WEIGHT
        rows.append(
            (arena.experts[a], arena.experts[b], wins_a + exec_a, wins_b + exec_b, ties + exec_tie)
        )
    counts = pl.DataFrame(
        rows,
        schema={
            "model_a": pl.String,
            "model_b": pl.String,
            "wins_a": pl.Float64,
            "wins_b": pl.Float64,
            "ties": pl.Float64,
        },
        orient="row",
    )
    return fit_bradley_terry(counts)


def _binom(n: int, k: int, p: np.ndarray) -> np.ndarray:
    from math import comb

    return comb(n, k) * p**k * (1 - p) ** (n - k)


# --- the schedules ---------------------------------------------------------------------------------


def full_mask(arena: Arena, d: Draw) -> np.ndarray:
    n = len(arena.experts)
    mask = np.ones((len(d.ids), len(d.pairs), n), dtype=bool)
    for p, (a, b) in enumerate(d.pairs):
        mask[:, p, [a, b]] = False
    return mask


JUDGE_ORDERS = ("config", "sharp", "noisy")


def judge_order(arena: Arena, name: str) -> list[int]:
    """The order the judges run in: the experts' own order (`config`, what the judging stage
    does), or sorted by their planted noise, sharpest (`sharp`) or noisiest (`noisy`) first."""
    if name == "config":
        return list(range(len(arena.experts)))
    if name in ("sharp", "noisy"):
        noise = arena.judge_noise if name == "sharp" else -arena.judge_noise
        return [int(k) for k in np.argsort(noise, kind="stable")]
    raise ValueError(f"judge order is one of {', '.join(JUDGE_ORDERS)}, got {name!r}")


def adaptive_mask(
    arena: Arena,
    d: Draw,
    execution: pl.DataFrame,
    settings: RaceSettings,
    order: Sequence[int] | None = None,
) -> np.ndarray:
    """Run the judges in `order` (expert indices; default the experts' own order); each votes on
    what `plan_judge` gives it."""
    full = full_mask(arena, d)
    keys = pl.DataFrame(
        {
            "instruction_id": np.repeat(np.array(d.ids), len(d.pairs)),
            "model_a": np.tile(np.array([arena.experts[a] for a, _ in d.pairs]), len(d.ids)),
            "model_b": np.tile(np.array([arena.experts[b] for _, b in d.pairs]), len(d.ids)),
        }
    )
    flat = full.reshape(-1, len(arena.experts))
    by_judge = {e: keys.filter(pl.Series(flat[:, j])) for j, e in enumerate(arena.experts)}
    competitors = {iid: arena.experts for iid in d.ids}
    asked = np.zeros_like(full)
    row_of = {(r[0], r[1], r[2]): k for k, r in enumerate(keys.iter_rows())}
    order = list(range(len(arena.experts))) if order is None else list(order)
    names = [arena.experts[j] for j in order]
    for j in order:
        judge = arena.experts[j]
        votes = pl.concat([execution, llm_frame(arena, d, asked, settings.orders)])
        chosen = plan_judge(judge, names, by_judge, votes, competitors, settings)
        for row in chosen.iter_rows():
            k = row_of[row]
            asked[k // len(d.pairs), k % len(d.pairs), j] = True
    return asked


def measure(
    n_experts: int,
    n_instructions: int,
    rounds: int,
    seed: int,
    z: float = RaceSettings.z,
    order: str = "config",
    judge_noise: str = "planted",
) -> dict[str, Any]:
    arena = plant(n_experts, seed, judge_noise)
    judges_order = judge_order(arena, order)
    d = draw(arena, n_instructions, seed + 1)
    planted = planted_ratings(arena, seed + 2)
    execution = execution_frame(arena, d)
    best = {iid: arena.experts[int(np.argmax(d.quality[i]))] for i, iid in enumerate(d.ids)}
    full = full_mask(arena, d)
    full_votes = pl.concat([execution, llm_frame(arena, d, full)])
    full_ratings = ratings_with_ci(full_votes, rounds, seed)
    out: dict[str, Any] = {"experts": n_experts, "instructions": n_instructions, "by_alpha": {}}
    out["full"] = {"calls": int(full.sum()) * 2, **_rating_quality(full_ratings, planted)}
    for alpha in ALPHAS:
        started = time.perf_counter()
        settings = RaceSettings(alpha=alpha, z=z)
        mask = adaptive_mask(arena, d, execution, settings, judges_order)
        plan_seconds = time.perf_counter() - started
        llm = llm_frame(arena, d, mask)
        # the battle_votes mart weighs each battle's LLM votes by judges_full / judges asked
        votes = pl.concat([execution, full_mass(llm, n_experts - 2)])
        ratings = ratings_with_ci(votes, rounds, seed)
        full_winner = winners(full_votes, {e: r[0] for e, r in full_ratings.items()}, alpha)
        adaptive_winner = winners(votes, {e: r[0] for e, r in ratings.items()}, alpha)
        calls = int(mask.sum()) * 2
        out["by_alpha"][str(alpha)] = {
            "adaptive_calls": calls,
            "calls_ratio": round(out["full"]["calls"] / calls, 2),
            "winners_same_as_full": _share(adaptive_winner, full_winner),
            "winners_same_with_full_ratings": _share(
                winners(votes, {e: r[0] for e, r in full_ratings.items()}, alpha), full_winner
            ),
            "differ_fully_judged": _fully_judged_disagreements(
                arena, d, mask, adaptive_winner, full_winner
            ),
            **_drift(ratings, full_ratings),
            "full_winner_is_best": _share(full_winner, best),
            "adaptive_winner_is_best": _share(adaptive_winner, best),
            **{f"adaptive_{k}": v for k, v in _rating_quality(ratings, planted).items()},
            "plan_seconds": round(plan_seconds, 1),
        }
        if rounds:  # ablation of the weights' effect on the ratings: every vote weighs 1
            unweighted = pl.concat([execution, llm])
            unweighted_ratings = ratings_with_ci(unweighted, rounds, seed)
            unweighted_winner = winners(
                unweighted, {e: r[0] for e, r in unweighted_ratings.items()}, alpha
            )
            out["by_alpha"][str(alpha)] |= {
                "unweighted_winners_same_as_full": _share(unweighted_winner, full_winner),
                **{
                    f"unweighted_{k}": v
                    for k, v in _rating_quality(unweighted_ratings, planted).items()
                },
            }
    return out


def full_mass(llm: pl.DataFrame, judges_full: int) -> pl.DataFrame:
    """Each battle's LLM votes weighted by judges_full / judges asked (Horvitz-Thompson style)."""
    asked = llm.group_by("instruction_id", "model_a", "model_b").agg(
        asked=pl.col("judge").n_unique()
    )
    return (
        llm.join(asked, on=["instruction_id", "model_a", "model_b"])
        .with_columns(weight=pl.col("weight") * judges_full / pl.col("asked"))
        .drop("asked")
    )


def _fully_judged_disagreements(
    arena: Arena, d: Draw, asked: np.ndarray, mine: dict[str, str], full: dict[str, str]
) -> float:
    """Share of instructions whose winner differs from full's although every judge full asks
    voted on every battle of both winners: there the local scores are full's, so the ratings
    (the global term) alone made the difference, and no more local votes could have helped."""
    index = {e: k for k, e in enumerate(arena.experts)}
    eligible = full_mask(arena, d)
    count = 0
    for i, iid in enumerate(d.ids):
        if mine[iid] == full[iid]:
            continue
        sides = {index[mine[iid]], index[full[iid]]}
        battles = [p for p, (a, b) in enumerate(d.pairs) if {a, b} & sides]
        count += bool((asked[i, battles] == eligible[i, battles]).all())
    return round(count / len(d.ids), 4)


def _drift(
    ratings: dict[str, tuple[float, float, float]], full: dict[str, tuple[float, float, float]]
) -> dict[str, float]:
    """How far the adaptive point ratings sit from full's (Elo, after removing the mean shift):
    what moves the global term of the winner score away from full's."""
    gap = np.array([ratings[e][0] - full[e][0] for e in sorted(full)])
    gap -= gap.mean()
    return {
        "rating_drift_rms": round(float(np.sqrt(np.mean(gap**2))), 2),
        "rating_drift_max": round(float(np.abs(gap).max()), 2),
    }


def _share(mine: dict[str, str], other: dict[str, str]) -> float:
    return round(sum(mine[k] == other[k] for k in other) / len(other), 4)


def _rating_quality(
    ratings: dict[str, tuple[float, float, float]], planted: dict[str, float]
) -> dict[str, float]:
    names = sorted(planted)
    fitted = np.array([ratings[e][0] for e in names])
    truth = np.array([planted[e] for e in names])
    shift = fitted.mean() - truth.mean()  # both are mean-anchored; kept explicit
    error = {"max_rating_error": round(float(np.abs(fitted - shift - truth).max()), 1)}
    if np.isnan(ratings[names[0]][1]):  # no bootstrap rounds, no interval
        return error
    covered = [ratings[e][1] - shift <= planted[e] <= ratings[e][2] - shift for e in names]
    return {
        **error,
        "ci_coverage": round(float(np.mean(covered)), 3),
        "mean_ci_width": round(float(np.mean([ratings[e][2] - ratings[e][1] for e in names])), 1),
    }


def run(
    quick: bool = False, instructions: int | None = None, rounds: int | None = None
) -> dict[str, Any]:
    """Every size at the default bound; at 10 experts also other seeds and other bounds `z`."""
    sizes = (5,) if quick else SIZES
    n = instructions or (30 if quick else INSTRUCTIONS)
    rounds = (10 if quick else BOOTSTRAP_ROUNDS) if rounds is None else rounds
    result: dict[str, Any] = {
        "instructions": n,
        "bootstrap_rounds": rounds,
        "z": RaceSettings().z,
        "challengers": RaceSettings().challengers,
        "sizes": {str(size): measure(size, n, rounds, seed=size) for size in sizes},
    }
    if not quick:
        result["other_seeds_10"] = {
            str(seed): measure(10, n, rounds, seed=seed)["by_alpha"] for seed in OTHER_SEEDS
        }
        result["other_z_10"] = {
            str(z): measure(10, n, rounds, seed=10, z=z)["by_alpha"] for z in OTHER_Z
        }
    return result


def scan(
    experts: int,
    instructions: int,
    rounds: int,
    seeds: list[int],
    bounds: list[float],
    order: str = "config",
    judge_noise: str = "planted",
) -> dict[str, Any]:
    """The target's two figures on each planted arena at each bound, with each measure's CPU
    seconds (user + sys of this process), for the size dependence (docs/BENCHMARKS.md, round 4);
    `order` is the judges' order (`judge_order`, round 7), `judge_noise` `plant`'s (round 9)."""
    measures = []
    for z in bounds:
        for seed in seeds:
            started = time.process_time()
            got = measure(
                experts, instructions, rounds, seed=seed, z=z, order=order, judge_noise=judge_noise
            )
            cpu = round(time.process_time() - started, 1)
            measures.append({"seed": seed, "z": z, "cpu_seconds": cpu, **got})
    return {
        "experts": experts,
        "instructions": instructions,
        "rounds": rounds,
        "judge_order": order,
        "judge_noise": judge_noise,
        "measures": measures,
    }


def scan_table(result: dict[str, Any]) -> str:
    """One line per bound and alpha: mean calls fewer and winners equal over the arenas, the
    per-arena range, and how many arenas meet the target (>= 3x fewer and >= 95% equal)."""
    lines = [
        f"{result['experts']} experts, {result['instructions']} instructions, "
        f"{result['rounds']} bootstrap rounds, judges in {result.get('judge_order', 'config')} "
        f"order, judge noise {result.get('judge_noise', 'planted')}",
        "z     alpha  calls fewer: mean (range)   winners = full's: mean (range)   "
        "arenas meeting 3x & 95%",
    ]
    bounds = sorted({m["z"] for m in result["measures"]}, reverse=True)
    for z in bounds:
        at_z = [m for m in result["measures"] if m["z"] == z]
        for alpha in ALPHAS:
            got = [m["by_alpha"][str(alpha)] for m in at_z]
            ratio = [g["calls_ratio"] for g in got]
            same = [100 * g["winners_same_as_full"] for g in got]
            meet = sum(r >= 3.0 and s >= 95.0 for r, s in zip(ratio, same, strict=True))
            lines.append(
                f"{z:<5g} {alpha:<6g} {np.mean(ratio):5.2f}x ({min(ratio):.2f}-{max(ratio):.2f})"
                f"         {np.mean(same):5.1f}% ({min(same):.1f}-{max(same):.1f})"
                f"            {meet} of {len(got)}"
            )
    cpu = ", ".join(
        f"seed {m['seed']} z {m['z']:g}: {m['cpu_seconds']} s" for m in result["measures"]
    )
    lines.append(f"CPU seconds per measure: {cpu}")
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for size, figures in result["sizes"].items():
        for alpha, got in figures["by_alpha"].items():
            rows.append(
                (
                    f"battle schedule, {size} experts, alpha {alpha} (`bench_battle_schedule`)",
                    "LLM judge calls, adaptive vs full; winners same as full's",
                    f"{got['calls_ratio']}x fewer calls ({got['adaptive_calls']} vs "
                    f"{figures['full']['calls']}); {100 * got['winners_same_as_full']:.1f}% same "
                    "winners",
                    ">= 3x fewer, >= 95% same (at 10 experts)",
                )
            )
    arenas = result.get("other_seeds_10")
    if arenas and "10" in result["sizes"]:
        every = [result["sizes"]["10"]["by_alpha"], *arenas.values()]
        for alpha in ALPHAS:
            got = [arena[str(alpha)] for arena in every]
            rows.append(
                (
                    f"battle schedule, 10 experts, alpha {alpha}, mean of {len(got)} planted "
                    "arenas (`bench_battle_schedule`)",
                    "LLM judge calls, adaptive vs full; winners same as full's",
                    f"{np.mean([g['calls_ratio'] for g in got]):.2f}x fewer calls; "
                    f"{100 * np.mean([g['winners_same_as_full'] for g in got]):.1f}% same winners",
                    ">= 3x fewer, >= 95% same",
                )
            )
    return rows


def _numbers(text: str, kind: type) -> list:
    return [kind(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--instructions", type=int, help=f"instructions per arena (default {INSTRUCTIONS})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"bootstrap rounds (default {BOOTSTRAP_ROUNDS}): only the interval figures "
        "depend on them; 0 fits point ratings only and skips the unweighted ablation",
    )
    parser.add_argument(
        "--scan",
        action="store_true",
        help="only the target's figures at --experts over --seeds and --z, as a table",
    )
    parser.add_argument("--experts", type=int, default=10, help="with --scan (default 10)")
    parser.add_argument(
        "--seeds",
        default=",".join(str(s) for s in (10, *OTHER_SEEDS)),
        help="with --scan: planted arenas, comma-separated (default %(default)s)",
    )
    parser.add_argument(
        "--z", default=f"{RaceSettings.z:g}", help="with --scan: bounds, comma-separated"
    )
    parser.add_argument(
        "--judge-order",
        choices=JUDGE_ORDERS,
        default="config",
        help="with --scan: the order the judges run in (default %(default)s)",
    )
    parser.add_argument(
        "--judge-noise",
        choices=JUDGE_NOISES,
        default="planted",
        help="with --scan: each judge's planted noise, or every judge the arena's mean "
        "(default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="with --scan: print the JSON too")
    args = parser.parse_args()
    if not args.scan:
        print(json.dumps(run(args.quick, args.instructions, args.rounds), indent=2))
        return
    result = scan(
        args.experts,
        args.instructions or INSTRUCTIONS,
        BOOTSTRAP_ROUNDS if args.rounds is None else args.rounds,
        _numbers(args.seeds, int),
        _numbers(args.z, float),
        args.judge_order,
        args.judge_noise,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    print(scan_table(result))


if __name__ == "__main__":
    main()
