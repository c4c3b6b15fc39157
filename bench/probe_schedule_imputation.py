"""Probe (issue 28, docs/BENCHMARKS.md round 6): could a model of the unheard judge calls let the
adaptive schedule stop earlier? Measured without a race, on bench_battle_schedule's planted arenas.

Every battle of every instruction is heard from its first k eligible judges (in config order,
both orders, plus the execution judge), as if the schedule stopped there everywhere. Full's local
score of a battle is then estimated two ways:

- ``seen``: the share of the heard votes, weighed as the battle_votes mart weighs them (what the
  adaptive schedule's winners are picked on today);
- ``imputed``: the heard votes plus the unheard decisive calls at the probability a
  Bradley-Terry model of the instruction predicts. Each response's strength is its expert's
  global rating (BT on the heard votes) plus an instruction effect with a normal prior of SD
  ``sigma`` (logit units), fitted to the instruction's heard calls by Newton's method (MAP), so
  a battle is predicted from every battle of its two responses (Bradley & Terry 1952; the prior
  as in Caron & Doucet 2012's Bayesian BT).

For each it reports the mean squared error against full's local scores, and the share of
instructions whose winner (the paper's score at alpha, full's ratings for the global term, so
only the local scores differ) equals full's. If imputation only helped at k = 1, the race, which
hears most of the 8 judges on the battles that decide a close instruction, would gain little.

    python -m bench.probe_schedule_imputation [--seeds 10,110,120,130] [--instructions 500] \\
        [--judges 1,2,3] [--sigma 0.8]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit

from bench.bench_battle_schedule import ALPHAS, EXEC_WEIGHT, draw, plant
from gpu_ops.arena.ratings import fit_bradley_terry

ELO = np.log(10) / 400  # Elo points to logits


def _ratings(names: list[str], a: np.ndarray, b: np.ndarray, wins_a, wins_b) -> np.ndarray:
    """BT ratings in logits from per-pair totals."""
    counts = pl.DataFrame(
        {
            "model_a": [names[k] for k in a],
            "model_b": [names[k] for k in b],
            "wins_a": np.asarray(wins_a, dtype=float),
            "wins_b": np.asarray(wins_b, dtype=float),
            "ties": np.zeros(len(a)),
        }
    )
    fitted = fit_bradley_terry(counts)
    return np.array([fitted[e] for e in names]) * ELO


def map_strengths(prior: np.ndarray, a, b, wins_a, wins_b, sigma: float) -> np.ndarray:
    """MAP strengths of one instruction's responses: BT likelihood of its decisive calls and a
    normal prior around the global ratings (Newton's method; the problem is strictly concave)."""
    theta = prior.copy()
    n = len(prior)
    for _ in range(50):
        p = expit(theta[a] - theta[b])
        residual = wins_a - (wins_a + wins_b) * p
        grad = -(theta - prior) / sigma**2
        np.add.at(grad, a, residual)
        np.add.at(grad, b, -residual)
        w = (wins_a + wins_b) * p * (1 - p)
        hess = -np.eye(n) / sigma**2
        np.add.at(hess, (a, a), -w)
        np.add.at(hess, (b, b), -w)
        np.add.at(hess, (a, b), w)
        np.add.at(hess, (b, a), w)
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.abs(step).max() < 1e-9:
            break
    return theta


def _winners(x: np.ndarray, a, b, p_global: np.ndarray, alpha: float) -> np.ndarray:
    """Per instruction, the expert with the paper's highest score (local scores x per battle)."""
    n_experts = p_global.shape[0]
    local = np.zeros((x.shape[0], n_experts, n_experts))
    local[:, a, b], local[:, b, a] = x, 1 - x
    return np.argmax(alpha * p_global.sum(1)[None] + (1 - alpha) * local.sum(2), axis=1)


def measure(seed: int, instructions: int, judges: int, sigma: float) -> dict[str, Any]:
    arena = plant(10, seed)
    d = draw(arena, instructions, seed + 1)
    n_experts, n_pairs = len(arena.experts), len(d.pairs)
    a = np.array([p[0] for p in d.pairs])
    b = np.array([p[1] for p in d.pairs])
    eligible = np.ones((n_pairs, n_experts), dtype=bool)
    eligible[np.arange(n_pairs), a] = eligible[np.arange(n_pairs), b] = False
    judges_full = int(eligible[0].sum())
    heard = eligible & (np.cumsum(eligible, axis=1) <= judges)  # the first k in config order
    exec_a = EXEC_WEIGHT * (d.exec_score[:, a] > d.exec_score[:, b])
    exec_b = EXEC_WEIGHT * (d.exec_score[:, a] < d.exec_score[:, b])

    def wins(mask: np.ndarray, code: int) -> np.ndarray:
        return ((d.verdicts == code) & mask[None, :, :, None]).sum(axis=(2, 3)).astype(float)

    def share(votes_a: np.ndarray, votes_b: np.ndarray) -> np.ndarray:
        total = votes_a + votes_b
        return np.where(total > 0, votes_a / np.maximum(total, 1e-12), 0.5)

    full_a, full_b = wins(eligible, 0), wins(eligible, 1)
    heard_a, heard_b = wins(heard, 0), wins(heard, 1)
    x_full = share(full_a + exec_a, full_b + exec_b)
    scale = judges_full / judges  # battle_votes' weight of a battle heard by k of J judges
    x_seen = share(heard_a * scale + exec_a, heard_b * scale + exec_b)
    prior = _ratings(
        arena.experts, a, b, (heard_a * scale + exec_a).sum(0), (heard_b * scale + exec_b).sum(0)
    )
    decisive_rate = (heard_a + heard_b).sum() / (heard.sum() * 2 * instructions)
    unheard = (judges_full - judges) * 2 * decisive_rate  # decisive calls still to come
    x_imputed = np.empty_like(x_full)
    for i in range(instructions):
        ya, yb = heard_a[i] + exec_a[i], heard_b[i] + exec_b[i]
        theta = map_strengths(prior, a, b, ya, yb, sigma)
        x_imputed[i] = (ya + unheard * expit(theta[a] - theta[b])) / (ya + yb + unheard)
    global_logits = _ratings(
        arena.experts, a, b, (full_a + exec_a).sum(0), (full_b + exec_b).sum(0)
    )
    p_global = expit(global_logits[:, None] - global_logits[None, :])
    np.fill_diagonal(p_global, 0.0)
    out: dict[str, Any] = {
        "seed": seed,
        "judges_heard": judges,
        "calls_fewer": round(judges_full / judges, 2),
        "mse": {
            "seen": float(np.mean((x_seen - x_full) ** 2)),
            "imputed": float(np.mean((x_imputed - x_full) ** 2)),
        },
        "winners_same_as_full": {},
    }
    for alpha in ALPHAS:
        target = _winners(x_full, a, b, p_global, alpha)
        out["winners_same_as_full"][str(alpha)] = {
            "seen": float(np.mean(_winners(x_seen, a, b, p_global, alpha) == target)),
            "imputed": float(np.mean(_winners(x_imputed, a, b, p_global, alpha) == target)),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="10,110,120,130")
    parser.add_argument("--instructions", type=int, default=500)
    parser.add_argument("--judges", default="1,2,3", help="judges heard per battle")
    parser.add_argument("--sigma", type=float, default=0.8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [
        measure(seed, args.instructions, k, args.sigma)
        for k in (int(s) for s in args.judges.split(","))
        for seed in (int(s) for s in args.seeds.split(","))
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    print("judges  seed  calls fewer  MSE seen / imputed   winners = full's, seen / imputed")
    for r in rows:
        same = "   ".join(
            f"a{alpha}: {100 * v['seen']:.1f}% / {100 * v['imputed']:.1f}%"
            for alpha, v in r["winners_same_as_full"].items()
        )
        print(
            f"{r['judges_heard']:<7} {r['seed']:<5} {r['calls_fewer']:<12} "
            f"{r['mse']['seen']:.4f} / {r['mse']['imputed']:.4f}    {same}"
        )


if __name__ == "__main__":
    main()
