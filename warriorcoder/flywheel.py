"""`warriorcoder flywheel`: rounds of the arena in which each round's trained target joins the
next round as an expert.

Round 1 is the config as it is. Round n+1 is the same config with
- the target trained in round n added as an expert through `add-expert`'s own path (the model
  is loaded and its template rendered before the round's config is written), with the roles of
  `flywheel.joined_roles` (default: competitor only; it neither mines nor judges, see below);
- `mining.seed` advanced by one, so every mining expert mines new instructions;
- `export.earlier_winners` naming every earlier round's winners: the SFT set is the union of all
  rounds' winners, decontaminated as before (the latest decision per instruction);
- the target trained from the base model (`flywheel.target_start: base`) or from round n's
  (`previous`).

Each round runs the ordinary pipeline (`run_pipeline`) on one home: the newcomer's partition is
added to the `experts` partitions and only the cells that changed run, with every model call
answered by the call cache when it was made before. A control round beside each round n >= 2
runs round n's config with the newcomer disabled: the same new mining and budget without the
target, so that round n minus its control is what the target brings, and the control minus
round n-1 what more data brings.

Why the newcomer does not mine or judge: the target's SFT trains the assistant turn only, so
asked for an instruction it writes code (on the demo all 240 of its mined texts were dropped as
`not_an_instruction`), and as a judge it agreed with execution 0.349 against a no-skill floor of
0.338. Its answers are what the next round can use.

Everything a round leaves is kept under `$WC_HOME/flywheel/round-N/` (and `control-N/`): its
config, its winners, its trained target (the next round's expert), its per-task evaluation. The
table of rounds is `$WC_HOME/reports/flywheel.json`.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl
import yaml

from gpu_ops.evaluation.benchmarks import summarize
from gpu_ops.evaluation.paired import paired_bootstrap
from gpu_ops.io_files import write_text
from gpu_ops.training.sft import read_finished_report
from warriorcoder.expert_admin import add_expert_to_config
from wc_foundation.config import ArenaConfig, ConfigError, parse_config, read_config_data
from wc_foundation.storage import Home, read_lake_table

ROUND_TAG = "warriorcoder/flywheel_round"
KIND_TAG = "warriorcoder/flywheel_kind"
Kind = Literal["round", "control"]


class RoundSummary(Protocol):
    """What a round's pipeline run reports (`dagster_wc.orchestration.runner.RunSummary`)."""

    steps_run: list[str]
    steps_skipped: list[str]
    model_calls: int


RoundRunner = Callable[[Path, Home, dict[str, str]], RoundSummary]


@dataclass(frozen=True)
class RoundResult:
    """One round's outcome, as flywheel.json records it."""

    round: int
    kind: Kind
    experts: list[str]
    joined: str | None
    mining_seed: int
    winners: int  # this round's own winners (instructions it decided)
    new_instructions: int  # of those, instructions no earlier round decided
    sft_rows: int
    pass_at_1: float
    n_tasks: int
    wins_per_expert: dict[str, int]
    model_calls: int
    steps_run: int
    seconds: float
    config: str
    per_task: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        row = {k: v for k, v in self.__dict__.items() if k != "per_task"}
        row["pass_at_1"] = round(self.pass_at_1, 4)
        row["seconds"] = round(self.seconds, 1)
        return row


def pipeline_round(config_path: Path, home: Home, tags: dict[str, str]) -> RoundSummary:
    """The ordinary pipeline on a round's config (Dagster imported only when a round runs)."""
    from dagster_wc.orchestration.runner import run_pipeline

    return run_pipeline(config_path, home, tags=tags)


def newcomer_slug(target_slug: str, trained_in: int) -> str:
    """The expert slug of the target trained in round `trained_in`: `<target>-r<n>`."""
    return f"{target_slug}-r{trained_in}"


def round_config_data(
    base: dict[str, Any],
    *,
    round_number: int,
    joined: list[dict[str, Any]],
    earlier_winners: list[str],
    target_model: str | None = None,
) -> dict[str, Any]:
    """Round `round_number`'s config: the base config with the joined experts, the round's
    mining seed, the earlier rounds' winners and (target_start: previous) the target to train.

    Round 1 is the base config unchanged, so a home where `warriorcoder run` already ran the
    config starts the flywheel with nothing to compute. Later rounds switch off the plugins'
    comparison of training conditions (`evaluation.compare_conditions`): the flywheel's own
    comparison is its rounds and controls.
    """
    data = copy.deepcopy(base)
    if round_number == 1:
        return data
    data["experts"] = [*base["experts"], *copy.deepcopy(joined)]
    mining = dict(data.get("mining") or {})
    mining["seed"] = int(mining.get("seed", 0)) + round_number - 1
    data["mining"] = mining
    data["export"] = {**(data.get("export") or {}), "earlier_winners": list(earlier_winners)}
    data["evaluation"] = {**(data.get("evaluation") or {}), "compare_conditions": False}
    if target_model is not None:
        data["target"] = {**data["target"], "model": target_model}
    return data


