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

import itertools
import json
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.arena.ratings import leaderboard, ratings_from_leaderboard
from gpu_ops.errors import InputError
from gpu_ops.evaluation.benchmarks import benchmark_recognizer
from gpu_ops.evaluation.conditions import (
    ARENA,
    RANDOM_EXPERT,
    best_expert,
    condition_rows,
    expert_condition,
)
from gpu_ops.evaluation.intervals import paired_bootstrap
from gpu_ops.sft_data.winners import select_winners
from gpu_ops.training.sft import load_sft_rows
from wc_demo.experts import DEMO_EXPERTS
from wc_demo.sweep_arenas import run_share_arena, share_writers
from wc_demo.sweep_runs import Request, Runner, request
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import Home, read_lake_table
from wc_foundation.warehouse import query, read_model

SHARES = (0.03, 0.12, 0.25, 0.50)
DEFAULT_SHARE = DEMO_EXPERTS[0].other_share  # the demo's own experts' share
ALPHAS = (0.0, 0.3, 0.7, 1.0)
SEEDS = (0, 1, 2, 3, 4)
PAPER_EXPERT_COUNT = {1: 75.4, 2: 77.2, 5: 80.5}  # HumanEval pass@1 (paper, ablation)
MIN_MARGIN = 0.05  # the acceptance: arena >= best single + 0.05 at the default share
REPORT = "demo_sweeps"
JUDGE_AGREEMENT_SQL = "select judge, agreement_rate, no_skill_agreement from judge_vs_execution"

Outcomes = dict[tuple[str, int], float]


@dataclass(frozen=True)
class ShareArena:
    """One share's finished arena: its home (lake and warehouse) and its config."""

    share: float
    home: Home
    config: ArenaConfig

    @property
    def benchmark(self) -> str:
        settings = self.config.evaluation
        return [*settings.benchmarks, *settings.extra_jsonl][0]


@dataclass(frozen=True)
class Pool:
    """What every condition of one arena draws from: the exported winners' instructions and
    every competitor's answers to them."""

    arena_rows: list[dict]
    responses: pl.DataFrame
    best: str  # the best single expert, by execution over these instructions
    strongest: str  # the globally strongest expert (the winner rating)

    @property
    def experts(self) -> list[str]:
        return sorted(self.responses["expert"].unique().to_list())


def load_pool(arena: ShareArena) -> Pool:
    rows = load_sft_rows(arena.home.sft / "sft_dataset.jsonl")
    ratings = global_ratings(arena)
    best = best_expert(
        read_lake_table(arena.home, "execution_results"), [r["instruction_id"] for r in rows]
    )
    responses = read_lake_table(arena.home, "responses").select(
        "instruction_id", "expert", "response"
    )
    return Pool(rows, responses, best, max(sorted(ratings), key=lambda slug: ratings[slug]))


def global_ratings(arena: ShareArena) -> dict[str, float]:
    method = arena.config.ratings.winner_method()
    return ratings_from_leaderboard(read_lake_table(arena.home, "expert_ratings"), method)


def conditions(
    arena: ShareArena, pool: Pool, seed: int, arena_rows: Sequence[dict] | None = None
) -> dict[str, list[dict]]:
    """`demo_effect`'s conditions at ``seed`` (every single expert included); ``arena_rows``
    replaces the exported winners (recomputed winners), filtered the same way."""
    found, _ = condition_rows(
        pool.arena_rows if arena_rows is None else arena_rows,
        pool.responses,
        seed=seed,
        is_benchmark_instruction=benchmark_recognizer(arena.benchmark),
    )
    return found


def with_winners(pool: Pool, winners: pl.DataFrame) -> list[dict]:
    """The exported rows with each instruction answered by ``winners``' pick instead."""
    answers = {
        (iid, expert): text or ""
        for iid, expert, text in pool.responses.select(
            "instruction_id", "expert", "response"
        ).iter_rows()
    }
    picks = dict(winners.select("instruction_id", "winner").iter_rows())
    rows = []
    for row in pool.arena_rows:
        iid = row["instruction_id"]
        if iid not in picks:
            raise InputError(f"no recomputed winner for exported instruction {iid}")
        user = next(m["content"] for m in row["messages"] if m["role"] == "user")
        rows.append(
            {
                "instruction_id": iid,
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answers[(iid, picks[iid])]},
                ],
            }
        )
    return rows


