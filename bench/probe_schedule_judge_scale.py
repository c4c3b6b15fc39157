"""Probe (issue 28, round 9): do the adaptive ratings drift from full's because the judges differ
in sharpness, and does a judge-scaled Bradley-Terry fit take that drift out?

Under `adaptive` most battles are judged by their coverage judge alone (the first uninvolved judge
in config order), so a pair's votes come mostly from one judge, while `full` averages all the
uninvolved judges. A sharp judge's votes make a pair look further apart than a noisy judge's, and
the battle_votes weights (judges_full / judges asked) restore the mass, not the mix. This probe
fits, on the adaptive votes, P_j(A > B) = sigmoid(s_j (r_A - r_B)) with a scale s_j per judge
(weighted maximum likelihood, scipy L-BFGS; ties half a win), predicts each pair's share as full would
pool it (the mean over the judges full asks of sigmoid(s_j (r_A - r_B)), with the execution
votes as they are), and fits plain Bradley-Terry to those expected counts: full's ratings as the
adaptive votes predict them. Winners then use those ratings with the adaptive local votes.

    python -m bench.probe_schedule_judge_scale --seeds 201,202 --z 2,1.65

Prints, per bound and alpha, calls fewer and winners = full's with the adaptive ratings (the
schedule), with the judge-scaled ratings, and with full's own ratings (the ceiling), and each
one's rating drift from full's. Not wired into the pipeline: measured here first.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from bench import bench_battle_schedule as schedule
from gpu_ops.arena.ratings import fit_bradley_terry
from gpu_ops.arena.scheduling import EXECUTION_JUDGE, RaceSettings


def judge_scaled_fit(llm: pl.DataFrame, experts: list[str]) -> tuple[np.ndarray, dict[str, float]]:
    """Strengths (natural-log odds units, mean 0) and each judge's scale (geometric mean 1) by
    maximum likelihood on the LLM votes, each vote weighing its `weight` (the battle_votes
    weights, judges_full / judges asked; unweighted the fit drifts further, arena 201: 17 Elo
    rms); ties half a win each side."""
    judges = sorted(llm["judge"].unique().to_list())
    index = {e: k for k, e in enumerate(experts)}
    judge_index = {j: k for k, j in enumerate(judges)}
    w = pl.col("weight")
    counts = llm.group_by("model_a", "model_b", "judge").agg(
        wins_a=(w * (pl.col("winner") == "model_a")).sum()
        + 0.5 * (w * (pl.col("winner") == "tie")).sum(),
        wins_b=(w * (pl.col("winner") == "model_b")).sum()
        + 0.5 * (w * (pl.col("winner") == "tie")).sum(),
    )
    a = np.array([index[e] for e in counts["model_a"]])
    b = np.array([index[e] for e in counts["model_b"]])
    j = np.array([judge_index[e] for e in counts["judge"]])
    wa = counts["wins_a"].to_numpy().astype(float)
    wb = counts["wins_b"].to_numpy().astype(float)
    n, m = len(experts), len(judges)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        r, log_s = params[:n], params[n:]
        s = np.exp(log_s)
        gap = r[a] - r[b]
        x = s[j] * gap
        value = -(wa * log_expit(x) + wb * log_expit(-x)).sum()
        residual = wa * expit(-x) - wb * expit(x)  # d(log-likelihood)/dx
        grad_r = np.zeros(n)
        np.add.at(grad_r, a, -residual * s[j])
        np.add.at(grad_r, b, residual * s[j])
        grad_log_s = np.zeros(m)
        np.add.at(grad_log_s, j, -residual * x)
        # identifiability: mean strength 0, geometric mean scale 1 (soft, exact at the optimum)
        value += 10.0 * (r.mean() ** 2 + log_s.mean() ** 2)
        grad_r += 20.0 * r.mean() / n
        grad_log_s += 20.0 * log_s.mean() / m
        return value, np.concatenate([grad_r, grad_log_s])

    fitted = minimize(loss, np.zeros(n + m), jac=True, method="L-BFGS-B")
    strengths = fitted.x[:n] - fitted.x[:n].mean()
    scales = np.exp(fitted.x[n:] - fitted.x[n:].mean())
    return strengths, dict(zip(judges, scales.tolist(), strict=True))


def full_scale_ratings(
    votes: pl.DataFrame, llm: pl.DataFrame, experts: list[str], n_instructions: int
) -> dict[str, float]:
    """Full's BT ratings as the adaptive votes predict them: each pair's LLM share pooled over
    the judges full asks (every uninvolved expert, both orders, every instruction) from the
    judge-scaled fit, plus the execution votes as they are."""
    strengths, scales = judge_scaled_fit(llm, experts)
    rows = []
    for ia, ea in enumerate(experts):
        for ib in range(ia + 1, len(experts)):
            eb = experts[ib]
            asked = [scales[j] for j in scales if j not in (ea, eb)]
            share = float(np.mean(expit(np.array(asked) * (strengths[ia] - strengths[ib]))))
            mass = 2.0 * n_instructions * len(asked)
            rows.append((ea, eb, mass * share, mass * (1 - share), 0.0))
    predicted = pl.DataFrame(
        rows, schema=["model_a", "model_b", "wins_a", "wins_b", "ties"], orient="row"
    )
    execution = schedule._counts(votes.filter(pl.col("judge") == EXECUTION_JUDGE))
    return fit_bradley_terry(pl.concat([predicted, execution.select(predicted.columns)]))


def drift_rms(ratings: dict[str, float], full: dict[str, float]) -> float:
    """The bench's rating drift (Elo rms, mean shift removed) of two point fits."""
    point = {e: (r, float("nan"), float("nan")) for e, r in ratings.items()}
    reference = {e: (r, float("nan"), float("nan")) for e, r in full.items()}
    return schedule._drift(point, reference)["rating_drift_rms"]


