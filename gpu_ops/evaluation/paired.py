"""Paired comparisons of two models on the same tasks: a bootstrap over tasks within one run,
and a t interval over seeds. Pairing removes the tasks' own difficulty from the noise, which is
most of it when two models of one lineage are compared."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from gpu_ops.errors import InputError
from gpu_ops.evaluation.intervals import paired_bootstrap as bootstrap_over_tasks


@dataclass(frozen=True)
class PairedDifference:
    """mean(a - b) with a `ci` interval; `n` tasks (bootstrap) or seeds (t interval)."""

    diff: float
    low: float
    high: float
    n: int
    ci: float

    def as_dict(self) -> dict[str, float | int | list[float]]:
        return {
            "diff": round(self.diff, 4),
            f"ci{round(self.ci * 100)}": [round(self.low, 4), round(self.high, 4)],
            "n": self.n,
        }


def paired_bootstrap(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    rounds: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> PairedDifference:
    """Per-task scores of two models (task id -> pass rate) on the same tasks: mean(a - b) and
    the percentile interval of the mean over task resamples (one run: the bootstrap of
    `gpu_ops.evaluation.intervals` with a single seed)."""
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))[:5]
        raise InputError(f"paired comparison needs the same tasks on both sides; differ: {only}")
    if not a:
        raise InputError("paired comparison needs at least one task")
    found = bootstrap_over_tasks(
        {(task, 0): value for task, value in a.items()},
        {(task, 0): value for task, value in b.items()},
        rounds=rounds,
        seed=seed,
        ci=ci,
    )
    return PairedDifference(
        float(found["difference"]), float(found["lower"]), float(found["upper"]), len(a), ci
    )


def paired_t_interval(diffs: Sequence[float], *, ci: float = 0.95) -> PairedDifference:
    """mean of per-seed differences with Student's t interval (n - 1 degrees of freedom)."""
    values = np.asarray(list(diffs), dtype=float)
    if len(values) < 2:
        raise InputError(f"a t interval needs at least two seeds, got {len(values)}")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + ci / 2, len(values) - 1) * values.std(ddof=1))
    half = half / math.sqrt(len(values))
    return PairedDifference(mean, mean - half, mean + half, len(values), ci)