def alpha_winners(arena: ShareArena, alpha: float) -> pl.DataFrame:
    """The winners at ``alpha`` from the arena's own votes and ratings (the SFT stage's code)."""
    settings = arena.config.ratings
    return select_winners(
        read_model(arena.home, "winner_inputs"),
        global_ratings(arena),
        alpha=alpha,
        scale=settings.scale,
        base=settings.base,
    )


def subset_winners(arena: ShareArena, subset: Sequence[str]) -> pl.DataFrame:
    """The winners had only ``subset`` competed: the votes of their battles alone, ratings
    refitted with the ratings stage's settings, winners reselected at the config's alpha."""
    if len(subset) < 2:
        raise InputError(f"a subset arena needs two competitors, got {list(subset)}")
    inside = pl.col("model_a").is_in(list(subset)) & pl.col("model_b").is_in(list(subset))
    votes = (
        read_model(arena.home, "elo_battle_sequence", order_by=["battle_order"])
        .drop("battle_order")
        .filter(inside)
    )
    settings = arena.config.ratings
    method = settings.winner_method()
    table = leaderboard(
        votes,
        method="bt" if method == "bt" else "elo",
        bootstrap_rounds=settings.bootstrap_rounds,
        seed=settings.seed,
        k=settings.elo_k,
        scale=settings.scale,
        base=settings.base,
        initial=settings.initial_rating,
        unit=settings.bootstrap_unit,
    )
    return select_winners(
        read_model(arena.home, "winner_inputs").filter(inside),
        ratings_from_leaderboard(table, method),
        alpha=arena.config.winners.alpha,
        scale=settings.scale,
        base=settings.base,
    )


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


def subsets(experts: Sequence[str]) -> dict[int, list[tuple[str, ...]]]:
    """Every subset of the competitors, by size."""
    ordered = sorted(experts)
    return {n: list(itertools.combinations(ordered, n)) for n in range(1, len(ordered) + 1)}


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


# ------------------------------------------------------------------------------ the report


def outcomes(results: Mapping[tuple[str, str, int], dict], study: str, name: str) -> Outcomes:
    """{(task, seed): passed} of one condition over every seed it ran at."""
    return {
        (task, seed): passed
        for (s, n, seed), result in results.items()
        if s == study and n == name
        for task, passed in result["passed"].items()
    }


