"""Which config variant trains the better target? Paired pass@1 over seeds and tasks.

A variant is the base config with some settings changed: a JSON object deep-merged into it, such
as `{"battles": {"schedule": "adaptive"}}` or `{"target": {"preference": {"method": "dpo"}}}`.
Every (variant, seed) runs the ordinary pipeline in one home, with the target's SFT seed and its
preference seed set to the seed, variant after variant: a variant's arena is walked once (its
steps' versions never read the target) and its seeds retrain and re-evaluate only the target;
the call cache answers what an earlier variant already asked. From the lake it reads each
evaluated model's outcome per held-out task (`evaluation_results`: base, sft and, with
`target.preference`, preference), the judge calls spent (`judging_schedule`) and the preference
pairs' count. Each (variant, model) is compared with the first variant's SFT target (or as
`--pair HIGH LOW` names, such as `adaptive/sft full/sft`), paired on the same tasks and seeds:
the bootstrap over tasks (their seeds travel together, `gpu_ops.evaluation.intervals`) and, with
two or more seeds, Student's t over the per-seed differences.

    python scripts/compare_variants.py --config configs/demo.yaml --seeds 0 1 2 \\
        --variant 'paper={}' \\
        --variant 'dpo={"target": {"preference": {"method": "dpo", "learning_rate": 1.5e-4}}}'

The report (every seed's per-task outcomes included) goes to `$WC_HOME/reports/<--name>.json`,
and the same without the outcomes to `<--name>.summary.json`; both are rewritten after every
run, so an interrupted study keeps what it finished. A study split over homes (other seeds in
each) is put together with `--merge A.json B.json --out C.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from dagster_wc.orchestration.runner import run_pipeline
from gpu_ops.evaluation.intervals import paired_bootstrap
from gpu_ops.evaluation.paired import paired_t_interval
from gpu_ops.training.sft import read_finished_report
from warriorcoder.report import judge_calls
from wc_foundation.config import overlay, read_config_data
from wc_foundation.storage import Home, lake_partitions, read_lake_table

BASELINE_MODEL = "sft"


def parse_variant(text: str) -> tuple[str, dict]:
    """`NAME=JSON` -> (name, overrides); the overrides must be a JSON object."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--variant {text!r}: expected NAME=JSON, such as 'paper={{}}'")
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SystemExit(f"--variant {name}: the overrides are not JSON: {error}") from None
    if not isinstance(overrides, dict):
        raise SystemExit(f"--variant {name}: the overrides must be a JSON object")
    return name, overrides


def variant_config(config: Path, overrides: dict, seed: int, out: Path, home: Home) -> Path:
    """The config (extends and ${WC_HOME} resolved) with the overrides, the seed, and no
    comparison of training conditions (it trains three more targets and is not compared here)."""
    data = overlay(read_config_data(config, home.root), overrides)
    target = data["target"]
    target.setdefault("sft", {})["seed"] = seed
    preference = target.get("preference")
    if isinstance(preference, str):
        target["preference"] = preference = {"method": preference}
    if isinstance(preference, dict) and preference.get("method", "none") != "none":
        preference["seed"] = seed
    data.setdefault("evaluation", {})["compare_conditions"] = False
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def task_outcomes(home: Home) -> dict[str, dict[str, float]]:
    """Per evaluated model (base, sft, preference): each task's pass rate over its samples."""
    frame = read_lake_table(home, "evaluation_results")
    outcomes: dict[str, dict[str, float]] = {}
    rates = frame.group_by("model_label", "task_id").agg(rate=pl.col("passed").mean())
    for row in rates.iter_rows(named=True):
        outcomes.setdefault(row["model_label"], {})[row["task_id"]] = float(row["rate"])
    return outcomes


def pass_at_1(outcomes: dict[str, dict[str, float]]) -> dict[str, float]:
    """Per evaluated model: its mean pass rate over the tasks."""
    return {model: round(statistics.mean(rates.values()), 4) for model, rates in outcomes.items()}