def control_config_data(round_data: dict[str, Any], newcomer: str) -> dict[str, Any]:
    """A round's config with its newcomer disabled: its partitions and data stay, the marts and
    the steps leave it out."""
    data = copy.deepcopy(round_data)
    data["experts"] = [
        {**e, "enabled": False} if e.get("slug") == newcomer else e for e in data["experts"]
    ]
    return data


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """A round's config file (validated first: a bad one names its problem before any work)."""
    parse_config(data, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(yaml.safe_dump(data, sort_keys=False), path)
    return path


def evaluation_per_task(home: Home, benchmark: str, label: str = "sft") -> dict[str, float]:
    """Task id -> pass rate of one evaluated model (`label`) on `benchmark`."""
    results = read_lake_table(home, "evaluation_results").filter(
        (pl.col("model_label") == label) & (pl.col("benchmark") == benchmark)
    )
    if not len(results):
        raise ConfigError(
            f"the round left no evaluation of the {label!r} target on {benchmark!r}: "
            "the flywheel needs the evaluation stage (check the config's evaluation section)"
        )
    per_task = results.group_by("task_id").agg(pl.col("passed").cast(pl.Float64).mean())
    return dict(zip(per_task["task_id"].cast(pl.String), per_task["passed"], strict=True))


def measure_round(
    home: Home,
    config: ArenaConfig,
    *,
    round_number: int,
    kind: Kind,
    joined: str | None,
    summary: RoundSummary,
    seconds: float,
    config_path: Path,
) -> RoundResult:
    """Read what a finished round left in the home: SFT rows, winners, pass@1 per task."""
    benchmark = [*config.evaluation.benchmarks, *config.evaluation.extra_jsonl][0]
    per_task = evaluation_per_task(home, benchmark)
    results = read_lake_table(home, "evaluation_results").filter(
        (pl.col("model_label") == "sft") & (pl.col("benchmark") == benchmark)
    )
    pass_at_1 = float(summarize(results, config.evaluation.samples_per_problem)["pass@1"][0])
    winners = read_lake_table(home, "sft_winners")
    wins = winners.group_by("winner").len().sort("winner")
    seen: set[str] = set()
    for path in config.export.earlier_winners:
        seen.update(pl.read_parquet(path, columns=["instruction_id"])["instruction_id"].to_list())
    sft_rows = pl.read_parquet(home.sft / "sft_dataset.parquet", columns=["instruction_id"]).height
    return RoundResult(
        round=round_number,
        kind=kind,
        experts=[e.slug for e in config.experts if e.enabled],
        joined=joined,
        mining_seed=config.mining.seed,
        winners=len(winners),
        new_instructions=len(set(winners["instruction_id"].to_list()) - seen),
        sft_rows=sft_rows,
        pass_at_1=pass_at_1,
        n_tasks=len(per_task),
        wins_per_expert={str(w): int(n) for w, n in wins.iter_rows()},
        model_calls=int(summary.model_calls),
        steps_run=len(summary.steps_run),
        seconds=seconds,
        config=str(config_path),
        per_task=per_task,
    )


def keep_round_outputs(home: Home, config: ArenaConfig, folder: Path, result: RoundResult) -> Path:
    """Copy what the next rounds need before a later run overwrites it: this round's winners,
    its per-task evaluation and its trained target (the next round's expert). Returns the
    copied target's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    read_lake_table(home, "sft_winners").write_parquet(folder / "sft_winners.parquet")
    pl.DataFrame(
        {"task_id": list(result.per_task), "passed": list(result.per_task.values())}
    ).write_parquet(folder / "evaluation.parquet")
    assert config.target is not None
    trained = Path(read_finished_report(home.models / "target_sft" / config.target.slug).output_dir)
    target = folder / "target"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(trained, target)  # copy2: the same bytes and mtimes, the same identity
    return target


def run_flywheel(
    config_path: str | Path,
    home: Home,
    *,
    rounds: int | None = None,
    control: bool | None = None,
    run_round: RoundRunner | None = None,
    on_round: Callable[[RoundResult], None] | None = None,
    name: str = "flywheel",
) -> dict[str, Any]:
    """Run `rounds` rounds (default `flywheel.rounds`) and their controls; write and return
    `reports/<name>.json`'s content (the rounds' files go to `<home>/<name>/`). `run_round` runs
    one round's config (default: the pipeline)."""
    run_round = run_round or pipeline_round
    home.ensure()
    base_data = read_config_data(config_path, home.root)
    base = parse_config(base_data, source=str(config_path))
    if base.target is None:
        raise ConfigError(
            f"{config_path}: the flywheel trains and evaluates a target every round; "
            "the config has no `target`"
        )
    settings = base.flywheel
    rounds = settings.rounds if rounds is None else rounds
    if rounds < 1:
        raise ConfigError(f"--rounds {rounds}: run at least one round")
    control = settings.control if control is None else control
    folder = home.root / name
    target = base.target
    family = target.family or f"{target.slug}-flywheel"
    joined: list[dict[str, Any]] = []
    winners_files: list[str] = []
    previous_target: Path | None = None
    results: list[RoundResult] = []
    controls: list[RoundResult] = []

    def one_run(number: int, kind: Kind, path: Path, newcomer: str | None) -> RoundResult:
        config = parse_config(read_config_data(path, home.root), source=str(path))
        tags = {ROUND_TAG: str(number), KIND_TAG: kind}
        started = time.perf_counter()
        summary = run_round(path, home, tags)
        result = measure_round(
            home,
            config,
            round_number=number,
            kind=kind,
            joined=newcomer,
            summary=summary,
            seconds=time.perf_counter() - started,
            config_path=path,
        )
        write_text(json.dumps(result.as_dict(), indent=2), path.parent / "result.json")
        if on_round is not None:
            on_round(result)
        return result

    for number in range(1, rounds + 1):
        start = str(previous_target) if settings.target_start == "previous" else None
        data = round_config_data(
            base_data,
            round_number=number,
            joined=joined,
            earlier_winners=winners_files,
            target_model=start if number > 1 else None,
        )
        round_folder = folder / f"round-{number}"
        path = write_config(round_folder / "config.yaml", data)
        newcomer = None
        if number > 1:
            assert previous_target is not None
            newcomer = newcomer_slug(target.slug, number - 1)
            entry = add_expert_to_config(
                path,
                slug=newcomer,
                model=str(previous_target),
                family=family,
                roles=list(settings.joined_roles),
                home=home.root,
            )
            joined.append(entry)
        result = one_run(number, "round", path, newcomer)
        results.append(result)
        config = parse_config(read_config_data(path, home.root), source=str(path))
        previous_target = keep_round_outputs(home, config, round_folder, result)
        winners_files.append(str(round_folder / "sft_winners.parquet"))
        if control and newcomer is not None:
            control_data = control_config_data(yaml.safe_load(path.read_text()), newcomer)
            control_path = write_config(folder / f"control-{number}" / "config.yaml", control_data)
            controls.append(one_run(number, "control", control_path, None))
    report = flywheel_report(base, results, controls, settings_used(base, rounds, control))
    write_text(json.dumps(report, indent=2), home.reports / f"{name}.json")
    return report


