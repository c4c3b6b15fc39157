"""What `warriorcoder run` prints at the end: counts per stage, leaderboard, SFT rows, pass@1."""

from __future__ import annotations

import json

import polars as pl
from rich.console import Console
from rich.table import Table

from wc_foundation.storage import Home, lake_partitions, read_lake_table
from wc_foundation.warehouse import query, table_exists

STAGE_COUNTS = (
    ("mined", "stg_instructions_mined"),
    ("clean", "instructions_clean"),
    ("after dedup", "instructions_dedup"),
    ("kept (difficulty)", "instructions_kept"),
    ("selected (k-center)", "instructions_for_battle"),
    ("battles", "battles"),
    ("votes", "battle_votes"),
)


def stage_counts(home: Home) -> pl.DataFrame:
    """Row counts of each stage's main table (missing tables are left out)."""
    rows = [
        (label, int(query(home, f'select count(*) as n from "{table}"')["n"][0]))
        for label, table in STAGE_COUNTS
        if table_exists(home, table)
    ]
    return pl.DataFrame(rows, schema={"stage": pl.String, "rows": pl.Int64}, orient="row")


def _table(frame: pl.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column)
    for row in frame.iter_rows():
        table.add_row(
            *[
                f"{v:.3f}"
                if isinstance(v, float) and abs(v) < 10
                else (f"{v:.1f}" if isinstance(v, float) else str(v))
                for v in row
            ]
        )
    return table


def print_step_summary(summary, console: Console) -> None:
    """One line per stage: steps run and skipped (up to date), and the seconds its runs took."""
    stages: dict[str, list[int]] = {}
    for label in summary.steps_run:
        stages.setdefault(_stage(label), [0, 0])[0] += 1
    for label in summary.steps_skipped:
        stages.setdefault(_stage(label), [0, 0])[1] += 1
    table = Table(title="steps (skipped = inputs unchanged since their last run)")
    for column in ("step", "run", "skipped", "seconds"):
        table.add_column(column)
    for name, (ran, skipped) in stages.items():
        seconds = summary.seconds_by_label.get(name, 0.0)
        table.add_row(name, str(ran), str(skipped), f"{seconds:.1f}")
    console.print(table)


def _stage(label: str) -> str:
    """A step label without its partition: `responses[strong]` -> `responses`."""
    return label.split("[")[0]


JUDGE_LABELS = {
    "judge": "judge",
    "agreement_with_execution": "agreement",
    "agreement_on_decided": "on decided",
    "agreement_on_ties": "on ties",
    "no_skill_agreement": "no-skill",
    "first_pick_share": "first picks",
    "flip_rate": "flips",
}


def print_demo_effect(home: Home, console: Console) -> bool:
    """The paper's comparison (asset `demo_effect`), when this run made it; whether it did."""
    path = home.reports / "demo_effect.json"
    if not path.is_file():
        return False
    from gpu_ops.evaluation.conditions import effect_table

    report = json.loads(path.read_text(encoding="utf-8"))
    title = (
        f"the arena's effect: pass@1 of the target on {report['n_tasks']} held-out tasks, "
        f"{report['train_rows_per_condition']} SFT rows per condition"
    )
    console.print(_table(effect_table(report), title))
    judges = pl.DataFrame(report["judges"])
    shown = {name: label for name, label in JUDGE_LABELS.items() if name in judges.columns}
    title = "LLM judges against the execution judge (no-skill: a judge that never decides)"
    console.print(_table(judges.select(list(shown)).rename(shown), title))
    if "judges_trained_on_benchmark_families" in report:  # reports of before issue 26 lack it
        console.print(judge_independence_line(report))
    console.print(f"report: {path}  chart: {path.with_suffix('.png')}")
    return True


def judge_independence_line(report: dict) -> str:
    """Whether the LLM judges learned to judge on a family they judge or the benchmark holds."""
    trained = report["judges_trained_on_benchmark_families"]

    def learned(names: list[str] | None) -> str:
        if names is None:
            return "unknown"
        return "+".join(names) if names else "nothing (never trained to judge)"

    families = ", ".join(
        f"{judge}: {learned(names)}" for judge, names in report.get("judging_families", {}).items()
    )
    return (
        f"judges trained on benchmark families: {str(trained).lower()} "
        f"(each judge learned to judge on: {families or 'no LLM judge'})"
    )


def judge_calls(home: Home) -> dict[str, int | str] | None:
    """LLM judge calls spent and what the full schedule needs (lake table `judging_schedule`)."""
    if not lake_partitions(home, "judging_schedule"):
        return None
    frame = read_lake_table(home, "judging_schedule")
    return {
        "schedule": ",".join(sorted(set(frame["schedule"].to_list()))),
        "calls_spent": int(frame["calls_spent"].sum()),
        "calls_full": int(frame["calls_full"].sum()),
    }


