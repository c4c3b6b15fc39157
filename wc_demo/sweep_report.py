"""The sweeps' report: pass@1 per condition over seeds, paired bootstrap intervals, the issue's
acceptance computed from them, and the files (reports/demo_sweeps.json and .md, and the sweep
keys merged into reports/demo_effect.json)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.evaluation.conditions import ARENA, RANDOM_EXPERT, expert_condition
from gpu_ops.evaluation.intervals import paired_bootstrap
from wc_demo.sweep_arenas import DEFAULT_SHARE
from wc_demo.sweep_pools import Pool, ShareArena, conditions, subsets
from wc_foundation.storage import Home, read_lake_table
from wc_foundation.warehouse import query

PAPER_EXPERT_COUNT = {1: 75.4, 2: 77.2, 5: 80.5}  # HumanEval pass@1 (paper, ablation)
MIN_MARGIN = 0.05  # the acceptance: arena >= best single + 0.05 at the default share
REPORT = "demo_sweeps"
JUDGE_AGREEMENT_SQL = "select judge, agreement_rate, no_skill_agreement from judge_vs_execution"

Outcomes = dict[tuple[str, int], float]


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
