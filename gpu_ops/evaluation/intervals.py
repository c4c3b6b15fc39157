"""How sure a difference of pass@1 is: the paired bootstrap over benchmark tasks.

Two conditions evaluated on the same tasks at the same seeds give, per task and seed, two
outcomes (passed or not). Their difference is paired: a task that is easy for both cancels out.
The benchmark's tasks are the sample (the seeds are repeats of the training on each), so the
bootstrap resamples tasks, each carrying its outcomes at every seed, and the interval is the
percentile interval of the mean difference (Efron & Tibshirani 1993, ch. 13; the paired test of
Berg-Kirkpatrick et al. 2012 resamples the same way).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gpu_ops.errors import InputError

Outcome = Mapping[tuple[str, int], float]  # (task_id, seed) -> passed (0/1) or a pass rate


def paired_bootstrap(
    high: Outcome,
    low: Outcome,
    *,
    rounds: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, float | int]:
    """The mean of high - low over tasks and seeds, with its paired bootstrap interval.

    ``high`` and ``low`` must hold the same (task, seed) keys. Returns difference (the observed
    mean), lower and upper (the ``ci`` percentile interval over ``rounds`` resamples of the
    tasks), tasks and seeds (how many).
    """
    if set(high) != set(low):
        only = sorted(set(high) ^ set(low))[:3]
        raise InputError(f"paired bootstrap needs the same (task, seed) pairs; unpaired: {only}")
    if not high:
        raise InputError("paired bootstrap needs at least one (task, seed) outcome")
    if rounds < 1 or not 0 < ci < 1:
        raise InputError(f"rounds must be >= 1 and ci in (0, 1), got {rounds} and {ci}")
    tasks = sorted({task for task, _ in high})
    seeds = sorted({s for _, s in high})
    if len(high) != len(tasks) * len(seeds):
        raise InputError("paired bootstrap needs every task at every seed")
    diff = np.array([[high[(t, s)] - low[(t, s)] for s in seeds] for t in tasks], dtype=float)
    per_task = diff.mean(axis=1)  # the seeds of one task travel together
    draws = np.random.default_rng(seed).integers(0, len(tasks), size=(rounds, len(tasks)))
    means = per_task[draws].mean(axis=1)
    tail = (1 - ci) / 2 * 100
    lower, upper = np.percentile(means, [tail, 100 - tail])
    return {
        "difference": float(per_task.mean()),
        "lower": float(lower),
        "upper": float(upper),
        "tasks": len(tasks),
        "seeds": len(seeds),
    }
