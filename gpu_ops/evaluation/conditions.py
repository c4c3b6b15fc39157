"""The paper's comparison: what the target learns from the arena's winners against the baselines.

Four conditions, each the same instructions and the same training budget, so only *which answer*
each instruction gets differs:

- ``base``: the target before SFT;
- ``arena``: the arena's winning response per instruction (the exported SFT set);
- ``expert:<slug>``: every instruction answered by the best single expert, the one whose
  answers to these instructions score highest with the execution judge (what a practitioner
  with tests would distil from; ``best_expert``);
- ``random_expert``: each instruction answered by an expert drawn at random (seeded per
  instruction).

Instructions the benchmark could recognise as its own (``is_benchmark_instruction``) are left
out of every condition, and counted. Pure functions: the Dagster asset trains and evaluates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from gpu_ops.errors import InputError

ARENA = "arena"
RANDOM_EXPERT = "random_expert"
EXPERT_PREFIX = "expert:"


def expert_condition(slug: str) -> str:
    return f"{EXPERT_PREFIX}{slug}"


def random_pick(instruction_id: str, experts: Sequence[str], seed: int) -> str:
    """The expert the random condition uses for one instruction (stable across runs)."""
    digest = hashlib.sha256(f"{seed}\x1f{instruction_id}".encode()).digest()
    return sorted(experts)[int.from_bytes(digest[:8], "big") % len(experts)]


def best_expert(execution_results: pl.DataFrame, instruction_ids: Sequence[str]) -> str:
    """The expert whose answers to these instructions have the highest mean exec_score (ties:
    the first slug)."""
    scores = (
        execution_results.filter(pl.col("instruction_id").is_in(list(instruction_ids)))
        .group_by("expert")
        .agg(pl.col("exec_score").fill_null(0.0).mean().alias("mean_score"))
        .sort(["mean_score", "expert"], descending=[True, False])
    )
    if scores.is_empty():
        raise InputError("no execution results for these instructions: no best expert to pick")
    return str(scores["expert"][0])


def condition_rows(
    arena_rows: Sequence[Mapping[str, Any]],
    responses: pl.DataFrame,
    *,
    single_experts: Sequence[str] | None = None,
    seed: int = 0,
    is_benchmark_instruction: Callable[[str], bool] | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """({condition: SFT rows}, instructions left out) over the instructions every expert answered.

    ``arena_rows``: the exported SFT rows (instruction_id, messages: user then assistant).
    ``responses``: instruction_id, expert, response (every competitor's answers).
    ``single_experts``: the experts that get a single-expert condition (default: every one).
    """
    missing = {"instruction_id", "expert", "response"} - set(responses.columns)
    if missing:
        raise InputError(f"responses lack columns {sorted(missing)}")
    experts = sorted(responses["expert"].unique().to_list())
    if len(experts) < 2:
        raise InputError(f"the comparison needs at least two experts, got {experts}")
    answers: dict[tuple[str, str], str] = {
        (iid, expert): text or ""
        for iid, expert, text in responses.select(
            "instruction_id", "expert", "response"
        ).iter_rows()
    }
    singles = sorted(single_experts) if single_experts is not None else experts
    unknown = sorted(set(singles) - set(experts))
    if unknown:
        raise InputError(f"single_experts {unknown} gave no responses")
    conditions: dict[str, list[dict[str, Any]]] = {ARENA: [], RANDOM_EXPERT: []}
    conditions.update({expert_condition(e): [] for e in singles})
    left_out = 0
    for row in arena_rows:
        iid = row["instruction_id"]
        user = next(m["content"] for m in row["messages"] if m["role"] == "user")
        if not all((iid, e) in answers for e in experts):
            left_out += 1  # an instruction some expert never answered cannot be compared
            continue
        if is_benchmark_instruction is not None and is_benchmark_instruction(user):
            left_out += 1
            continue
        conditions[ARENA].append(_row(iid, user, row["messages"][-1]["content"]))
        for expert in singles:
            conditions[expert_condition(expert)].append(_row(iid, user, answers[(iid, expert)]))
        pick = random_pick(iid, experts, seed)
        conditions[RANDOM_EXPERT].append(_row(iid, user, answers[(iid, pick)]))
    if not conditions[ARENA]:
        raise InputError("no instruction is left to compare the conditions on")
    return conditions, left_out


def _row(iid: str, instruction: str, response: str) -> dict[str, Any]:
    """Not `sft_export.to_chat_messages`: an expert's empty answer is a data point here."""
    return {
        "instruction_id": iid,
        "messages": [
            {"role": "user", "content": instruction},
            {"role": "assistant", "content": response},
        ],
    }


# The judges' rows of the report: agreement with execution, split by execution's verdict, next to
# the no-skill floor (the `judge_vs_execution` mart), then position bias (`judge_position_bias`).
JUDGE_SHARES = (
    "agreement_with_execution",
    "agreement_on_decided",
    "agreement_on_ties",
    "no_skill_agreement",
    "first_pick_share",
    "flip_rate",
)
JUDGE_COLUMNS = ("judge", *JUDGE_SHARES, "shared_battles")


def effect_report(
    pass_at_1: Mapping[str, float],
    *,
    n_tasks: int,
    benchmark: str,
    train_rows: int,
    left_out: int,
    judges: pl.DataFrame,
) -> dict[str, Any]:
    """The report: the four headline numbers, then every condition and judge in detail.

    ``pass_at_1`` maps base, arena, random_expert and every expert:<slug> to pass@1.
    ``judges``: one row per LLM judge with at least judge and agreement_with_execution (the
    demo adds the split by execution's verdict, position bias and flip rate).
    """
    singles = {
        k.removeprefix(EXPERT_PREFIX): v
        for k, v in pass_at_1.items()
        if k.startswith(EXPERT_PREFIX)
    }
    if not singles:
        raise InputError("no single-expert condition was evaluated")
    best = max(sorted(singles), key=lambda slug: singles[slug])
    return {
        "n_tasks": n_tasks,
        "pass_at_1": {
            "base": pass_at_1["base"],
            "best_single_expert": singles[best],
            "random_expert": pass_at_1[RANDOM_EXPERT],
            "arena": pass_at_1[ARENA],
        },
        "judge_agreement_with_execution": {
            row["judge"]: row["agreement_with_execution"] for row in judges.iter_rows(named=True)
        },
        "benchmark": benchmark,
        "best_single_expert": best,
        "single_expert_pass_at_1": singles,
        "train_rows_per_condition": train_rows,
        "instructions_left_out": left_out,
        "judges": judges.to_dicts(),
    }


def effect_table(report: Mapping[str, Any]) -> pl.DataFrame:
    """One row per condition, in the report's order, for printing."""
    rows = [
        ("base (before SFT)", report["pass_at_1"]["base"]),
        *(
            (f"single expert: {slug}", value)
            for slug, value in sorted(report["single_expert_pass_at_1"].items())
        ),
        ("random expert per instruction", report["pass_at_1"]["random_expert"]),
        ("arena winners", report["pass_at_1"]["arena"]),
    ]
    return pl.DataFrame(
        {"condition": [name for name, _ in rows], "pass@1": [round(v, 3) for _, v in rows]}
    )


def effect_chart(report: Mapping[str, Any]) -> Any:
    """A matplotlib bar chart of pass@1 per condition (the caller saves or embeds it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = effect_table(report)
    figure, axis = plt.subplots(figsize=(7, 3.2))
    names = table["condition"].to_list()
    values = table["pass@1"].to_list()
    colors = ["#9e9e9e"] + ["#90caf9"] * (len(names) - 3) + ["#ffcc80", "#66bb6a"]
    bars = axis.barh(names[::-1], values[::-1], color=colors[::-1])
    for bar, value in zip(bars, values[::-1], strict=True):
        axis.text(
            bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, f"{value:.3f}", va="center"
        )
    axis.set_xlim(0, 1.1)
    axis.set_xlabel(f"pass@1 on {report['n_tasks']} held-out tasks ({report['benchmark']})")
    axis.set_title("Target fine-tuned on each condition's answers (same instructions, same budget)")
    figure.tight_layout()
    return figure