def preference_run(home: Home, target: dict) -> dict[str, Any] | None:
    """The preference pairs' count and, when the variant trains on them, the run's steps,
    losses and settings."""
    if not lake_partitions(home, "preference_pairs"):
        return None
    found: dict[str, Any] = {"pairs": read_lake_table(home, "preference_pairs").height}
    if target.get("preference", {}).get("method", "none") == "none":
        return found
    report = read_finished_report(home.models / "target_preference" / target["slug"])
    losses = [h["loss"] for h in report.loss_history if "loss" in h]
    found |= log_prob_drift(Path(report.output_dir).parent / "train_log.jsonl")
    return found | {
        "steps": report.steps,
        "seconds": report.seconds,
        "first_loss": losses[0] if losses else None,
        "final_loss": report.final_train_loss,
        "params": report.params,
    }


def default_pairs(runs: list[dict], variants: list[str]) -> list[tuple[str, str]]:
    """Every trained model of every variant against the first variant's SFT target."""
    baseline = f"{variants[0]}/{BASELINE_MODEL}"
    found = [
        f"{variant}/{label}"
        for variant in variants
        for label in sorted({m for r in runs if r["variant"] == variant for m in r["outcomes"]})
        if label != "base"
    ]
    return [(model, baseline) for model in found if model != baseline]


def log_prob_drift(train_log: Path, window: int = 20) -> dict[str, float]:
    """The mean log-probability of the chosen and the rejected answers over the first and the
    last `window` logged steps (DPO logs them): likelihood displacement shows as the chosen
    answers' log-probability falling with the rejected ones'."""
    if not train_log.is_file():
        return {}
    rows = [json.loads(line) for line in train_log.read_text(encoding="utf-8").splitlines()]
    steps = [r for r in rows if r.get("event") == "log" and "logps/chosen" in r]
    if not steps:
        return {}
    drift = {}
    for side in ("chosen", "rejected"):
        values = [r[f"logps/{side}"] for r in steps]
        drift[f"logps_{side}_first"] = round(statistics.mean(values[:window]), 3)
        drift[f"logps_{side}_last"] = round(statistics.mean(values[-window:]), 3)
    return drift


def compare(runs: list[dict], pairs: list[tuple[str, str]]) -> list[dict]:
    """Each (high, low) pair of `variant/model` names, paired on the seeds both ran."""
    by_key = {(r["variant"], r["seed"]): r for r in runs}
    rows = []
    for high_name, low_name in pairs:
        high_variant, high_label = high_name.split("/")
        low_variant, low_label = low_name.split("/")
        shared = [
            seed
            for seed in sorted({r["seed"] for r in runs})
            if high_label in by_key.get((high_variant, seed), {}).get("outcomes", {})
            and low_label in by_key.get((low_variant, seed), {}).get("outcomes", {})
        ]
        if not shared:
            continue
        high = _keyed(by_key, high_variant, high_label, shared)
        low = _keyed(by_key, low_variant, low_label, shared)
        per_seed = [_mean(high, s) - _mean(low, s) for s in shared]
        row = {
            "variant": high_variant,
            "model": high_label,
            "against": low_name,
            "seeds": shared,
            "pass_at_1": [round(_mean(high, s), 4) for s in shared],
            "baseline_pass_at_1": [round(_mean(low, s), 4) for s in shared],
            "diff_per_seed": [round(d, 4) for d in per_seed],
            "bootstrap": paired_bootstrap(high, low),
        }
        if len(shared) > 1:
            row["t_interval"] = paired_t_interval(per_seed).as_dict()
        rows.append(row)
    return rows


def _keyed(by_key: dict, variant: str, label: str, seeds: list[int]) -> dict:
    return {
        (task, seed): rate
        for seed in seeds
        for task, rate in by_key[(variant, seed)]["outcomes"][label].items()
    }


def _mean(outcomes: dict, seed: int) -> float:
    return statistics.mean(rate for (_, s), rate in outcomes.items() if s == seed)


