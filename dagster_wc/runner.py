"""Run the arena in-process on the persistent local Dagster instance, stage by stage.

A Dagster run holds one partition key, so the pipeline is a fixed sequence of steps: each Python
asset (once, or once per expert partition), then the dbt models of its stage. Runs land in
`$WC_HOME/dagster`, the same instance `make ui` opens, so every CLI run shows in the UI.

A failing partition does not stop its siblings: the other experts' partitions of the same asset
still run (and are kept), then the pipeline stops before the next step with a `PipelineError`
naming every failed partition and its error. A re-run repeats only the failed cells.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dagster_wc.definitions import build_definitions
from dagster_wc.defs.warehouse_dbt import build_warehouse_dbt_assets, dbt_vars, prepare_manifest
from dagster_wc.partitions import sync_expert_partitions
from warriorcoder.config import ArenaConfig, load_config
from warriorcoder.storage import Home

PARTITIONED_ASSETS = {
    "instructions_mined",
    "instruction_scores",
    "responses",
    "judgments",
    "execution_results",
}

# (python assets of the step, dbt groups built after it), in pipeline order.
PIPELINE: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("registry", ("expert_registry",), ("registry",)),
    ("mining", ("instructions_mined",), ("mining",)),
    ("dedup", ("instruction_minhash",), ("dedup",)),
    ("scoring", ("instruction_scores",), ("scoring",)),
    ("selection", ("instruction_embeddings", "instructions_selected"), ("selection",)),
    ("arena", ("responses", "judgments", "execution_results"), ("arena", "battles")),
    ("ratings", ("expert_ratings",), ("ratings",)),
    ("sft_data", ("sft_winners", "sft_dataset"), ("sft_data",)),
    ("training", ("target_model_sft",), ()),
    ("evaluation", ("evaluation",), ("evaluation", "analytics")),
)
STAGE_NAMES = tuple(stage for stage, _, _ in PIPELINE)


@dataclass(frozen=True)
class Step:
    """One Dagster run: a set of asset keys, optionally for one partition."""

    stage: str
    label: str
    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None = None


class PipelineError(RuntimeError):
    """Steps failed; the message names each failed step (asset and partition) and its error."""

    def __init__(self, failures: list[tuple[str, str]], summary: RunSummary):
        self.failures = failures
        self.summary = summary
        lines = [f"  {label}: {error}" for label, error in failures]
        super().__init__(
            f"{len(failures)} step(s) failed; finished steps are kept, a re-run repeats only "
            "the failed ones:\n" + "\n".join(lines)
        )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure's error (class and message), without the Dagster wrapping."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and error.cls_name in (
                "DagsterExecutionStepExecutionError",
                "DagsterUserCodeExecutionError",
            ):
                error = error.cause
            return f"{error.cls_name}: {error.message.strip()}"
    return "the run failed (see the Dagster UI for its events)"


@dataclass
class RunSummary:
    steps_run: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)


def use_local_instance(home: Home) -> dg.DagsterInstance:
    """The persistent instance under $WC_HOME/dagster (what `make ui` opens too)."""
    home.dagster.mkdir(parents=True, exist_ok=True)
    settings = home.dagster / "dagster.yaml"
    if not settings.exists():
        settings.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    return dg.DagsterInstance.get()


def partition_slugs(config: ArenaConfig, asset: str) -> list[str]:
    """The expert partitions a step runs for: enabled models that play a role in it."""
    if asset == "instructions_mined":
        return [e.slug for e in config.experts_with_role("miner")]
    if asset == "instruction_scores":
        return config.scorer_slugs()
    if asset in ("responses", "execution_results"):
        return [e.slug for e in config.experts_with_role("competitor")]
    if asset == "judgments":
        return [m.slug for m in config.judge_models()]
    raise ValueError(f"{asset} is not partitioned")


def dbt_keys_by_group(groups: Iterable[str]) -> tuple[dg.AssetKey, ...]:
    wanted = set(groups)
    dbt_assets = build_warehouse_dbt_assets()
    return tuple(sorted(k for k, g in dbt_assets.group_names_by_key.items() if g in wanted))


def plan_steps(config: ArenaConfig, stages: Iterable[str] | None = None) -> list[Step]:
    """Every run of the pipeline, in order, for the chosen stages (default: all)."""
    chosen = set(stages or STAGE_NAMES)
    unknown = chosen - set(STAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; stages are {', '.join(STAGE_NAMES)}")
    steps: list[Step] = []
    for stage, python_assets, dbt_groups in PIPELINE:
        if stage not in chosen:
            continue
        if stage in ("training", "evaluation") and config.target is None:
            continue
        for asset in python_assets:
            key = dg.AssetKey(asset)
            if asset in PARTITIONED_ASSETS:
                steps += [
                    Step(stage, f"{asset}[{slug}]", (key,), slug)
                    for slug in partition_slugs(config, asset)
                ]
            else:
                steps.append(Step(stage, asset, (key,)))
        dbt_keys = dbt_keys_by_group(dbt_groups) if dbt_groups else ()
        if dbt_keys:
            steps.append(Step(stage, f"dbt: {', '.join(dbt_groups)} models", dbt_keys))
    return steps


def run_pipeline(
    config_path: str | Path,
    home: Home,
    *,
    stages: Iterable[str] | None = None,
    on_step: Callable[[int, int, Step, str], None] | None = None,
) -> RunSummary:
    """Materialize the planned steps in order; stop at the first failure (finished work is kept)."""
    home.ensure()
    config = load_config(config_path, home=home.root)
    instance = use_local_instance(home)
    prepare_manifest(home, dbt_vars(config))
    definitions = build_definitions(config_path, str(home.root))
    job = definitions.resolve_implicit_global_asset_job_def()
    sync_expert_partitions(
        instance, [e.slug for e in config.experts] + [j.slug for j in config.judging.extra_judges]
    )
    steps = plan_steps(config, stages)
    summary = RunSummary()
    failures: list[tuple[str, str]] = []
    for index, step in enumerate(steps):
        if failures and not sibling_partition(step, steps[index - 1]):
            break
        if on_step:
            on_step(index, len(steps), step, "start")
        result = job.execute_in_process(
            instance=instance,
            partition_key=step.partition_key,
            asset_selection=list(step.asset_keys),
            tags={"warriorcoder/stage": step.stage, "warriorcoder/step": step.label},
            raise_on_error=False,
        )
        summary.run_ids.append(result.run_id)
        if not result.success:
            failures.append((step.label, failure_message(result)))
            continue
        summary.steps_run.append(step.label)
        if on_step:
            on_step(index, len(steps), step, "done")
    if failures:
        raise PipelineError(failures, summary)
    return summary


def sibling_partition(step: Step, previous: Step) -> bool:
    """Another expert's partition of the same asset(s): independent, so it runs after a failure."""
    return (
        step.partition_key is not None
        and previous.partition_key is not None
        and step.asset_keys == previous.asset_keys
    )
