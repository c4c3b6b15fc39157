"""KCenterGreedy per-step time vs scikit-learn pairwise_distances and the memory-bandwidth floor.

All three in one process on the same normalized float32 matrix (n x d):
* project: `kcenter_greedy` per step, (time(k=1+steps) - time(k=1)) / steps, so the one-off
  medoid search is not counted;
* baseline: the common implementation, one `pairwise_distances(X, X[[c]])` per step followed by
  the min update and argmax;
* floor: one pass over the matrix (`X @ v`), the least any exact step can cost.
Median of several runs. Peak RSS is measured around our k-center call.

The full (not quick) run adds the paper-scale case n=1M, d=384, k=10k. Every step costs the same
(one pass over all n rows: picked rows stay in `min_sq`), so it times `--scale-steps` steps
(default 1000, a few minutes on 2 cores) and extrapolates: total(k) = time(k=1) + (k - 1) x
per_step; `--full` times all k - 1 steps instead (about half an hour on 2 cores). Memory does
not depend on k: the matrix (n x d float32) plus O(n) vectors, never an n x n matrix.

    python -m bench.bench_kcenter [--quick] [--scale-steps 1000 | --full]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from bench.timing import MIB, PeakMemory, median_seconds, timed
from gpu_ops.curation.kcenter import kcenter_greedy


def unit_matrix(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, d), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def sklearn_steps(matrix: np.ndarray, steps: int) -> None:
    from sklearn.metrics import pairwise_distances

    min_dist = np.full(matrix.shape[0], np.inf)
    center = 0
    for _ in range(steps):
        dist = pairwise_distances(matrix, matrix[[center]], metric="euclidean").ravel()
        min_dist = np.minimum(min_dist, dist)
        center = int(np.argmax(min_dist))


def measure(n: int, d: int, steps: int, repeats: int) -> dict[str, Any]:
    matrix = unit_matrix(n, d)
    vector = matrix[0].copy()
    out = np.empty(n, dtype=np.float32)
    floor = median_seconds(lambda: np.dot(matrix, vector, out=out), repeats * 5)
    one = median_seconds(lambda: kcenter_greedy(matrix, 1), repeats)
    with PeakMemory() as memory:
        many = median_seconds(lambda: kcenter_greedy(matrix, 1 + steps), repeats)
    # At tiny n (smoke) the difference can vanish in timer noise; 1 us keeps the ratios finite.
    project = max(many - one, 1e-6 * steps) / steps
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
        "matrix_mib": round(matrix.nbytes / MIB, 1),
        "memory": memory.as_dict(),
    }


def full_run(
    n: int = 1_000_000, d: int = 384, k: int = 10_000, steps: int = 1000
) -> dict[str, Any]:
    """n x d at paper scale: time `steps` greedy steps, extrapolate to k, peak RSS of the call."""
    matrix = unit_matrix(n, d)
    one_result, one_s = timed(lambda: kcenter_greedy(matrix, 1))
    with PeakMemory() as memory:
        result, many_s = timed(lambda: kcenter_greedy(matrix, 1 + steps))
    per_step = max(many_s - one_s, 0.0) / steps
    extrapolated = one_s + (k - 1) * per_step
    return {
        "n": n,
        "d": d,
        "k": k,
        "measured_steps": steps,
        "first_pick_seconds": round(one_s, 2),
        "measured_seconds": round(many_s, 1),
        "ms_per_step": round(per_step * 1e3, 3),
        "extrapolated_seconds_for_k": round(extrapolated),
        "extrapolation": (
            f"{one_s:.2f} s (validation + medoid + 1 step) + ({k} - 1) x "
            f"{per_step * 1e3:.1f} ms/step = {extrapolated:.0f} s"
        ),
        "radius_after_measured_steps": round(float(result.radius[-1]), 4),
        "first_pick": int(one_result.order[0]),
        "matrix_mib": round(matrix.nbytes / MIB, 1),
        "n_by_n_float32_would_be_gib": round(n * n * 4 / 2**30),
        "memory": memory.as_dict(),
    }


def run(quick: bool = False, smoke: bool = False, scale_steps: int = 1000) -> dict[str, Any]:
    """Full: n=100k (30 steps, 5 runs) and the n=1M case; quick: n=20k only; smoke: n=2k."""
    if smoke:
        n, steps, repeats = 2_000, 20, 1
    elif quick:
        n, steps, repeats = 20_000, 20, 3
    else:
        n, steps, repeats = 100_000, 30, 5
    report: dict[str, Any] = {"benchmark": "kcenter", **measure(n, 384, steps, repeats)}
    if not quick and not smoke:
        report["full"] = full_run(steps=scale_steps)
    return report


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    rows = [
        (
            "k-center (`bench_kcenter`)",
            f"n={result['n']:,}, d={result['d']}, per greedy step: our step (one matrix-vector "
            "product + running min) vs a scikit-learn `pairwise_distances` step",
            f"{result['project_ms_per_step']} vs {result['sklearn_ms_per_step']} ms/step: "
            f"**{result['speedup_vs_sklearn']}x**",
            ">= 8x",
        ),
        (
            "k-center vs the memory floor",
            "our step vs streaming the n x d matrix once (`X @ v`)",
            f"**{result['ratio_to_floor']}x** of the floor (below 1 is noise); peak RSS "
            f"{result['memory']['peak_rss_mib']:,.0f} MiB with a {result['matrix_mib']:,.0f} MiB "
            "matrix",
            "<= 1.5x",
        ),
    ]
    full = result.get("full")
    if full:
        memory = full["memory"]
        rows.append(
            (
                "k-center at paper scale",
                f"n={full['n']:,}, d={full['d']}, k={full['k']:,}: {full['measured_steps']} steps "
                "timed, the rest extrapolated (every step costs the same)",
                f"{full['ms_per_step']:.1f} ms/step, **~{full['extrapolated_seconds_for_k'] / 60:.0f} "
                f"min** for k={full['k']:,} ({full['extrapolation']}); peak RSS "
                f"{memory['peak_rss_mib'] / 1024:.2f} GiB: the {full['matrix_mib'] / 1024:.2f} GiB "
                f"matrix + {memory['added_mib']:,.0f} MiB added by the call "
                f"({memory['added_mib'] / full['matrix_mib']:.2f}x the matrix; linear in n, no "
                f"n x n matrix, which would take {full['n_by_n_float32_would_be_gib']:,} GiB)",
                "report",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=20k instead of 100k")
    parser.add_argument("--scale-steps", type=int, default=1000, help="steps timed at n=1M")
    parser.add_argument("--full", action="store_true", help="time all k - 1 steps at n=1M")
    args = parser.parse_args()
    steps = 9_999 if args.full else args.scale_steps
    print(json.dumps(run(quick=args.quick, scale_steps=steps), indent=2))


if __name__ == "__main__":
    main()
