"""Run the arena in-process on the persistent local Dagster instance, step by step.

The steps come from the asset graph (`dagster_wc.orchestration.plan.plan_steps`). A step whose inputs did
not change since it last ran, and whose outputs are intact, is skipped
(`dagster_wc.orchestration.step_state`): a re-run of an unchanged arena launches no run and makes no model call.
Runs land in `$WC_HOME/dagster`, the same instance `make ui` opens, so every run shows in the UI.
Dagster's event log, dbt's log and everything the stages print go to one log file per
`run_pipeline` call under `$WC_HOME/logs/`, not to the terminal.

A failing partition does not stop its siblings: the other experts' partitions of the same asset
still run (and are kept), then the pipeline stops before the next step with a `PipelineError`
naming every failed partition and its error. A re-run repeats only the failed cells.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dagster_wc.dbt.assets import (
    build_warehouse_dbt_assets,
    dbt_vars,
    manifest_check_parents,
    prepare_manifest,
)
from dagster_wc.definitions import build_definitions
from dagster_wc.orchestration.instance import use_local_instance
from dagster_wc.orchestration.partitions import configured_slugs, sync_expert_partitions
from dagster_wc.orchestration.plan import (
    PipelineShape,
    Step,
    pipeline_shape,
    plan_steps,
    sibling_partition,
)
from dagster_wc.orchestration.step_state import home_stamps, pipeline_lock
from dagster_wc.orchestration.versions import StepVersions, step_versions
from dagster_wc.orchestration.walk import PipelineWalk, step_tags
from dagster_wc.resources import config_for_run
from gpu_ops.cluster import LEDGER
from gpu_ops.cluster.ledger import LIVE_REPORT, REPORT
from wc_foundation.config import ArenaConfig, load_config
from wc_foundation.storage import Home

StepCallback = Callable[[int, int, Step, str], None]  # index, total, step, start|done|skipped


class PipelineError(RuntimeError):
    """Steps failed; the message names each failed step (asset and partition) and its error."""

    def __init__(self, failures: list[tuple[str, str]], summary: RunSummary):
        self.failures = failures
        self.summary = summary
        lines = [f"  {label}: {error}" for label, error in failures]
        super().__init__(
            f"{len(failures)} step(s) failed; finished steps are kept, a re-run repeats only "
            "the failed ones:\n" + "\n".join(lines) + f"\nfull log: {summary.log_path}"
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


def model_calls_made(result: dg.ExecuteInProcessResult) -> int:
    """The LLM calls a step's run made: the `llm_calls_made` of its materializations."""
    total = 0
    for event in result.get_asset_materialization_events():
        value = event.materialization.metadata.get("llm_calls_made")
        total += int(value.value) if value is not None else 0
    return total


@dataclass
class RunSummary:
    steps_run: list[str] = field(default_factory=list)
    steps_skipped: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    seconds_by_label: dict[str, float] = field(default_factory=dict)  # asset or dbt step
    log_path: Path | None = None
    cluster: str = ""  # one line: which nodes did the fan-out (reports/cluster.json)
    model_calls: int = 0  # LLM calls the steps made (cache misses; `llm_calls_made` metadata)


@dataclass(frozen=True)
class Pipeline:
    """Everything a caller needs to walk the steps of one config on one home."""

    config: ArenaConfig
    definitions: dg.Definitions
    shape: PipelineShape
    versions: StepVersions

    def steps(self, stages: Iterable[str] | None = None) -> list[Step]:
        return plan_steps(self.shape, self.config, stages)


def load_pipeline(
    config_path: str | Path, home: Home, config: ArenaConfig | None = None
) -> Pipeline:
    """Make sure the dbt manifest is current for the config (loaded here unless given), build
    the definitions, read the graph's shape and the steps' versions off them."""
    config = config or load_config(config_path, home=home.root)
    prepare_manifest(home, dbt_vars(config))
    definitions = build_definitions(config_path, str(home.root))
    shape = pipeline_shape(
        definitions.resolve_asset_graph(),
        build_warehouse_dbt_assets().keys,
        manifest_check_parents(),
    )
    return Pipeline(config, definitions, shape, step_versions(config, shape))