def point_ratings(votes: pl.DataFrame) -> dict[str, float]:
    """The bench's Bradley-Terry point fit (no bootstrap rounds)."""
    return {e: r[0] for e, r in schedule.ratings_with_ci(votes, 0, 0).items()}


def measure(seed: int, z: float, instructions: int, experts: int = 10) -> dict[str, Any]:
    """One planted arena at one bound: the three ratings' winners against full's, per alpha."""
    arena = schedule.plant(experts, seed)
    d = schedule.draw(arena, instructions, seed + 1)
    execution = schedule.execution_frame(arena, d)
    full = schedule.full_mask(arena, d)
    full_votes = pl.concat([execution, schedule.llm_frame(arena, d, full)])
    full_ratings = point_ratings(full_votes)
    out: dict[str, Any] = {"seed": seed, "z": z, "by_alpha": {}}
    order = schedule.judge_order(arena, "config")
    for alpha in schedule.ALPHAS:
        mask = schedule.adaptive_mask(arena, d, execution, RaceSettings(alpha=alpha, z=z), order)
        llm = schedule.llm_frame(arena, d, mask)
        weighted = schedule.full_mass(llm, experts - 2)  # as the battle_votes mart weighs them
        votes = pl.concat([execution, weighted])
        adaptive = point_ratings(votes)
        scaled = full_scale_ratings(votes, weighted, arena.experts, instructions)
        reference = schedule.winners(full_votes, full_ratings, alpha)
        out["by_alpha"][str(alpha)] = {
            "calls_ratio": round(int(full.sum()) / int(mask.sum()), 2),
            "same_adaptive_ratings": schedule._share(
                schedule.winners(votes, adaptive, alpha), reference
            ),
            "same_scaled_ratings": schedule._share(
                schedule.winners(votes, scaled, alpha), reference
            ),
            "same_full_ratings": schedule._share(
                schedule.winners(votes, full_ratings, alpha), reference
            ),
            "drift_adaptive": drift_rms(adaptive, full_ratings),
            "drift_scaled": drift_rms(scaled, full_ratings),
        }
    return out


def table(measures: list[dict[str, Any]]) -> str:
    lines = [
        "z     alpha  calls fewer  winners = full's: adaptive / judge-scaled / full's ratings"
        "   drift rms: adaptive / judge-scaled"
    ]
    for z in sorted({m["z"] for m in measures}, reverse=True):
        for alpha in schedule.ALPHAS:
            got = [m["by_alpha"][str(alpha)] for m in measures if m["z"] == z]

            def mean(key: str, got: list = got) -> float:
                return float(np.mean([g[key] for g in got]))

            lines.append(
                f"{z:<5g} {alpha:<6g} {mean('calls_ratio'):5.2f}x      "
                f"{100 * mean('same_adaptive_ratings'):5.1f}% / "
                f"{100 * mean('same_scaled_ratings'):5.1f}% / "
                f"{100 * mean('same_full_ratings'):5.1f}%"
                f"                    {mean('drift_adaptive'):5.2f} / {mean('drift_scaled'):5.2f}"
            )
    lines.append(f"arenas: {len({m['seed'] for m in measures})}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="201,202", help="planted arenas, comma-separated")
    parser.add_argument("--z", default="2,1.65", help="bounds, comma-separated")
    parser.add_argument("--instructions", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print the JSON too")
    args = parser.parse_args()
    measures = [
        measure(int(seed), float(z), args.instructions)
        for z in args.z.split(",")
        for seed in args.seeds.split(",")
    ]
    if args.json:
        print(json.dumps(measures, indent=1))
    print(table(measures))


if __name__ == "__main__":
    main()
