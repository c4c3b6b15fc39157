"""A fresh demo arena: its wall time and the share of it spent in dbt.

`warriorcoder run --config configs/demo.yaml` on a new home (empty call cache, empty Dagster
instance, the demo experts already built), in a child process so dbt's and Dagster's imports
count as they do for a user. The child reports the seconds of every step; the dbt share is the
dbt build steps plus the dbt parse of the new home, over the child's whole wall time (its
interpreter start and imports included). Target: at most 25% (issue 17).

    python -m bench.bench_fresh_arena [--quick]    (quick: one run instead of the median of two)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "demo.yaml"
TARGET_SHARE = 0.25


def demo_models() -> Path:
    """The built demo experts and target (`$WC_DEMO_MODELS` or the default home's models/),
    built there first when missing (minutes)."""
    from wc_demo.experts import build_demo_experts, build_demo_target

    models = Path(os.environ.get("WC_DEMO_MODELS") or REPO / ".warriorcoder" / "models")
    build_demo_experts(models)
    build_demo_target(models)
    return models


def child(home_dir: str) -> None:
    """Run the demo arena on `home_dir` and print the step seconds as one JSON line."""
    started = time.perf_counter()
    from dagster_wc.dbt.assets import dbt_vars, prepare_manifest
    from dagster_wc.orchestration.runner import run_pipeline
    from wc_foundation.config import load_config
    from wc_foundation.storage import Home

    home = Home.resolve(home_dir)
    imported = time.perf_counter()
    # the parse the run would do first (a new home re-renders the lake sources), timed apart
    prepare_manifest(home, dbt_vars(load_config(CONFIG, home=home.root)))
    parsed = time.perf_counter()
    summary = run_pipeline(CONFIG, home)
    finished = time.perf_counter()
    record = {
        "import_seconds": round(imported - started, 2),
        "dbt_parse_seconds": round(parsed - imported, 2),
        "run_seconds": round(finished - parsed, 2),
        "steps_run": len(summary.steps_run),
        "seconds_by_label": {k: round(v, 2) for k, v in summary.seconds_by_label.items()},
    }
    print(json.dumps(record), flush=True)


def one_run(models: Path, root: Path) -> dict:
    """One fresh home with the demo experts copied in; the child's figures and its wall time."""
    home = root / "home"
    shutil.copytree(models / "demo", home / "models" / "demo")
    env = {
        **os.environ,
        "WC_HOME": str(home),
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_fresh_arena", "--child", str(home)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the demo arena failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    builds = {k: v for k, v in record["seconds_by_label"].items() if k.startswith("dbt:")}
    dbt_seconds = sum(builds.values()) + record["dbt_parse_seconds"]
    return {
        "wall_seconds": round(wall, 1),
        "dbt_seconds": round(dbt_seconds, 1),
        "dbt_share": round(dbt_seconds / wall, 3),
        "dbt_build_seconds": round(sum(builds.values()), 1),
        "dbt_builds": len(builds),
        **record,
    }


def run(quick: bool = False) -> dict:
    """The median (by dbt share) of two fresh arenas, or one with `quick`."""
    models = demo_models()
    runs = []
    for _ in range(1 if quick else 2):
        root = Path(tempfile.mkdtemp(prefix="wc_bench_fresh_arena_"))
        try:
            runs.append(one_run(models, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    shares = [r["dbt_share"] for r in runs]
    median = min(runs, key=lambda r: abs(r["dbt_share"] - statistics.median(shares)))
    return {
        "benchmark": "fresh_arena",
        "config": "configs/demo.yaml",
        "target_dbt_share": TARGET_SHARE,
        "dbt_share": median["dbt_share"],
        "wall_seconds": median["wall_seconds"],
        "dbt_seconds": median["dbt_seconds"],
        "runs": runs,
    }


def summary(result: dict) -> list[tuple[str, str, str, str]]:
    """Rows for the top table of docs/BENCHMARKS.md: (benchmark, compared, result, target)."""
    run = min(result["runs"], key=lambda r: abs(r["dbt_share"] - result["dbt_share"]))
    return [
        (
            "fresh arena (`bench_fresh_arena`)",
            "`warriorcoder run` of configs/demo.yaml on a new home (experts built): share of"
            " the wall time in dbt (builds + parse)",
            f"**{result['dbt_share']:.0%}** ({result['dbt_seconds']} s of"
            f" {result['wall_seconds']} s; {run['dbt_builds']} builds"
            f" {run['dbt_build_seconds']} s, parse {run['dbt_parse_seconds']} s)",
            f"at most {result['target_dbt_share']:.0%}",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run instead of two")
    parser.add_argument("--child", metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    result = run(quick=args.quick)
    for record in result["runs"]:
        print(
            f"wall {record['wall_seconds']} s, dbt {record['dbt_seconds']} s"
            f" ({record['dbt_share']:.0%}): {record['dbt_builds']} builds"
            f" {record['dbt_build_seconds']} s + parse {record['dbt_parse_seconds']} s",
            file=sys.stderr,
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