@contextmanager
def output_to(log_path: Path | None) -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 (Dagster, dbt, child processes) to the log."""
    if log_path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def new_log_path(home: Home) -> Path:
    logs = home.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


def run_pipeline(
    config_path: str | Path,
    home: Home,
    *,
    config: ArenaConfig | None = None,
    stages: Iterable[str] | None = None,
    on_step: StepCallback | None = None,
    log_to_file: bool = True,
    tags: Mapping[str, str] | None = None,
) -> RunSummary:
    """Materialize the stale steps in order; stop after a failing step (finished work is kept).

    The config is read once: `config` when the caller already loaded `config_path` (the CLI
    validates it before any work), else here; every step gets that object. With `log_to_file`
    (the default), Dagster's and dbt's output goes to `summary.log_path`. `tags` go on every
    step's run (the flywheel names its round there, so the UI can filter a round's runs).
    """
    home.ensure()
    config = config or load_config(config_path, home=home.root)
    summary = RunSummary(log_path=new_log_path(home) if log_to_file else None)
    live_report = home.root / LIVE_REPORT  # this run's per-node work while it goes
    LEDGER.reset(live_path=live_report)
    with (
        output_to(summary.log_path),
        pipeline_lock(home),
        use_local_instance(home) as instance,
        config_for_run(config_path, home, config),
    ):
        LEDGER.write(live_report, complete=False)  # not the last run's while this one goes
        pipeline = load_pipeline(config_path, home, config)
        job = pipeline.definitions.resolve_implicit_global_asset_job_def()
        sync_expert_partitions(instance, configured_slugs(config))
        steps = pipeline.steps(stages)
        walk = PipelineWalk(steps, pipeline.shape, pipeline.versions, home)
        failures: list[tuple[str, str]] = []
        for index, step in enumerate(steps):
            if failures and not sibling_partition(step, steps[index - 1]):
                break
            version = walk.stale_version(step)
            if version is None:
                summary.steps_skipped.append(step.label)
                notify(on_step, index, len(steps), step, "skipped")
                continue
            notify(on_step, index, len(steps), step, "start")
            before = home_stamps(home)
            started = time.perf_counter()
            result = execute_step(job, step, instance, {**(tags or {}), **step_tags(step, version)})
            seconds = time.perf_counter() - started
            name = step.label.split("[")[0]
            summary.seconds_by_label[name] = summary.seconds_by_label.get(name, 0.0) + seconds
            summary.run_ids.append(result.run_id)
            summary.model_calls += model_calls_made(result)
            walk.settle(
                step.label,
                version,
                before,
                succeeded=result.success,
                partition=step.partition_key,
            )
            if not result.success:
                failures.append((step.label, failure_message(result)))
                continue
            summary.steps_run.append(step.label)
            notify(on_step, index, len(steps), step, "done")
    LEDGER.write(home.root / REPORT)  # after the last step: no step's output
    LEDGER.write(live_report)
    summary.cluster = LEDGER.summary_line()
    if failures:
        raise PipelineError(failures, summary)
    return summary


def execute_step(
    job: dg.JobDefinition, step: Step, instance: dg.DagsterInstance, tags: dict[str, str]
) -> dg.ExecuteInProcessResult:
    """One step as one Dagster run in this process: its assets (for its partition), or its
    asset checks with their assets (a dbt build that also runs tests across stages)."""
    step_job = (
        job.get_subset(
            asset_selection=set(step.asset_keys), asset_check_selection=set(step.check_keys)
        )
        if step.check_keys
        else job
    )
    return step_job.execute_in_process(
        instance=instance,
        partition_key=step.partition_key,
        asset_selection=list(step.asset_keys) if not step.check_keys else None,
        tags=tags,
        raise_on_error=False,
    )


def notify(on_step: StepCallback | None, index: int, total: int, step: Step, state: str) -> None:
    """Report progress to the caller on the real terminal, not into the log."""
    if on_step is not None:
        on_step(index, total, step, state)
