"""Run every benchmark and write docs/BENCHMARKS.md (machine, date, versions, figures, ratios).

`python -m bench.run_all [--quick] [--only dedup,kcenter] [--write docs/BENCHMARKS.md]`.
Each benchmark's `run(quick)` returns a flat-ish dict; its medians and ratios come from one
process, so a figure is always compared to a baseline measured beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

BENCHMARKS = (
    "generation",
    "dedup",
    "kcenter",
    "embeddings",
    "ratings",
    "sft",
    "judging",
    "dbt_marts",
    "arena_scaling",
)
VERSIONS = (
    "torch",
    "transformers",
    "rensa",
    "datasketch",
    "scikit-learn",
    "sentence-transformers",
    "duckdb",
    "dbt-core",
    "trl",
    "polars",
    "numpy",
)


def machine() -> dict[str, str]:
    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    except Exception:
        device = "unknown"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "accelerator": device,
        "python": sys.version.split()[0],
        **versions,
    }


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows)
    elif isinstance(value, float):
        rows.append((prefix, f"{value:.4g}"))
    elif isinstance(value, list | tuple) and len(value) > 12:
        rows.append((prefix, json.dumps(value[:12])[:-1] + ", ...]"))
    else:
        rows.append(
            (prefix, json.dumps(value) if isinstance(value, list | tuple | bool) else str(value))
        )


def render(results: dict[str, dict], info: dict[str, str], quick: bool) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run_all`). Every ratio compares two measurements",
        "taken in the same process on the same data; figures are medians of several runs.",
        f"Mode: {'quick' if quick else 'full'}.",
        "",
        "| machine | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in info.items()],
    ]
    for name, result in results.items():
        rows: list[tuple[str, str]] = []
        _flatten("", result, rows)
        lines += [
            "",
            f"## {name}",
            "",
            "| figure | value |",
            "| --- | --- |",
            *[f"| {k} | {v} |" for k, v in rows],
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (seconds, for smoke tests)"
    )
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--write", type=Path, default=None, help="write the markdown report here")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only.split(",")]
    results: dict[str, dict] = {}
    for name in chosen:
        try:
            module = importlib.import_module(f"bench.bench_{name}")
        except ModuleNotFoundError:
            continue
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        results[name] = {
            **module.run(args.quick),
            "bench_seconds": round(time.perf_counter() - started, 1),
        }
        print(json.dumps(results[name], indent=2, default=str), flush=True)
    if args.write:
        args.write.write_text(render(results, machine(), args.quick), encoding="utf-8")
        print(f"wrote {args.write}")
    return results


if __name__ == "__main__":
    main()
