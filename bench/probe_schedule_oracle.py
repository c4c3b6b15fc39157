"""Probe (issue 28, docs/BENCHMARKS.md round 8): how far could a race go if it knew how every
unheard judge call is distributed? Measured on bench_battle_schedule's planted arenas.

Rounds 2 to 7 raced on estimates of the calls not heard yet (the mean of the judges heard so
far, shrunk toward the ratings, imputed by a Bradley-Terry model of the instruction); each design
landed on one trade-off curve between judge calls and winners equal to full's. This probe runs one
race with three projections of the unheard calls, from the simulation's own truth down to what a
schedule could infer:

- ``latent``: each unheard call's verdict probabilities from the judge's actual logit (the
  response qualities, the judge's noise, its opinion of that battle and its position bias); only
  the call's own logistic noise is unknown;
- ``quality``: the response qualities, the judges' noise and bias, but not the judge's opinion of
  the battle (integrated out over its normal prior, so the two orders of one judge co-vary);
- ``model``: the planted model's arena-wide parameters only (each judge's noise and bias, the
  tie margin, the experts' mean strengths as the prior of a response's quality and its spread);
  the instruction's response qualities are inferred from its heard calls (Laplace approximation
  at the MAP), and posterior draws of them give the unheard calls' moments. The best a schedule
  with the right model and well-estimated parameters could do;
- ``pooled``: ``model`` with every judge given the judges' mean noise and mean bias, as a
  schedule knows a judge that has not voted yet.

Full's local score of each battle (the battles mart's decisive share, the execution vote
included) is projected from the heard calls plus the unheard calls' means and covariances
(delta method for the share), and the probability that full's winner is the winner of the votes
heard so far (the paper's score at ``alpha``, full's ratings in the global term for both, so only
the local scores differ) is estimated from ``draws`` normal draws of the battles' shares. The race
runs the judges in config order as `gpu_ops.arena.scheduling` does: a judge votes on every battle
no judge has seen yet (coverage), and on an instruction still open (that probability not above
``1 - delta``) on the battles of the leader and of its two likeliest challengers (LUCB's sampling,
as the schedule). Each delta gives one point of the curve: calls fewer than full, and the share of
instructions whose winner equals full's (with full's ratings).

    python -m bench.probe_schedule_oracle [--seeds 10,110,120,130] [--instructions 500] \\
        [--alphas 0.3,0.7] [--deltas 0.1,0.05,0.02] [--knows latent,quality,model]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit

from bench.bench_battle_schedule import (
    OPINION_SD,
    TIE_MARGIN,
    draw,
    execution_frame,
    first_logit,
    full_mask,
    llm_frame,
    plant,
    ratings_with_ci,
    winners,
)

EXPERTS = 10
HERMITE = 24  # quadrature nodes over the opinion (the `quality` oracle)


def call_moments(logit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (instruction, pair, judge): the mean of (a's wins, b's wins) over the judge's two
    orders, and their covariance (var a, var b, cov), with the two calls independent."""
    first = expit(logit - TIE_MARGIN)  # the first-shown response wins
    second = expit(-logit - TIE_MARGIN)
    pa = np.stack([first[..., 0], second[..., 1]], -1)  # a first in order 0, second in order 1
    pb = np.stack([second[..., 0], first[..., 1]], -1)
    mean = np.stack([pa.sum(-1), pb.sum(-1)], -1)
    var = np.stack(
        [(pa * (1 - pa)).sum(-1), (pb * (1 - pb)).sum(-1), (-pa * pb).sum(-1)], -1
    )  # one call is a win for a or for b, never both
    return mean, var