def summary(results: Mapping[tuple[str, str, int], dict], study: str, name: str) -> dict:
    per_seed = sorted(
        (seed, r["pass_at_1"]) for (s, n, seed), r in results.items() if (s, n) == (study, name)
    )
    values = [round(v, 4) for _, v in per_seed]
    return {
        "pass_at_1": round(statistics.mean(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "per_seed": values,
    }


def interval(high: Outcomes, low: Outcomes) -> dict:
    found = paired_bootstrap(high, low)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in found.items()}


def averaged(parts: Sequence[Outcomes]) -> Outcomes:
    """Per (task, seed), the mean outcome over several conditions (subsets of one size)."""
    return {key: statistics.mean(part[key] for part in parts) for key in parts[0]}


def overlap_entry(results, arena: ShareArena, pool: Pool) -> dict:
    study = f"overlap/{arena.share:.2f}"
    best = expert_condition(pool.best)
    judges = query(arena.home, JUDGE_AGREEMENT_SQL).sort("judge")
    cells = {
        name: summary(results, study, key)
        for name, key in (
            ("arena", ARENA),
            ("best_single_expert", best),
            ("random_expert", RANDOM_EXPERT),
        )
    }
    arena_out = outcomes(results, study, ARENA)
    return {
        "share": arena.share,
        **{name: cell["pass_at_1"] for name, cell in cells.items()},
        "arena_minus_best_single": interval(arena_out, outcomes(results, study, best)),
        "arena_minus_random": interval(arena_out, outcomes(results, study, RANDOM_EXPERT)),
        "best_single_expert_slug": pool.best,
        "per_seed": {name: cell["per_seed"] for name, cell in cells.items()},
        "sd": {name: cell["sd"] for name, cell in cells.items()},
        "train_rows": len(conditions(arena, pool, 0)[ARENA]),
        "wins_per_expert": _wins(pool.arena_rows, arena),
        "judge_agreement_with_execution": _by_judge(judges, "agreement_rate"),
        "no_skill_agreement": _by_judge(judges, "no_skill_agreement"),
    }


def _by_judge(judges: pl.DataFrame, column: str) -> dict[str, float | None]:
    return {
        row["judge"]: None if row[column] is None else round(row[column], 4)
        for row in judges.iter_rows(named=True)
    }


def _wins(arena_rows: Sequence[dict], arena: ShareArena) -> dict[str, int]:
    winners = read_lake_table(arena.home, "sft_winners").filter(
        pl.col("instruction_id").is_in([r["instruction_id"] for r in arena_rows])
    )
    return dict(sorted(winners.group_by("winner").len().iter_rows()))


def alpha_entries(results, pool: Pool, winners: Mapping[float, pl.DataFrame]) -> list[dict]:
    pooled = [r["instruction_id"] for r in pool.arena_rows]
    best = outcomes(results, f"overlap/{DEFAULT_SHARE:.2f}", expert_condition(pool.best))
    entries = []
    for alpha, picked in winners.items():
        mine = picked.filter(pl.col("instruction_id").is_in(pooled))
        cell = summary(results, "alpha", f"{alpha:g}")
        entry = {
            "alpha": alpha,
            "pass_at_1": cell["pass_at_1"],
            "winner_is_strongest": round(float((mine["winner"] == pool.strongest).mean()), 4),
            "strongest_expert": pool.strongest,
            "wins_per_expert": dict(sorted(mine.group_by("winner").len().iter_rows())),
            "per_seed": cell["per_seed"],
            "sd": cell["sd"],
        }
        if best:
            entry["minus_best_single"] = interval(outcomes(results, "alpha", f"{alpha:g}"), best)
        entries.append(entry)
    return entries


def count_entries(results, pool: Pool) -> list[dict]:
    entries, previous = [], None
    for n, groups in subsets(pool.experts).items():
        names = ["+".join(group) for group in groups]
        mean = averaged([outcomes(results, "count", name) for name in names])
        cells = {name: summary(results, "count", name) for name in names}
        per_seed = [
            round(statistics.mean(cells[name]["per_seed"][i] for name in names), 4)
            for i in range(len(next(iter(cells.values()))["per_seed"]))
        ]
        entry = {
            "n_experts": n,
            "pass_at_1": round(statistics.mean(c["pass_at_1"] for c in cells.values()), 4),
            "per_seed": per_seed,
            "subsets": [{"experts": name.split("+"), **cell} for name, cell in cells.items()],
            "paper_humaneval_pass_at_1": PAPER_EXPERT_COUNT.get(n),
        }
        if previous is not None:
            entry["minus_one_fewer"] = interval(mean, previous)
        entries.append(entry)
        previous = mean
    return entries


def acceptance(overlap: Sequence[dict], count: Sequence[dict], default_share: float) -> dict:
    """The issue's acceptance, computed from the sweep (never asserted here)."""
    default = next((e for e in overlap if e["share"] == default_share), None)
    losing = [e["share"] for e in overlap if e["arena_minus_best_single"]["upper"] < 0]
    decreasing = [e["n_experts"] for e in count if e.get("minus_one_fewer", {}).get("upper", 0) < 0]
    margin = default["arena_minus_best_single"]["difference"] if default else None
    return {
        "arena_minus_best_single_at_default_share": margin,
        "arena_at_least_0.05_above_best_single_at_default_share": (
            margin is not None and margin >= MIN_MARGIN
        ),
        "shares_where_best_single_is_better_beyond_noise": losing,
        "expert_counts_that_decrease_beyond_noise": decreasing,
        "expert_count_non_decreasing_within_noise": not decreasing,
    }


# ------------------------------------------------------------------------------ the command


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

    ``judges``: {expert slug: model dir} of the judging experts (default: the demo's experts,
    installed from the bundle or built); ``quick``: a small arena and few tasks (plumbing)."""
    from wc_demo.experts import build_demo_experts, build_demo_target

    if not seeds or not shares:
        raise InputError("the sweep needs at least one seed and one share")
    started = time.perf_counter()
    timing: dict[str, float] = {}
    home.ensure()
    judges = dict(judges or build_demo_experts(home.models))
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
        share_home, config = run_share_arena(
            config_path, home, share, writers, judges, target, quick=quick
        )
        arena = arenas[share] = ShareArena(share, share_home, config)
        pool = pools[share] = load_pool(arena)
        timing[f"arena {share:.2f}"] = round(time.perf_counter() - clock, 1)
        if runner is None:
            runner = Runner(home, config, arena.benchmark, workers=workers, log=log)
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


def write_reports(home: Home, report: dict[str, Any]) -> Path:
    """reports/demo_sweeps.json and .md, and the sweep keys merged into demo_effect.json."""
    folder = home.reports
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / f"{REPORT}.json", json.dumps(report, indent=2))
    _write(folder / f"{REPORT}.md", markdown(report))
    effect_path = folder / "demo_effect.json"
    effect = json.loads(effect_path.read_text(encoding="utf-8")) if effect_path.is_file() else {}
    for key in ("overlap_sweep", "alpha_sweep", "expert_count"):
        effect[key] = report[key]
    _write(effect_path, json.dumps(effect, indent=2))
    return folder / f"{REPORT}.json"


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _ci(found: Mapping[str, Any]) -> str:
    return f"{found['difference']:+.3f} [{found['lower']:+.3f}, {found['upper']:+.3f}]"


def markdown(report: Mapping[str, Any]) -> str:
    """The report's tables, as docs/DEMO.md shows them."""
    seeds = len(report["seeds"])
    lines = [
        f"# Demo sweeps ({report['n_tasks']} tasks of {report['benchmark']}, {seeds} seeds, "
        "paired bootstrap 95% intervals over tasks)",
        "",
        "| share | arena | best single | random | arena - best single | arena - random |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in report["overlap_sweep"]:
        lines.append(
            f"| {e['share']:.2f} | {e['arena']:.3f} | {e['best_single_expert']:.3f} "
            f"({e['best_single_expert_slug']}) | {e['random_expert']:.3f} | "
            f"{_ci(e['arena_minus_best_single'])} | {_ci(e['arena_minus_random'])} |"
        )
    lines += [
        "",
        "| alpha | pass@1 | winner is the strongest expert | minus best single |",
        "| --- | --- | --- | --- |",
    ]
    for e in report["alpha_sweep"]:
        versus = _ci(e["minus_best_single"]) if "minus_best_single" in e else ""
        lines.append(
            f"| {e['alpha']:g} | {e['pass_at_1']:.3f} | {e['winner_is_strongest']:.2f} "
            f"({e['strongest_expert']}) | {versus} |"
        )
    lines += [
        "",
        "| experts | pass@1 (mean over subsets) | minus one expert fewer | paper (HumanEval) |",
        "| --- | --- | --- | --- |",
    ]
    for e in report["expert_count"]:
        versus = _ci(e["minus_one_fewer"]) if "minus_one_fewer" in e else ""
        paper = e["paper_humaneval_pass_at_1"]
        lines.append(
            f"| {e['n_experts']} | {e['pass_at_1']:.3f} | {versus} | "
            f"{'' if paper is None else paper} |"
        )
    lines += ["", "Acceptance: " + json.dumps(report["acceptance"]), ""]
    return "\n".join(lines)
