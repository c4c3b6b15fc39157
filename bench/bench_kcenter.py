"""KCenterGreedy per-step time vs scikit-learn pairwise_distances and the memory-bandwidth floor.

All three in one process on the same normalized float32 matrix (n x d):
* project: `kcenter_greedy` per step, (time(k=1+steps) - time(k=1)) / steps, so the one-off
  medoid search is not counted;
* baseline: the common implementation, one `pairwise_distances(X, X[[c]])` per step followed by
  the min update and argmax;
* floor: one pass over the matrix (`X @ v`), the least any exact step can cost.
Median of several runs. `--full` adds n=1M, k=10k with peak memory (long; not in `run`).

    python -m bench.bench_kcenter [--quick] [--full]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np

from gpu_ops.kcenter import kcenter_greedy


def unit_matrix(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, d), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sklearn_steps(matrix: np.ndarray, steps: int) -> None:
    from sklearn.metrics import pairwise_distances

    min_dist = np.full(matrix.shape[0], np.inf)
    center = 0
    for _ in range(steps):
        dist = pairwise_distances(matrix, matrix[[center]], metric="euclidean").ravel()
        min_dist = np.minimum(min_dist, dist)
        center = int(np.argmax(min_dist))


def measure(n: int, d: int, steps: int, repeats: int) -> dict:
    matrix = unit_matrix(n, d)
    vector = matrix[0].copy()
    out = np.empty(n, dtype=np.float32)
    floor = median_seconds(lambda: np.dot(matrix, vector, out=out), repeats * 5)
    one = median_seconds(lambda: kcenter_greedy(matrix, 1), repeats)
    many = median_seconds(lambda: kcenter_greedy(matrix, 1 + steps), repeats)
    project = max(many - one, 0.0) / steps
    baseline = median_seconds(lambda: sklearn_steps(matrix, steps), repeats) / steps
    return {
        "n": n,
        "d": d,
        "steps": steps,
        "project_ms_per_step": round(project * 1e3, 3),
        "sklearn_ms_per_step": round(baseline * 1e3, 3),
        "floor_ms_per_pass": round(floor * 1e3, 3),
        "speedup_vs_sklearn": round(baseline / project, 1),
        "ratio_to_floor": round(project / floor, 2),
        "targets": {"speedup_vs_sklearn": ">= 8", "ratio_to_floor": "<= 1.5"},
    }


def full_run(n: int = 1_000_000, d: int = 384, k: int = 10_000) -> dict:
    matrix = unit_matrix(n, d)
    started = time.perf_counter()
    result = kcenter_greedy(matrix, k)
    seconds = time.perf_counter() - started
    return {
        "n": n,
        "d": d,
        "k": k,
        "seconds": round(seconds, 1),
        "ms_per_step": round(seconds / k * 1e3, 2),
        "final_radius": float(result.radius[-1]),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "matrix_gib": round(matrix.nbytes / 2**30, 2),
    }


def run(quick: bool = False) -> dict:
    n, steps, repeats = (20_000, 20, 3) if quick else (100_000, 30, 5)
    return {"benchmark": "kcenter", **measure(n, 384, steps, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=20k instead of 100k")
    parser.add_argument("--full", action="store_true", help="also n=1M, k=10k with peak memory")
    args = parser.parse_args()
    report = run(quick=args.quick)
    if args.full:
        report["full"] = full_run()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
