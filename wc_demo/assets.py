"""The demo's Dagster asset: `demo_effect`, the paper's comparison of training conditions, in the
`evaluation` group (the product's definitions include it when the demo plugin is installed: entry
point group `warriorcoder.definitions`)."""

import json
from pathlib import Path

import dagster as dg
import polars as pl

from dagster_wc.defs.evaluation import evaluate_with_settings
from dagster_wc.defs.training import target_sft_dir, target_sft_job
from dagster_wc.metadata import markdown_table, png_image
from dagster_wc.orchestration.partitions import NEEDS_TARGET_TAG
from dagster_wc.resources import ArenaResource
from gpu_ops.evaluation.benchmarks import benchmark_recognizer, load_benchmark, summarize
from gpu_ops.evaluation.conditions import (
    ARENA,
    JUDGE_COLUMNS,
    RANDOM_EXPERT,
    best_expert,
    condition_rows,
    effect_chart,
    effect_report,
    effect_table,
    expert_condition,
)
from gpu_ops.state_db import open_call_cache
from gpu_ops.training.sft import load_sft_rows, read_finished_report, run_sft_subprocess
from wc_demo.independence import heldout_benchmark, judge_independence
from wc_foundation.storage import read_lake_table
from wc_foundation.warehouse import query

JUDGE_AGREEMENT_SQL = """
select
    judge,
    agreement_rate as agreement_with_execution,
    agreement_on_decided,
    agreement_on_ties,
    no_skill_agreement,
    shared_battles
from judge_vs_execution
"""
POSITION_BIAS_SQL = "select judge, first_pick_share, flip_rate from judge_position_bias"


