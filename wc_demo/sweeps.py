"""The demo's sweeps (issue 26): does the arena's effect hold when the experts overlap, what the
winner score's global term does, and how the effect grows with the number of experts.

1. **Overlap** (`overlap_sweep`): at each cross-family share, an arena of writers at that share
   judged by the demo's judging experts (`wc_demo.sweep_arenas`), and the comparison of
   `demo_effect`: the target fine-tuned on the arena's winners, on the best single expert's
   answers (best by execution over these instructions) and on a random expert's, pass@1 on the
   held-out benchmark.
2. **Alpha** (`alpha_sweep`): on the default share's arena, the winners recomputed from its votes
   and ratings with the product's `select_winners` at each alpha: how often the winner is the
   globally strongest expert, and pass@1 of the target trained on them.
3. **Expert count** (`expert_count`): on the same pool of instructions, the winners when only a
   subset of the competitors takes part: their battles' votes alone, ratings refitted
   (`leaderboard`, the ratings stage's settings) and winners reselected. A one-expert subset is
   that expert's answers. pass@1 is averaged over every subset of each size, beside the paper's
   HumanEval ablation (75.4 / 77.2 / 80.5 with 1, 2 and 5 experts).

Every pass@1 is the mean over seeds (`target.sft.seed` and `evaluation.condition_seed` set to
each, as scripts/demo_effect_seeds.py does), and every difference has a paired bootstrap 95%
interval over tasks (`gpu_ops.evaluation.intervals`), pairing outcomes by task and seed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.evaluation.conditions import ARENA, RANDOM_EXPERT, expert_condition
from wc_demo.sweep_arenas import DEFAULT_SHARE, run_share_arena, share_writers
from wc_demo.sweep_pools import (
    Pool,
    ShareArena,
    alpha_winners,
    conditions,
    load_pool,
    subset_winners,
    subsets,
    with_winners,
)
from wc_demo.sweep_report import (
    acceptance,
    alpha_entries,
    count_entries,
    outcomes,
    overlap_entry,
    write_reports,
)
from wc_demo.sweep_runs import Request, Runner, request
from wc_foundation.storage import Home

SHARES = (0.03, 0.12, 0.25, 0.50)
ALPHAS = (0.0, 0.3, 0.7, 1.0)
SEEDS = (0, 1, 2, 3, 4)


# ------------------------------------------------------------------------------ the plan


@dataclass
class Plan:
    """Every SFT+eval request of the sweeps, by (study, condition, seed); run all at once so
    the workers stay busy, then read back per study."""

    requests: dict[tuple[str, str, int], Request]

    def add(self, study: str, name: str, seed: int, rows: Sequence[dict]) -> None:
        self.requests[(study, name, seed)] = request(f"{study}/{name}/seed-{seed}", rows, seed)


def plan_overlap(plan: Plan, arena: ShareArena, pool: Pool, seeds: Sequence[int]) -> None:
    study = f"overlap/{arena.share:.2f}"
    for seed in seeds:
        found = conditions(arena, pool, seed)
        for name in (ARENA, expert_condition(pool.best), RANDOM_EXPERT):
            plan.add(study, name, seed, found[name])


def plan_alpha(
    plan: Plan, arena: ShareArena, pool: Pool, alphas: Sequence[float], seeds: Sequence[int]
) -> dict[float, pl.DataFrame]:
    winners = {alpha: alpha_winners(arena, alpha) for alpha in alphas}
    for alpha, picked in winners.items():
        rows = with_winners(pool, picked)
        for seed in seeds:
            plan.add("alpha", f"{alpha:g}", seed, conditions(arena, pool, seed, rows)[ARENA])
    return winners


def plan_count(plan: Plan, arena: ShareArena, pool: Pool, seeds: Sequence[int]) -> None:
    for n, groups in subsets(pool.experts).items():
        for group in groups:
            name = "+".join(group)
            rows = None if n == 1 else with_winners(pool, subset_winners(arena, group))
            for seed in seeds:
                found = conditions(arena, pool, seed, rows)
                plan.add(
                    "count",
                    name,
                    seed,
                    found[expert_condition(group[0])] if n == 1 else found[ARENA],
                )


# ------------------------------------------------------------------------------ the command


class HeldLog:
    """A log that the runs' threads can write to while a share's arena runs: lines written then
    are held and written once it has finished (the pipeline sends file descriptors 1 and 2 to
    its own run log meanwhile, where a run's progress line would otherwise end up)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._held: list[str] | None = None

    def __call__(self, line: str) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(line)
                return
            self._log(line)

    @contextmanager
    def holding(self) -> Iterator[None]:
        with self._lock:
            self._held = []
        try:
            yield
        finally:
            with self._lock:
                lines, self._held = self._held, None
                for line in lines:
                    self._log(line)


def run_sweeps(
    config_path: Path,
    home: Home,
    *,
    shares: Sequence[float] = SHARES,
    alphas: Sequence[float] = ALPHAS,
    seeds: Sequence[int] = SEEDS,
    workers: int = 2,
    quick: bool = False,
    judges: Mapping[str, Path] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or resume) every sweep and write the reports; returns the sweep report.

    ``judges``: {slug: model dir} of the judges (default: the demo's general judge, installed
    from the bundle or built); ``quick``: a small arena and few tasks (plumbing)."""
    from wc_demo.experts import DEMO_JUDGE, build_demo_judge, build_demo_target

    if not seeds or not shares:
        raise InputError("the sweep needs at least one seed and one share")
    if not all(0.0 <= share <= 1.0 for share in shares):
        raise InputError(f"cross-family shares are in [0, 1], got {list(shares)}")
    started = time.perf_counter()
    timing: dict[str, float] = {}
    held = HeldLog(log)
    home.ensure()
    judges = dict(judges or {DEMO_JUDGE.slug: build_demo_judge(home.models)})
    target = build_demo_target(home.models)
    arenas: dict[float, ShareArena] = {}
    pools: dict[float, Pool] = {}
    plan = Plan({})
    runner: Runner | None = None
    # the default share first: its arena feeds every study; each share's runs start as soon as
    # its arena is done and go on while the next arena is built
    for share in [DEFAULT_SHARE, *sorted(set(shares) - {DEFAULT_SHARE})]:
        clock = time.perf_counter()
        log(f"sweep: writers at share {share:.2f}")
        writers = share_writers(home.models, share)
        timing[f"writers {share:.2f}"] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()
        log(f"sweep: arena at share {share:.2f}")
        with held.holding():  # the arena's pipeline sends fds 1 and 2 to its run log meanwhile
            share_home, config = run_share_arena(
                config_path, home, share, writers, judges, target, quick=quick
            )
        arena = arenas[share] = ShareArena(share, share_home, config)
        pool = pools[share] = load_pool(arena)
        timing[f"arena {share:.2f}"] = round(time.perf_counter() - clock, 1)
        if runner is None:
            runner = Runner(home, config, arena.benchmark, workers=workers, log=held)
        planned = set(plan.requests)
        plan_overlap(plan, arena, pool, seeds)
        if share == DEFAULT_SHARE:
            winners = plan_alpha(plan, arena, pool, alphas, seeds)
            plan_count(plan, arena, pool, seeds)
        runner.submit([req for key, req in plan.requests.items() if key not in planned])
    clock = time.perf_counter()
    keys = list(plan.requests)
    results = dict(zip(keys, runner.run([plan.requests[k] for k in keys]), strict=True))
    timing["SFT + eval runs after the last arena"] = round(time.perf_counter() - clock, 1)
    default, default_pool = arenas[DEFAULT_SHARE], pools[DEFAULT_SHARE]
    overlap = [overlap_entry(results, arenas[s], pools[s]) for s in sorted(shares)]
    every = [overlap_entry(results, arena, pools[s]) for s, arena in arenas.items()]
    count = count_entries(results, default_pool)
    timing["total"] = round(time.perf_counter() - started, 1)
    report = {
        "overlap_sweep": overlap,
        "alpha_sweep": alpha_entries(results, default_pool, winners),
        "expert_count": count,
        "acceptance": acceptance(every, count, DEFAULT_SHARE),
        "default_share": DEFAULT_SHARE,
        "seeds": list(seeds),
        "benchmark": default.benchmark,
        "n_tasks": len({task for task, _ in outcomes(results, *next(iter(keys))[:2])}),
        "runs": len(keys),
        "runs_distinct": len({runner.key(r) for r in plan.requests.values()}),
        "workers": workers,
        "cpus": os.cpu_count(),
        "quick": quick,
        "seconds": timing,
    }
    write_reports(home, report)
    return report
