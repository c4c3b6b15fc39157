"""The reference the rating benchmarks compare against: FastChat's rating functions, re-implemented.

What FastChat (lm-sys/FastChat, `fastchat/serve/monitor/rating_systems.py`) computes, written
here from its documented behaviour so that a benchmark can run it beside ours (FastChat itself
is not a dependency of this project):

- `compute_elo`: one online pass in row order, K=4, every model starting at 1000, both sides
  moved by K * (S - E) from the pre-battle ratings; **no anchoring** (only BT is anchored).
- `compute_bootstrap_elo`: one (n_battles, rounds) matrix of battle indices drawn uniformly
  with replacement (a vote-level bootstrap), replayed position by position for all rounds at
  once with numpy; the result is the ratings of every round (FastChat reports their median).
- `compute_bt`: the unique (model_a, model_b, outcome) rows with their counts, an L-BFGS fit of
  the logistic loss (outcome 1, 0.5 or 0 for model_a; alpha = ln(base); maxiter 100, gtol
  1e-6), then ratings * scale + 1000, shifted so that mixtral-8x7b-instruct-v0.1 sits at 1114
  when present.
- `compute_bootstrap_bt`: one multinomial draw of those rows' counts per round (seed 0), each
  round fitted in a process pool of os.cpu_count() workers.

Run as a whole process for timing: `python -m bench.baseline.fastchat_ratings LOG FUNCTION
--rounds N` (LOG a .parquet or .json file) prints the median ratings as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
from functools import partial

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

ANCHOR_MODEL, ANCHOR_RATING = "mixtral-8x7b-instruct-v0.1", 1114.0


def _indexed(battles: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """(n, 2) model indices in order of first appearance (model_a column, then model_b)."""
    codes, models = pd.factorize(pd.concat([battles["model_a"], battles["model_b"]]))
    n = len(battles)
    return np.column_stack([codes[:n], codes[n:]]), list(models)


def _scores(battles: pd.DataFrame) -> np.ndarray:
    scores = np.full(len(battles), 0.5)
    scores[(battles["winner"] == "model_a").to_numpy()] = 1.0
    scores[(battles["winner"] == "model_b").to_numpy()] = 0.0
    return scores


def compute_elo(
    battles: pd.DataFrame,
    k: float = 4.0,
    base: float = 10.0,
    init: float = 1000.0,
    scale: float = 400.0,
) -> dict[str, float]:
    pairs, models = _indexed(battles)
    alpha = math.log(base) / scale
    ratings = np.full(len(models), init)
    for (i, j), score in zip(pairs, _scores(battles), strict=True):
        expected = 1.0 / (1.0 + math.exp(alpha * (ratings[j] - ratings[i])))
        ratings[i] += k * (score - expected)
        ratings[j] -= k * (score - expected)
    return dict(zip(models, ratings.tolist(), strict=True))


def compute_bootstrap_elo(
    battles: pd.DataFrame,
    rounds: int = 100,
    k: float = 4.0,
    base: float = 10.0,
    init: float = 1000.0,
    scale: float = 400.0,
) -> pd.DataFrame:
    pairs, models = _indexed(battles)
    scores = _scores(battles)
    alpha = math.log(base) / scale
    picks = np.random.randint(0, len(battles), size=(len(battles), rounds))
    ratings = np.zeros((rounds, len(models)))
    lanes = np.arange(rounds)
    for step in picks:
        i, j = pairs[step, 0], pairs[step, 1]
        change = k * (scores[step] - expit(alpha * (ratings[lanes, i] - ratings[lanes, j])))
        ratings[lanes, i] += change
        ratings[lanes, j] -= change
    return pd.DataFrame(ratings + init, columns=models)


def _unique_outcomes(battles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    pairs, models = _indexed(battles)
    outcome = np.ones(len(battles), dtype=np.int64)  # tie
    outcome[(battles["winner"] == "model_a").to_numpy()] = 2
    outcome[(battles["winner"] == "model_b").to_numpy()] = 0
    rows, counts = np.unique(np.column_stack([pairs, outcome]), axis=0, return_counts=True)
    return rows[:, :2], rows[:, 2] / 2.0, models, counts.astype(np.float64)


def _loss_and_grad(
    ratings: np.ndarray, pairs: np.ndarray, outcomes: np.ndarray, weights: np.ndarray, alpha: float
) -> tuple[float, np.ndarray]:
    p = expit(alpha * (ratings[pairs[:, 0]] - ratings[pairs[:, 1]]))
    loss = -((np.log(p) * outcomes + np.log(1.0 - p) * (1.0 - outcomes)) * weights).sum()
    per_pair = -alpha * (outcomes - p) * weights
    grad = np.zeros_like(ratings)
    np.add.at(grad, pairs[:, 0], per_pair)
    np.add.at(grad, pairs[:, 1], -per_pair)
    return loss, grad


def fit_bt(
    pairs: np.ndarray,
    outcomes: np.ndarray,
    weights: np.ndarray,
    n_models: int,
    alpha: float,
    tol: float = 1e-6,
) -> np.ndarray:
    result = minimize(
        _loss_and_grad,
        np.zeros(n_models),
        args=(pairs, outcomes, weights, alpha),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": tol},
    )
    return result.x


def _to_elo(ratings: np.ndarray, models: list[str], scale: float, init: float) -> np.ndarray:
    scaled = ratings * scale + init
    if ANCHOR_MODEL in models:
        position = models.index(ANCHOR_MODEL)
        scaled = scaled + ANCHOR_RATING - scaled[..., [position]]
    return scaled


def compute_bt(
    battles: pd.DataFrame, base: float = 10.0, scale: float = 400.0, init: float = 1000.0
) -> dict[str, float]:
    pairs, outcomes, models, weights = _unique_outcomes(battles)
    ratings = fit_bt(pairs, outcomes, weights, len(models), math.log(base))
    return dict(zip(models, _to_elo(ratings, models, scale, init).tolist(), strict=True))


def compute_bootstrap_bt(
    battles: pd.DataFrame,
    rounds: int,
    base: float = 10.0,
    scale: float = 400.0,
    init: float = 1000.0,
) -> pd.DataFrame:
    pairs, outcomes, models, weights = _unique_outcomes(battles)
    rng = np.random.default_rng(seed=0)
    draws = rng.multinomial(len(battles), weights / weights.sum(), size=rounds) / len(battles)
    fit = partial(fit_bt, pairs, outcomes, n_models=len(models), alpha=math.log(base))
    with multiprocessing.Pool(os.cpu_count()) as pool:
        results = list(pool.imap_unordered(fit, draws))
    return pd.DataFrame(_to_elo(np.array(results), models, scale, init), columns=models)


def read_battles(path: str) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pd.read_parquet(path, columns=["model_a", "model_b", "winner"])
    return pd.read_json(path)[["model_a", "model_b", "winner"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("function", choices=["elo", "bootstrap_elo", "bt", "bootstrap_bt"])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--k", type=float, default=4.0)
    args = parser.parse_args()
    battles = read_battles(args.log)
    if args.function == "elo":
        ratings = compute_elo(battles, k=args.k)
    elif args.function == "bt":
        ratings = compute_bt(battles)
    else:
        rounds = (
            compute_bootstrap_elo(battles, args.rounds, k=args.k)
            if args.function == "bootstrap_elo"
            else compute_bootstrap_bt(battles, args.rounds)
        )
        ratings = rounds.median().to_dict()
    json.dump(ratings, sys.stdout)


if __name__ == "__main__":
    main()