def integrated_moments(base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`call_moments` with the judge's opinion of the battle unknown: averaged over its normal
    prior by Gauss-Hermite quadrature; the shared opinion makes the two orders co-vary."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(HERMITE)
    weights = weights / weights.sum()
    ea = eb = eaa = ebb = eab = 0.0
    for node, weight in zip(nodes, weights, strict=True):
        mean, var = call_moments(base + np.array([1.0, -1.0]) * OPINION_SD * node)
        ea = ea + weight * mean[..., 0]
        eb = eb + weight * mean[..., 1]
        eaa = eaa + weight * (var[..., 0] + mean[..., 0] ** 2)
        ebb = ebb + weight * (var[..., 1] + mean[..., 1] ** 2)
        eab = eab + weight * (var[..., 2] + mean[..., 0] * mean[..., 1])
    mean = np.stack([ea, eb], -1)
    var = np.stack([eaa - ea**2, ebb - eb**2, eab - ea * eb], -1)
    return mean, var


def share_moments(
    heard_a: np.ndarray, heard_b: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Full's decisive share of each battle: heard totals plus the unheard calls' summed moments
    (mean: a, b; var: var a, var b, cov), by the delta method. Exact once nothing is unheard."""
    total_a = heard_a + mean[..., 0]
    total_b = heard_b + mean[..., 1]
    decisive = total_a + total_b
    safe = np.where(decisive > 0, decisive, 1.0)
    share = np.where(decisive > 0, total_a / safe, 0.5)
    ga, gb = total_b / safe**2, -total_a / safe**2
    variance = ga**2 * var[..., 0] + gb**2 * var[..., 1] + 2 * ga * gb * var[..., 2]
    return share, np.maximum(variance, 0.0)


@dataclass(frozen=True)
class Votes:
    """Every judge's wins per battle (both orders summed) and the execution votes, as arrays."""

    wins_a: np.ndarray  # (instructions, pairs, judges)
    wins_b: np.ndarray
    exec_a: np.ndarray  # (instructions, pairs)
    exec_b: np.ndarray
    eligible: np.ndarray  # (pairs, judges): the judges full asks about each pair
    incidence_a: np.ndarray  # (pairs, experts): 1 where the expert is the pair's model_a
    incidence_b: np.ndarray

    @classmethod
    def of(cls, arena, d) -> Votes:
        pair_a = np.array([a for a, _ in d.pairs])
        pair_b = np.array([b for _, b in d.pairs])
        incidence_a = np.zeros((len(d.pairs), len(arena.experts)))
        incidence_a[np.arange(len(d.pairs)), pair_a] = 1.0
        incidence_b = np.zeros_like(incidence_a)
        incidence_b[np.arange(len(d.pairs)), pair_b] = 1.0
        return cls(
            wins_a=(d.verdicts == 0).sum(-1).astype(float),
            wins_b=(d.verdicts == 1).sum(-1).astype(float),
            exec_a=(d.exec_score[:, pair_a] > d.exec_score[:, pair_b]).astype(float),
            exec_b=(d.exec_score[:, pair_a] < d.exec_score[:, pair_b]).astype(float),
            eligible=full_mask(arena, d)[0],
            incidence_a=incidence_a,
            incidence_b=incidence_b,
        )

    def scores(self, x: np.ndarray, global_part: np.ndarray, alpha: float) -> np.ndarray:
        """The paper's winner score per expert from battle shares x (..., pairs)."""
        local = x @ self.incidence_a + (1 - x) @ self.incidence_b
        return global_part + (1 - alpha) * local

    def heard_winner(
        self, asked: np.ndarray, global_part: np.ndarray, alpha: float, rows: Any = slice(None)
    ) -> np.ndarray:
        """Each instruction's winner (of `rows`) on the heard votes, weighed as the battle_votes
        mart weighs them (a battle's LLM votes by judges_full / judges asked)."""
        k = asked.sum(-1)
        weight = np.where(k > 0, self.eligible.sum(1)[None, :] / np.maximum(k, 1), 0.0)
        va = weight * (asked * self.wins_a[rows]).sum(-1) + self.exec_a[rows]
        vb = weight * (asked * self.wins_b[rows]).sum(-1) + self.exec_b[rows]
        x = np.where(va + vb > 0, va / np.where(va + vb > 0, va + vb, 1.0), 0.5)
        return np.argmax(self.scores(x, global_part, alpha), axis=1)


Projection = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def known_calls(votes: Votes, moments: tuple[np.ndarray, np.ndarray]) -> Projection:
    """Full's battle shares from the heard calls and the unheard calls' known moments: mean and
    variance, (rows, 1, pairs)."""
    mean, var = moments

    def project(rows: np.ndarray, heard: np.ndarray, rng: np.random.Generator):
        unheard = (~heard & votes.eligible[None])[..., None]
        share, variance = share_moments(
            (heard * votes.wins_a[rows]).sum(-1) + votes.exec_a[rows],
            (heard * votes.wins_b[rows]).sum(-1) + votes.exec_b[rows],
            (unheard * mean[rows]).sum(2),
            (unheard * var[rows]).sum(2),
        )
        return share[:, None, :], variance[:, None, :]

    return project


# the opinion's variance folded into the logistic noise (probit-style scaling, pi^2 / 3 for it)
OPINION_SCALE = 1.0 / np.sqrt(1.0 + OPINION_SD**2 * 3.0 / np.pi**2)
NEWTON_STEPS = 8


def _call_probabilities(logit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    first = expit(logit - TIE_MARGIN)
    second = expit(-logit - TIE_MARGIN)
    return first, second, np.clip(1.0 - first - second, 1e-12, 1.0)


def inferred_qualities(
    arena, d, votes: Votes, samples: int = 100, pooled: bool = False
) -> Projection:
    """Full's battle shares when the planted model's arena-wide parameters are known (each
    judge's noise and position bias, the tie margin, each expert's strength averaged over the
    families as the prior mean, the spread of a response's quality around it) but not the
    instruction's response qualities: those are inferred from the instruction's heard calls
    (Laplace approximation around the MAP, Fisher scoring), and `samples` draws of them give
    the unheard calls' moments. Each draw is one row of the (rows, samples, pairs) output.
    `pooled`: every judge has the judges' mean noise and mean bias (what a schedule knows of a
    judge that has not voted yet)."""
    prior_mean = arena.strength.mean(1)
    prior_var = 0.6**2 + arena.strength.var(1)
    noise, judge_bias = arena.judge_noise, arena.judge_bias
    if pooled:
        noise = np.full_like(noise, noise.mean())
        judge_bias = np.full_like(judge_bias, judge_bias.mean())
    slope = OPINION_SCALE / noise  # dL/d(q_a - q_b) in order 0, per judge
    sign = np.array([1.0, -1.0])  # order 1 shows b first
    # (pairs, judges, orders): the gap's coefficient in the first-shown logit, and the bias
    coef = slope[None, :, None] * sign[None, None, :] * np.ones((len(d.pairs), 1, 1))
    bias = np.broadcast_to(judge_bias[None, :, None], coef.shape)
    first_shown_won = np.stack([d.verdicts[..., 0] == 0, d.verdicts[..., 1] == 1], -1)
    second_shown_won = np.stack([d.verdicts[..., 0] == 1, d.verdicts[..., 1] == 0], -1)
    diff = votes.incidence_a - votes.incidence_b  # (pairs, experts)

    def project(rows: np.ndarray, heard: np.ndarray, rng: np.random.Generator):
        calls = heard[..., None] & np.ones(2, dtype=bool)  # both orders of a heard judge
        first, second = first_shown_won[rows], second_shown_won[rows]
        q = np.broadcast_to(prior_mean, (len(rows), len(prior_mean))).copy()
        for _ in range(NEWTON_STEPS):
            gap = q @ diff.T  # (rows, pairs)
            logit = gap[:, :, None, None] * coef + bias
            pf, ps, pt = _call_probabilities(logit)
            sf, ss = pf * (1 - pf), ps * (1 - ps)  # d pf / dL, -d ps / dL
            score = np.where(first, 1 - pf, np.where(second, -(1 - ps), (ss - sf) / pt))
            info = sf**2 / pf + ss**2 / ps + (ss - sf) ** 2 / pt  # Fisher information in L
            grad_gap = (calls * score * coef).sum((2, 3))  # (rows, pairs)
            weight = (calls * info * coef**2).sum((2, 3))
            grad = grad_gap @ diff - (q - prior_mean) / prior_var
            hessian = np.einsum("rp,pe,pf->ref", weight, diff, diff) + np.diag(1 / prior_var)
            q = q + np.linalg.solve(hessian, grad[..., None])[..., 0]
        chol = np.linalg.cholesky(np.linalg.inv(hessian))
        drawn = q[:, None, :] + np.einsum(
            "ref,rsf->rse", chol, rng.standard_normal((len(rows), samples, q.shape[1]))
        )
        gap = drawn @ diff.T  # (rows, samples, pairs)
        mean, var = call_moments(gap[..., None, None] * coef + bias)  # (rows, s, pairs, judges, .)
        unheard = (~heard & votes.eligible[None])[:, None, :, :, None]
        share, variance = share_moments(
            ((heard * votes.wins_a[rows]).sum(-1) + votes.exec_a[rows])[:, None, :],
            ((heard * votes.wins_b[rows]).sum(-1) + votes.exec_b[rows])[:, None, :],
            (unheard * mean).sum(3),
            (unheard * var).sum(3),
        )
        return share, variance

    return project


def race(
    votes: Votes,
    project: Projection,
    global_part: np.ndarray,
    alpha: float,
    delta: float,
    draws: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The asked (instruction, pair, judge) cells and the adaptive winners (expert indices)."""
    n, pairs, judges = votes.wins_a.shape
    experts = votes.incidence_a.shape[1]
    asked = np.zeros((n, pairs, judges), dtype=bool)
    open_ = np.ones(n, dtype=bool)
    rng = np.random.default_rng(seed)
    for j in range(judges):
        # coverage: every battle no judge has seen yet, that this judge may judge
        asked[:, :, j] |= ~asked.any(-1) & votes.eligible[None, :, j]
        if j == judges - 1 or not open_.any():
            continue
        # the probability that full's winner is the heard votes' winner, per open instruction
        rows = np.nonzero(open_)[0]
        heard = asked[rows]
        share, variance = project(rows, heard, rng)  # (rows, 1 or posterior samples, pairs)
        if share.shape[1] > 1:  # each posterior sample gets draws / samples draws of the noise
            share, variance = (
                np.repeat(a, draws // share.shape[1], axis=1) for a in (share, variance)
            )
        leader = votes.heard_winner(heard, global_part, alpha, rows)
        noise = rng.standard_normal((len(rows), draws, pairs))
        x = np.clip(share + np.sqrt(variance) * noise, 0.0, 1.0)
        best = np.argmax(votes.scores(x, global_part, alpha), axis=2)  # (rows, draws)
        win_probability = np.stack([(best == e).mean(1) for e in range(experts)], axis=1)
        settled = win_probability[np.arange(len(rows)), leader] > 1 - delta
        open_[rows[settled]] = False
        # the next judge: the battles of the leader and of its two likeliest challengers
        chances = win_probability.copy()
        chances[np.arange(len(rows)), leader] = -1.0
        racing = np.zeros((len(rows), experts), dtype=bool)
        racing[np.arange(len(rows)), leader] = True
        racing[np.arange(len(rows))[:, None], np.argsort(-chances, axis=1)[:, :2]] = True
        battles = racing @ votes.incidence_a.T + racing @ votes.incidence_b.T > 0
        asked[rows, :, j + 1] |= battles & ~settled[:, None] & votes.eligible[None, :, j + 1]
    return asked, votes.heard_winner(asked, global_part, alpha)


def measure(
    seed: int, n: int, alpha: float, deltas: list[float], knows: list[str], draws: int
) -> list[dict[str, Any]]:
    """One planted arena at one alpha: a row per oracle and delta."""
    arena = plant(EXPERTS, seed)
    d = draw(arena, n, seed + 1)
    base = first_logit(arena, d.quality, d.pairs, np.zeros_like(d.opinion))
    latent = first_logit(arena, d.quality, d.pairs, d.opinion)
    votes = Votes.of(arena, d)
    full_votes = pl.concat([execution_frame(arena, d), llm_frame(arena, d, full_mask(arena, d))])
    ratings = {e: r[0] for e, r in ratings_with_ci(full_votes, 0, seed).items()}
    r = np.array([ratings[e] for e in arena.experts])
    p_global = 1.0 / (1.0 + 10 ** ((r[None, :] - r[:, None]) / 400))  # P(row beats column)
    np.fill_diagonal(p_global, 0.0)
    global_part = alpha * p_global.sum(1)
    index = {e: k for k, e in enumerate(arena.experts)}
    full_winner = winners(full_votes, ratings, alpha)
    truth = np.array([index[full_winner[iid]] for iid in d.ids])
    every = np.broadcast_to(votes.eligible, votes.wins_a.shape)
    if not (votes.heard_winner(every, global_part, alpha) == truth).all():
        raise AssertionError("the probe's winner score is not select_winners' on full's votes")
    full_calls = int(every.sum()) * 2
    out = []
    for know in knows:
        if know == "latent":
            project = known_calls(votes, call_moments(latent))
        elif know == "quality":
            project = known_calls(votes, integrated_moments(base))
        else:
            project = inferred_qualities(arena, d, votes, pooled=know == "pooled")
        for delta in deltas:
            asked, chosen = race(votes, project, global_part, alpha, delta, draws, seed)
            out.append(
                {
                    "seed": seed,
                    "alpha": alpha,
                    "knows": know,
                    "delta": delta,
                    "calls_ratio": round(full_calls / (int(asked.sum()) * 2), 3),
                    "winners_same_as_full": round(float((chosen == truth).mean()), 4),
                }
            )
    return out


def _numbers(text: str, kind: type) -> list:
    return [kind(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="10,110,120,130")
    parser.add_argument("--instructions", type=int, default=500)
    parser.add_argument("--alphas", default="0.3,0.7")
    parser.add_argument("--deltas", default="0.1,0.05,0.02")
    parser.add_argument("--knows", default="latent,quality,model")
    parser.add_argument("--draws", type=int, default=400)
    args = parser.parse_args()
    rows = []
    for seed in _numbers(args.seeds, int):
        for alpha in _numbers(args.alphas, float):
            got = measure(
                seed,
                args.instructions,
                alpha,
                _numbers(args.deltas, float),
                args.knows.split(","),
                args.draws,
            )
            rows.extend(got)
            for g in got:
                print(json.dumps(g), flush=True)
    frame = pl.DataFrame(rows)
    print(
        frame.group_by("alpha", "knows", "delta")
        .agg(
            pl.col("calls_ratio").mean().round(2).alias("calls_fewer"),
            (100 * pl.col("winners_same_as_full").mean()).round(1).alias("winners_same_pct"),
        )
        .sort("alpha", "knows", "delta", descending=[True, False, True])
    )


if __name__ == "__main__":
    main()