@dg.asset(
    group_name="evaluation",
    kinds={"python", "pytorch"},
    deps=["evaluation", "judge_vs_execution", "judge_position_bias", "battle_instructions"],
    tags={NEEDS_TARGET_TAG: "true"},
)
def demo_effect(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """The paper's comparison: the target fine-tuned on the arena's winners against the same
    instructions answered by each single expert and by a random expert, same budget, pass@1 on
    the first benchmark (`evaluation.compare_conditions`; off: nothing is trained)."""
    config = arena.arena_config
    settings = config.evaluation
    target = config.target
    report_path = arena.home.reports / "demo_effect.json"
    if target is None or not settings.compare_conditions:
        for stale in (report_path, report_path.with_suffix(".png")):  # from an earlier config
            stale.unlink(missing_ok=True)
        return dg.MaterializeResult(metadata={"enabled": False})
    benchmark = [*settings.benchmarks, *settings.extra_jsonl][0]
    arena_rows = load_sft_rows(arena.home.sft / "sft_dataset.jsonl")
    best = best_expert(
        read_lake_table(arena.home, "execution_results"),
        [row["instruction_id"] for row in arena_rows],
    )
    conditions, left_out = condition_rows(
        arena_rows,
        read_lake_table(arena.home, "responses"),
        single_experts=[best],
        seed=settings.condition_seed,
        is_benchmark_instruction=benchmark_recognizer(benchmark),
    )
    pass_at_1 = {"base": _base_pass_at_1(arena, benchmark)}
    outcomes: dict[str, dict[str, float]] = {}
    cache = open_call_cache(arena.home.llm_cache, arena.arena_config.compute.state_url)
    try:
        for name, rows in conditions.items():
            model_dir = _train_condition(context, arena, name, rows, len(arena_rows))
            tuned = target.model_copy(
                update={"model": str(model_dir), "slug": f"{target.slug}-{name.replace(':', '-')}"}
            )
            summary, samples = evaluate_with_settings(
                tuned.to_model_spec(),
                benchmark,
                settings,
                cache,
                prepared_dir=arena.home.benchmarks,
            )
            pass_at_1[name] = float(summary["pass@1"][0])
            outcomes[name] = task_pass_rates(samples)
            n_tasks = int(summary["problems"][0])
    finally:
        cache.close()
    judges = query(arena.home, JUDGE_AGREEMENT_SQL).join(
        query(arena.home, POSITION_BIAS_SQL), on="judge", how="left"
    )
    report = effect_report(
        pass_at_1,
        n_tasks=n_tasks,
        benchmark=benchmark,
        train_rows=len(conditions[ARENA]),
        left_out=left_out,
        judges=judges.select(JUDGE_COLUMNS).sort("judge"),
    )
    report.update(independence(arena, benchmark))
    report["task_outcomes"] = headline_outcomes(outcomes, report["best_single_expert"])
    path = report_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    chart = effect_chart(report)
    chart.savefig(path.with_suffix(".png"), dpi=110, bbox_inches="tight")
    return dg.MaterializeResult(
        metadata={
            "enabled": True,
            "report": dg.MetadataValue.path(str(path)),
            "pass_at_1": markdown_table(effect_table(report)),
            "judges": markdown_table(judges),
            "chart": png_image(chart),
            "train_rows_per_condition": report["train_rows_per_condition"],
            "instructions_left_out": left_out,
            "judges_trained_on_benchmark_families": report["judges_trained_on_benchmark_families"],
            "judging_families": dg.MetadataValue.json(report["judging_families"]),
        }
    )


def independence(arena: ArenaResource, benchmark: str) -> dict:
    """The report's keys on the judges' independence (from each LLM judge's build stamp) and on
    the benchmark's held-out behaviours (wc_demo.independence)."""
    config = arena.arena_config
    problems = load_benchmark(
        benchmark, config.evaluation.max_problems, prepared_dir=arena.home.benchmarks
    )
    benchmark_instructions = [p.get("instruction") or "" for p in problems]
    battled = query(arena.home, "select instruction from battle_instructions")["instruction"]
    return {
        **judge_independence(
            {judge.slug: judge.model for judge in config.judge_models()},
            benchmark_instructions=benchmark_instructions,
            battled_instructions=battled.to_list(),
        ),
        "heldout_benchmark": heldout_benchmark(problems),
    }


def task_pass_rates(samples: pl.DataFrame) -> dict[str, float]:
    """Each benchmark task's pass rate (over its samples): what paired intervals pair on."""
    rates = samples.group_by("task_id").agg(pl.col("passed").cast(pl.Float64).mean())
    return dict(sorted(zip(rates["task_id"], rates["passed"], strict=True)))


def headline_outcomes(outcomes: dict[str, dict[str, float]], best: str) -> dict[str, dict]:
    """The report's per-task outcomes of the three trained conditions (scripts/
    demo_effect_seeds.py pairs them by task and seed)."""
    return {
        "arena": outcomes[ARENA],
        "best_single_expert": outcomes[expert_condition(best)],
        "random_expert": outcomes[RANDOM_EXPERT],
    }


def _base_pass_at_1(arena: ArenaResource, benchmark: str) -> float:
    """The base target's pass@1, as the evaluation stage measured it."""
    results = read_lake_table(arena.home, "evaluation_results").filter(
        (pl.col("model_label") == "base") & (pl.col("benchmark") == benchmark)
    )
    summary = summarize(results, samples=1)
    return float(summary["pass@1"][0]) if len(results) else 0.0


def _train_condition(
    context: dg.AssetExecutionContext,
    arena: ArenaResource,
    name: str,
    rows: list[dict],
    exported: int,
) -> Path:
    """One SFT run of the target on a condition's rows, with the target's own settings.

    The arena condition on the whole export is what `target_model_sft` already trained: its
    model is reused instead of training the same run twice."""
    target = arena.arena_config.target
    if name == ARENA and len(rows) == exported:
        return Path(read_finished_report(target_sft_dir(arena, target.slug)).output_dir)
    folder = arena.home.models / "demo_effect" / name.replace(":", "-")
    folder.mkdir(parents=True, exist_ok=True)
    dataset = folder / "train.jsonl"
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    if not dataset.is_file() or dataset.read_text(encoding="utf-8") != text:
        dataset.write_text(text, encoding="utf-8")
    report = run_sft_subprocess(target_sft_job(arena, dataset, folder / "sft"))
    context.log.info(
        f"{name}: {report.train_rows} rows, {report.steps} steps, {report.seconds:.0f} s"
    )
    return Path(report.output_dir)


definitions = dg.Definitions(assets=[demo_effect])