def print_judge_calls(home: Home, console: Console) -> None:
    calls = judge_calls(home)
    if calls is None:
        return
    spent, full = calls["calls_spent"], calls["calls_full"]
    ratio = f" ({full / spent:.2f}x fewer)" if spent and spent < full else ""
    console.print(
        f"LLM judge calls ({calls['schedule']} schedule): {spent} spent; the full schedule "
        f"needs {full}{ratio}"
    )


def judge_weights_line(home: Home) -> str | None:
    """Under `judging.aggregate: reliability`, one line with each LLM judge's weight and
    estimated accuracy, naming the judges that could not be estimated (lake `judge_reliability`);
    None under `vote` or before judging."""
    if not lake_partitions(home, "judge_reliability"):
        return None
    frame = read_lake_table(home, "judge_reliability")
    if frame.is_empty() or set(frame["aggregate"]) != {"reliability"}:
        return None
    estimated = frame.filter(pl.col("estimated"))
    parts = [
        f"{judge} {weight:.2f} (accuracy {accuracy:.3f})"
        for judge, weight, accuracy in estimated.select("judge", "weight", "accuracy").rows()
    ]
    alone = frame.filter(~pl.col("estimated"))["judge"].to_list()
    line = "LLM judge weights (judging.aggregate reliability): " + (", ".join(parts) or "none")
    if alone:
        line += (
            f"; not estimated, weight 1 (no battle shared with another judge): {', '.join(alone)}"
        )
    return line


def print_run_report(home: Home, console: Console) -> None:
    """Print the end-of-run summary; every part is optional (a partial run prints what exists)."""
    if not home.warehouse.exists():
        console.print("no warehouse yet")
        return
    console.print(_table(stage_counts(home), "rows per stage"))
    print_judge_calls(home, console)
    weights = judge_weights_line(home)
    if weights:
        console.print(weights)
    if table_exists(home, "leaderboard"):
        board = query(
            home,
            "select method, rank, expert, rating, ci_lower, ci_upper, games, win_rate from leaderboard order by method, rank",
        )
        console.print(_table(board, "leaderboard (95% bootstrap CIs)"))
    sft_file = home.sft / "sft_dataset.parquet"
    if sft_file.exists():
        console.print(f"SFT rows: {pl.read_parquet(sft_file).height}  ->  {home.sft}")
    if not print_demo_effect(home, console) and table_exists(home, "evaluation_summary"):
        # (the comparison's table holds the base and fine-tuned rows already)
        console.print(_table(query(home, "select * from evaluation_summary"), "evaluation"))
    console.print(f"warehouse: {home.warehouse}  (read-only: `duckdb -readonly {home.warehouse}`)")
    console.print(f"lake: {home.lake}   reports: {home.reports}   UI: `make ui`")


def flywheel_table(report: dict) -> pl.DataFrame:
    """One row per round and control: who was in it, what it trained on, pass@1 and its
    paired difference with round 1 (bootstrap over the held-out tasks)."""
    against_first = {
        p["round"]: p for p in report["paired"] if p.get("against") == "round 1" and "round" in p
    }
    rows = []
    for entry in [*report["rounds"], *report["controls"]]:
        name = f"{entry['kind']} {entry['round']}"
        paired = against_first.get(entry["round"]) if entry["kind"] == "round" else None
        interval = next((v for k, v in (paired or {}).items() if k.startswith("ci")), None)
        rows.append(
            {
                "round": name,
                "experts": len(entry["experts"]),
                "joined": entry["joined"] or "",
                "new instructions": entry["new_instructions"],
                "SFT rows": entry["sft_rows"],
                "model calls": entry["model_calls"],
                "pass@1": entry["pass_at_1"],
                "vs round 1": f"{paired['diff']:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]"
                if paired and interval
                else "",
            }
        )
    order = {f"round {r['round']}": 2 * r["round"] for r in report["rounds"]}
    order |= {f"control {c['round']}": 2 * c["round"] + 1 for c in report["controls"]}
    return pl.DataFrame(rows).sort(pl.col("round").replace_strict(order, return_dtype=pl.Int64))


def print_flywheel_report(report: dict, console: Console) -> None:
    title = (
        f"the flywheel: pass@1 of each round's target on the same {report['n_tasks']} held-out "
        f"tasks ({report['benchmark']}); paired 95% bootstrap interval over the tasks"
    )
    console.print(_table(flywheel_table(report), title))
