"""Bradley-Terry ratings: our counts-based fit + multinomial bootstrap vs the lm-sys sklearn way.

Baseline (lm-sys FastChat `compute_mle_elo`): one-hot design matrix with +ln(base) / -ln(base)
for model_a / model_b over the raw battles, each battle duplicated (a tie is one win for each
side), an unpenalized scikit-learn LogisticRegression fit; its bootstrap refits on resampled raw
battles, so 100 rounds cost about 101 single fits (the implied ratio below).

Ours: collapse the battles to pair counts (polars group-by), an L-BFGS fit with an analytic
gradient, and a bootstrap that draws every round's counts from one multinomial.

Memory: peak RSS of our collapse + fit + bootstrap and of the dense sklearn design + fit, each
with what it added over the RSS at its start (the raw battles are already in memory).

    python -m bench.bench_ratings            # 1M battles, 50 models, 100 rounds (dense baseline)
    python -m bench.bench_ratings --quick    # smaller, median of 3 runs
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from bench.timing import MIB, PeakMemory, timed
from gpu_ops.arena.ratings import (
    bootstrap_bradley_terry,
    fit_bradley_terry,
    pair_counts,
    win_probability,
)

SCALE, BASE, INITIAL = 400.0, 10.0, 1000.0


def synthetic_battles(
    n_battles: int, n_models: int, seed: int, tie_rate: float = 0.1
) -> pl.DataFrame:
    """Random pairs among n_models with spread true ratings; ties with probability tie_rate."""
    rng = np.random.default_rng(seed)
    names = np.array([f"model-{i:03d}" for i in range(n_models)])
    true = rng.normal(1000, 150, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    u = rng.random(n_battles)
    p = win_probability(true[a], true[b])
    winner = np.where(
        u < tie_rate, "tie", np.where(rng.random(n_battles) < p, "model_a", "model_b")
    )
    return pl.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})


def lmsys_design(battles: pl.DataFrame, *, dense: bool) -> tuple[Any, np.ndarray, list[str]]:
    """The lm-sys design: battles duplicated, +-ln(base) one-hot columns, ties split 1/0."""
    frame = battles.to_pandas()
    frame = pd.concat([frame, frame], ignore_index=True)
    n = len(frame)
    codes, models = pd.factorize(pd.concat([frame["model_a"], frame["model_b"]]))
    col_a, col_b = codes[:n], codes[n:]
    rows = np.arange(n)
    if dense:
        x = np.zeros((n, len(models)))
        x[rows, col_a] = math.log(BASE)
        x[rows, col_b] = -math.log(BASE)
    else:
        data = np.concatenate([np.full(n, math.log(BASE)), np.full(n, -math.log(BASE))])
        x = sparse.csr_matrix(
            (data, (np.concatenate([rows, rows]), np.concatenate([col_a, col_b]))),
            shape=(n, len(models)),
        )
    y = np.zeros(n)
    y[(frame["winner"] == "model_a").to_numpy()] = 1.0
    tie = (frame["winner"] == "tie").to_numpy().copy()
    tie[n // 2 :] = False  # first copy of a tie: A wins; second copy: B wins
    y[tie] = 1.0
    return x, y, list(models)


def sklearn_fit(x: Any, y: np.ndarray, models: list[str]) -> dict[str, float]:
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6, max_iter=1000)
    model.fit(x, y)
    elo = SCALE * model.coef_[0]
    elo = elo - elo.mean() + INITIAL  # same scaling as ours: mean INITIAL
    return dict(zip(models, elo.tolist(), strict=True))


def one_run(n_battles: int, n_models: int, rounds: int, seed: int) -> dict[str, float]:
    battles = synthetic_battles(n_battles, n_models, seed)
    with PeakMemory() as ours_memory:
        counts, collapse_s = timed(lambda: pair_counts(battles))
        ours, fit_s = timed(lambda: fit_bradley_terry(counts))
        _, bootstrap_s = timed(lambda: bootstrap_bradley_terry(counts, rounds=rounds, seed=seed))
    with PeakMemory() as sklearn_memory:
        (x, y, models), build_s = timed(lambda: lmsys_design(battles, dense=True))
        theirs, sk_fit_s = timed(lambda: sklearn_fit(x, y, models))
    x = None  # free the dense design before the sparse fit
    # A stronger baseline than lm-sys: the same fit on a sparse design matrix.
    (xs, ys, models_s), sparse_build_s = timed(lambda: lmsys_design(battles, dense=False))
    theirs_sparse, sparse_fit_s = timed(lambda: sklearn_fit(xs, ys, models_s))
    ours_total = collapse_s + fit_s + bootstrap_s
    sk_single = build_s + sk_fit_s
    sk_sparse_single = sparse_build_s + sparse_fit_s
    return {
        "ours_collapse_s": collapse_s,
        "ours_fit_s": fit_s,
        "ours_bootstrap_s": bootstrap_s,
        "ours_total_s": ours_total,
        "sklearn_design_s": build_s,
        "sklearn_fit_s": sk_fit_s,
        "single_fit_speedup": sk_single / (collapse_s + fit_s),
        "implied_bootstrap_speedup": sk_single * (rounds + 1) / ours_total,
        "sklearn_sparse_design_s": sparse_build_s,
        "sklearn_sparse_fit_s": sparse_fit_s,
        "implied_bootstrap_speedup_vs_sparse": sk_sparse_single * (rounds + 1) / ours_total,
        "max_abs_rating_diff": max(abs(ours[m] - theirs[m]) for m in ours),
        "max_abs_rating_diff_sparse": max(abs(ours[m] - theirs_sparse[m]) for m in ours),
        "ours_peak_rss_mib": ours_memory.peak_bytes / MIB,
        "ours_added_mib": (ours_memory.peak_bytes - ours_memory.start_bytes) / MIB,
        "sklearn_peak_rss_mib": sklearn_memory.peak_bytes / MIB,
        "sklearn_added_mib": (sklearn_memory.peak_bytes - sklearn_memory.start_bytes) / MIB,
    }


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    """Median over runs; quick: 100k battles, 20 models, 20 rounds, 3 runs; full: 1M/50/100, 1 run."""
    if smoke:
        n_battles, n_models, rounds, repeats = 5_000, 6, 5, 1
    elif quick:
        n_battles, n_models, rounds, repeats = 100_000, 20, 20, 3
    else:
        n_battles, n_models, rounds, repeats = 1_000_000, 50, 100, 1
    runs = [one_run(n_battles, n_models, rounds, seed) for seed in range(repeats)]
    result: dict[str, Any] = {
        "n_battles": n_battles,
        "n_models": n_models,
        "bootstrap_rounds": rounds,
        "runs": repeats,
        "baseline": "sklearn LogisticRegression (lbfgs, no penalty) on the dense lm-sys design",
    }
    for key in runs[0]:
        result[key] = statistics.median(r[key] for r in runs)
    for key in ("max_abs_rating_diff", "max_abs_rating_diff_sparse"):
        result[key] = max(r[key] for r in runs)
    result["target_speedup"] = 50.0
    result["target_met"] = (
        result["implied_bootstrap_speedup"] >= 50.0
        and max(result["max_abs_rating_diff"], result["max_abs_rating_diff_sparse"]) < 1.0
    )
    return result


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    sklearn_single = result["sklearn_design_s"] + result["sklearn_fit_s"]
    return [
        (
            "ratings (`bench_ratings`)",
            f"{result['n_battles']:,} synthetic battles, {result['n_models']} models, "
            f"{result['bootstrap_rounds']} bootstrap rounds: collapse to pair counts + L-BFGS BT + "
            "multinomial bootstrap vs scikit-learn `LogisticRegression` BT on the raw battles "
            "(lm-sys design)",
            f"{result['ours_total_s']:.2f} s total vs {sklearn_single:.1f} s for one sklearn fit "
            f"(implied {result['bootstrap_rounds'] + 1} fits): "
            f"**{result['implied_bootstrap_speedup']:.0f}x**; largest rating difference "
            f"{result['max_abs_rating_diff']:.4f} Elo points; peak RSS added "
            f"{result['ours_added_mib']:,.0f} MiB (ours) vs {result['sklearn_added_mib']:,.0f} MiB "
            "(dense sklearn design)",
            ">= 50x, within 1 point",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, median of 3 runs")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