def settings_used(base: ArenaConfig, rounds: int, control: bool) -> dict[str, Any]:
    return {
        "rounds": rounds,
        "control": control,
        "target_start": base.flywheel.target_start,
        "joined_roles": list(base.flywheel.joined_roles),
        "target": base.target.slug if base.target else None,
        "sft_seed": base.target.sft.seed if base.target else None,
        "selection_k": base.selection.k,
    }


def flywheel_report(
    base: ArenaConfig,
    results: list[RoundResult],
    controls: list[RoundResult],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """flywheel.json: pass@1 per round and control, and paired differences on the same tasks
    (a bootstrap over the held-out tasks: round n against round 1, against round n-1, and
    against its control)."""
    first = results[0]
    paired = []
    by_round = {r.round: r for r in results}
    for result in results[1:]:
        against = {"round 1": first, f"round {result.round - 1}": by_round[result.round - 1]}
        against |= {f"control {c.round}": c for c in controls if c.round == result.round}
        for name, other in against.items():
            diff = paired_bootstrap(result.per_task, other.per_task)
            paired.append({"round": result.round, "against": name, **diff.as_dict()})
    for result in controls:
        diff = paired_bootstrap(result.per_task, by_round[result.round - 1].per_task)
        paired.append(
            {"control": result.round, "against": f"round {result.round - 1}", **diff.as_dict()}
        )
    benchmark = [*base.evaluation.benchmarks, *base.evaluation.extra_jsonl][0]
    return {
        "benchmark": benchmark,
        "n_tasks": first.n_tasks,
        "settings": dict(settings),
        "rounds": [r.as_dict() for r in results],
        "controls": [c.as_dict() for c in controls],
        "paired": paired,
    }
