"""Stage 12: pass@1 of the target before and after SFT (completions run in the sandbox). The
paper's comparison of training conditions (`demo_effect`) is the demo plugin's, `wc_demo.assets`."""

from pathlib import Path

import dagster as dg
import polars as pl

from dagster_wc.defs.training import target_preference_dir, target_sft_dir
from dagster_wc.metadata import markdown_table
from dagster_wc.resources import ArenaResource
from gpu_ops.evaluation.benchmarks import (
    PromptStyle,
    evaluate_model,
)
from gpu_ops.llm import CallCache, ModelSpec
from gpu_ops.state_db import open_call_cache
from gpu_ops.training.sft import read_finished_report
from wc_foundation.config import EvaluationConfig
from wc_foundation.storage import write_lake_table

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("target", "evaluation")


@dg.asset(kinds={"python", "parquet"}, deps=["target_model_sft", "target_model_preference"])
def evaluation(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """pass@k of the base target, the fine-tuned one and (with `target.preference` other than
    none) the preference-trained one, on every configured benchmark."""
    config = arena.arena_config
    target = config.target
    if target is None:
        raise dg.Failure("the config has no `target` model to evaluate")
    settings = config.evaluation
    tuned_dir = read_finished_report(target_sft_dir(arena, target.slug)).output_dir
    candidates = {
        "base": target.to_model_spec(),
        "sft": target.model_copy(
            update={"model": str(tuned_dir), "slug": f"{target.slug}-sft"}
        ).to_model_spec(),
    }
    if target.preference.method != "none":
        preference_dir = read_finished_report(target_preference_dir(arena, target.slug)).output_dir
        candidates["preference"] = target.model_copy(
            update={"model": str(preference_dir), "slug": f"{target.slug}-preference"}
        ).to_model_spec()
    benchmarks = [*settings.benchmarks, *settings.extra_jsonl]
    summaries, results = [], []
    cache = open_call_cache(arena.home.llm_cache, arena.arena_config.compute.state_url)
    for label, spec in candidates.items():
        for benchmark in benchmarks:
            summary, per_sample = evaluate_with_settings(
                spec,
                benchmark,
                settings,
                cache,
                prompt_style=settings.base_prompt_style if label == "base" else "chat",
                prepared_dir=arena.home.benchmarks,
            )
            tags = {"model_label": label, "model_path": spec.model, "benchmark": benchmark}
            summaries.append(summary.with_columns(**{k: pl.lit(v) for k, v in tags.items()}))
            results.append(per_sample.with_columns(**{k: pl.lit(v) for k, v in tags.items()}))
    cache.close()
    frame = pl.concat(results, how="diagonal_relaxed")
    write_lake_table(arena.home, "evaluation_results", frame)
    summary = pl.concat(summaries, how="diagonal_relaxed")
    return dg.MaterializeResult(
        metadata={"summary": markdown_table(summary), "samples": len(frame)}
    )


def evaluate_with_settings(
    spec: ModelSpec,
    benchmark: str,
    settings: EvaluationConfig,
    cache: CallCache,
    *,
    prompt_style: PromptStyle = "chat",
    prepared_dir: Path | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One model on one benchmark with the config's evaluation settings: the evaluation stage
    and the comparison of conditions measure every model the same way."""
    return evaluate_model(
        spec,
        benchmark=benchmark,
        samples=settings.samples_per_problem,
        temperature=settings.temperature,
        max_new_tokens=settings.max_new_tokens,
        max_problems=settings.max_problems,
        timeout_s=settings.timeout_s,
        cache=cache,
        prompt_style=prompt_style,
        prompts=settings.prompts,
        allow_weak_isolation=settings.allow_weak_isolation,
        prepared_dir=prepared_dir,
    )
