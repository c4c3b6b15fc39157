"""How much the demo's effect moves with the seeds: rerun training and the comparison per seed.

The arena itself (mining to export) is computed once and cached; each seed re-trains the target
on every condition with `target.sft.seed` and `evaluation.condition_seed` set to it, so the spread
is what SFT randomness and the random expert's draws do to the margins. Each margin also gets a
paired bootstrap 95% interval over the benchmark's tasks (`gpu_ops.evaluation.intervals`: a
task's outcomes at every seed travel together), from the report's `task_outcomes`. The
ground-truth test's margins (tests/test_demo_arena.py) are chosen from this output (docs/DEMO.md).

    python scripts/demo_effect_seeds.py --config configs/demo.yaml --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import yaml

from dagster_wc.orchestration.runner import run_pipeline
from gpu_ops.evaluation.intervals import paired_bootstrap
from wc_foundation.storage import Home

MARGINS = {
    "arena - best_single_expert": ("arena", "best_single_expert"),
    "arena - random_expert": ("arena", "random_expert"),
    "arena - base": ("arena", "base"),
}


def seeded_config(config: Path, seed: int, out: Path) -> Path:
    """The config with the target's SFT seed and the random expert's seed set to ``seed``."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["target"].setdefault("sft", {})["seed"] = seed
    data.setdefault("evaluation", {})["condition_seed"] = seed
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def spread(reports: list[dict]) -> dict:
    """Per margin and per condition: every seed's value, the mean, the SD and the minimum."""
    summary = {}
    for name, (high, low) in MARGINS.items():
        values = [r["pass_at_1"][high] - r["pass_at_1"][low] for r in reports]
        summary[name] = _stats(values)
    for condition in reports[0]["pass_at_1"]:
        summary[condition] = _stats([r["pass_at_1"][condition] for r in reports])
    judges = reports[0]["judge_agreement_with_execution"]
    summary["median_judge_agreement"] = statistics.median(judges.values())
    return summary


def paired_intervals(reports: list[dict]) -> dict:
    """Per margin (two trained conditions): the paired bootstrap interval over tasks and seeds."""
    out = {}
    for name, (high, low) in MARGINS.items():
        if low == "base":
            continue  # the base model has no per-task outcomes in the report (pass@1 ~0)
        out[name] = paired_bootstrap(_outcomes(reports, high), _outcomes(reports, low))
    return out


def _outcomes(reports: list[dict], condition: str) -> dict[tuple[str, int], float]:
    return {
        (task, r["seed"]): rate
        for r in reports
        for task, rate in r["task_outcomes"][condition].items()
    }


def _stats(values: list[float]) -> dict:
    return {
        "values": [round(v, 4) for v in values],
        "mean": round(statistics.mean(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "min": round(min(values), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/demo.yaml"))
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    home = Home.resolve(args.home)
    reports = []
    with tempfile.TemporaryDirectory(prefix="demo_seeds_") as tmp:
        for seed in args.seeds:
            config = seeded_config(args.config, seed, Path(tmp) / f"seed{seed}.yaml")
            run_pipeline(config, home)
            report = json.loads((home.reports / "demo_effect.json").read_text(encoding="utf-8"))
            reports.append({"seed": seed, **report})
            print(f"seed {seed}: {report['pass_at_1']}", flush=True)
    result = {
        "seeds": args.seeds,
        "spread": spread(reports),
        "paired_intervals": paired_intervals(reports),
        "reports": reports,
    }
    out = home.reports / "demo_effect_seeds.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result["spread"], indent=2))
    for name, found in result["paired_intervals"].items():
        print(
            f"{name}: {found['difference']:+.3f} [{found['lower']:+.3f}, {found['upper']:+.3f}] "
            f"(paired bootstrap 95%, {found['tasks']} tasks x {found['seeds']} seeds)"
        )
    print(f"written: {out}")


if __name__ == "__main__":
    main()