def print_table(rows: list[dict]) -> None:
    print(
        "| variant / model | against | pass@1 per seed | against's | diff [bootstrap 95%] | t 95% |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        boot = row["bootstrap"]
        t = row.get("t_interval")
        t_text = f"[{t['ci95'][0]:+.3f}, {t['ci95'][1]:+.3f}]" if t else "-"
        print(
            f"| {row['variant']}/{row['model']} | {row['against']} | {', '.join(f'{v:.3f}' for v in row['pass_at_1'])} "
            f"| {', '.join(f'{v:.3f}' for v in row['baseline_pass_at_1'])} "
            f"| {boot['difference']:+.3f} [{boot['lower']:+.3f}, {boot['upper']:+.3f}] | {t_text} |"
        )


def write_report(report: dict, out: Path) -> None:
    """The report at `out`, and beside it `<stem>.summary.json`: the same without the per-task
    outcomes (each run keeps its pass@1 per model), small enough to commit with the docs."""
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    runs = [
        {k: v for k, v in run.items() if k != "outcomes"}
        | {"pass_at_1": pass_at_1(run["outcomes"])}
        for run in report["runs"]
    ]
    summary = out.with_name(f"{out.stem}.summary.json")
    summary.write_text(json.dumps(report | {"runs": runs}, indent=2, default=str), encoding="utf-8")


def merge_reports(paths: list[Path], out: Path | None, pairs: list | None) -> None:
    """One report from several with the same variants: their runs together, compared again."""
    if out is None:
        raise SystemExit("--merge needs --out, the combined report's path")
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    variants = reports[0]["variants"]
    for path, report in zip(paths, reports, strict=True):
        if report["variants"] != variants:
            raise SystemExit(f"{path}: its variants differ from {paths[0]}'s")
    runs = [run for report in reports for run in report["runs"]]
    seen = [(run["variant"], run["seed"]) for run in runs]
    if len(set(seen)) != len(seen):
        raise SystemExit("the reports ran the same (variant, seed) twice: merge other seeds only")
    names = list(variants)
    merged = {
        "config": reports[0]["config"],
        "variants": variants,
        "seeds": sorted({run["seed"] for run in runs}),
        "comparisons": compare(runs, [tuple(p) for p in pairs or default_pairs(runs, names)]),
        "runs": runs,
    }
    write_report(merged, out)
    print_table(merged["comparisons"])
    print(f"written: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/demo.yaml"))
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variant",
        action="append",
        help="NAME=JSON overrides; the first is the baseline",
    )
    parser.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("HIGH", "LOW"),
        help="compare variant/model HIGH with LOW (default: all against the first variant's sft)",
    )
    parser.add_argument("--name", default="compare_variants", help="the report's file name")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="no runs: combine these reports (the same variants, other seeds: a study split over "
        "homes or machines) and write the comparisons to --out",
    )
    parser.add_argument("--out", type=Path, help="with --merge: where the combined report goes")
    args = parser.parse_args()
    if args.merge:
        merge_reports(args.merge, args.out, args.pair)
        return
    if not args.variant:
        raise SystemExit("name at least one --variant NAME=JSON (the first is the baseline)")
    variants = [parse_variant(text) for text in args.variant]
    names = [name for name, _ in variants]
    if len(set(names)) != len(names):
        raise SystemExit(f"variant names must differ: {names}")
    home = Home.resolve(args.home)
    out = home.reports / f"{args.name}.json"
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="compare_variants_") as tmp:
        for name, overrides in variants:
            for seed in args.seeds:
                config = variant_config(
                    args.config, overrides, seed, Path(tmp) / f"{name}-{seed}.yaml", home
                )
                run_pipeline(config, home)
                target = yaml.safe_load(config.read_text(encoding="utf-8"))["target"]
                run = {
                    "variant": name,
                    "seed": seed,
                    "outcomes": task_outcomes(home),
                    "judge_calls": judge_calls(home),
                    "preference": preference_run(home, target),
                }
                runs.append(run)
                print(
                    f"seed {seed} {name}: pass@1 {pass_at_1(run['outcomes'])}; "
                    f"judge calls {run['judge_calls']}",
                    flush=True,
                )
                report = {
                    "config": str(args.config),
                    "variants": dict(variants),
                    "seeds": args.seeds,
                    "comparisons": compare(
                        runs, [tuple(p) for p in args.pair or default_pairs(runs, names)]
                    ),
                    "runs": runs,
                }
                write_report(report, out)
    print_table(report["comparisons"])
    print(f"written: {out}")


if __name__ == "__main__":
    main()
