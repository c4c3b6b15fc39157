"""Run the benchmarks, save each result as JSON, and render docs/BENCHMARKS.md from all of them.

`python -m bench.run_all [--quick] [--only dedup,kcenter] [--write docs/BENCHMARKS.md]`
`python -m bench.run_all --render-only --write docs/BENCHMARKS.md` (no run, re-render only)

Each benchmark module `bench.bench_<name>` has `run(quick) -> dict` (medians and ratios measured
in one process, so a figure is always compared to a baseline measured beside it) and may have
`summary(result) -> [(benchmark, what is compared, result, target), ...]` for the top table.
With --write, each result is saved to `<results-dir>/<name>.json` together with the machine it
ran on, and the whole document is rendered from every saved result: `--only x` re-runs one
benchmark and keeps the others' figures. The hand-written notes between `<!-- notes -->` and
`<!-- /notes -->` in the existing document are kept. A benchmark whose module is missing is
skipped (modules are added over time).
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
import traceback
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

BENCHMARKS = (
    "generation",
    "dedup",
    "kcenter",
    "embeddings",
    "ratings",
    "ratings_scale",
    "sft",
    "judging",
    "vllm",
    "injection",
    "sandbox",
    "dbt_marts",
    "arena_scaling",
    "fresh_arena",
    "test_weighting",
    "battle_schedule",
    "cluster",
    "served",
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
    "dbt-duckdb",
    "trl",
    "polars",
    "numpy",
)
RESULTS_DIR = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
NOTES_START, NOTES_END = "<!-- notes -->", "<!-- /notes -->"
Row = tuple[str, str, str, str]


def machine() -> dict[str, str]:
    """Where and when a result was measured: CPU, accelerator, load, Python, package versions."""
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
    try:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "-"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "accelerator": device,
        "load_average_1_5_15_min": load,
        "python": sys.version.split()[0],
        **versions,
    }


def load_module(name: str) -> ModuleType | None:
    """bench.bench_<name>, or None when that module does not exist (yet)."""
    module_name = f"bench.bench_{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise


def save_result(results_dir: Path, name: str, record: dict[str, Any]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def load_results(results_dir: Path) -> dict[str, dict[str, Any]]:
    """Every saved record, in BENCHMARKS order first, then any other saved name."""
    found = {path.stem: path for path in sorted(results_dir.glob("*.json"))}
    names = [n for n in BENCHMARKS if n in found] + [n for n in found if n not in BENCHMARKS]
    return {n: json.loads(found[n].read_text(encoding="utf-8")) for n in names}


def read_notes(document: Path) -> str:
    """The hand-written notes between the markers of an existing document ('' when none)."""
    if not document.exists():
        return ""
    text = document.read_text(encoding="utf-8")
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(NOTES_START) : end].strip("\n")


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


def summary_rows(name: str, result: dict[str, Any]) -> list[Row]:
    """The module's summary rows; a generic row when it has none or they fail on this result."""
    module = load_module(name)
    summary = getattr(module, "summary", None) if module else None
    if summary is not None:
        try:
            return [tuple(str(cell) for cell in row) for row in summary(result)]  # type: ignore[misc]
        except Exception:
            traceback.print_exc()
    return [(f"{name} (`bench_{name}`)", "see the details below", "see the details below", "-")]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(records: dict[str, dict[str, Any]], notes: str = "") -> str:
    """The markdown document: machine, summary table, notes, then every benchmark's figures."""
    latest = max(
        (r.get("machine", {}) for r in records.values()),
        key=lambda m: m.get("date", ""),
        default={},
    )
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run_all --write docs/BENCHMARKS.md`) from the",
        "saved results in `docs/benchmarks/*.json`; `python -m bench.run_all --only <name> --write",
        "docs/BENCHMARKS.md` re-runs one benchmark and re-renders the whole page. Every ratio",
        "compares two measurements taken in the same process on the same data; figures are medians",
        "of several runs unless a benchmark says otherwise. Peak RSS is the resident memory of the",
        "process while the stage ran (`bench/timing.py`). One benchmark alone:",
        "`python -m bench.bench_<name> [--quick]`.",
        "",
        "## Machine",
        "",
        "Of the most recent result (each benchmark's own machine and date are in its section).",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {_cell(str(v))} |" for k, v in latest.items()],
        "",
        "## Summary",
        "",
        "| benchmark | what is compared | result | target |",
        "| --- | --- | --- | --- |",
    ]
    for name, record in records.items():
        for row in summary_rows(name, record["result"]):
            lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    lines += ["", "## Notes", "", NOTES_START]
    if notes:
        lines.append(notes)
    lines += [NOTES_END, "", "## Details"]
    for name, record in records.items():
        info = record.get("machine", {})
        rows: list[tuple[str, str]] = []
        _flatten("", record["result"], rows)
        lines += [
            "",
            f"### {name}",
            "",
            f"Measured {info.get('date', '?')}, mode {record.get('mode', '?')}, on "
            f"{info.get('cpu', '?')}, {info.get('accelerator', '?')}, load average "
            f"{info.get('load_average_1_5_15_min', '?')}.",
            "",
            "| figure | value |",
            "| --- | --- |",
            *[f"| {_cell(k)} | {_cell(v)} |" for k, v in rows],
        ]
    return "\n".join(lines) + "\n"


def run_one(name: str, quick: bool) -> dict[str, Any] | None:
    """Run one benchmark; its record (result, mode, machine), or None when it has no module."""
    module = load_module(name)
    if module is None or not hasattr(module, "run"):
        print(f"== {name}: no bench.bench_{name}.run, skipped", flush=True)
        return None
    missing = getattr(module, "missing", None)  # a benchmark that needs something optional
    reason = missing() if missing is not None else None
    if reason:
        print(f"== {name}: skipped ({reason})", flush=True)
        return None
    print(f"== {name}", flush=True)
    started = time.perf_counter()
    result = {**module.run(quick), "bench_seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(result, indent=2, default=str), flush=True)
    return {"result": result, "mode": "quick" if quick else "full", "machine": machine()}


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (seconds, for smoke tests)"
    )
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--write", type=Path, default=None, help="write the markdown report here")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="saved JSON results (with --write)"
    )
    parser.add_argument(
        "--render-only", action="store_true", help="run nothing, re-render the saved results"
    )
    args = parser.parse_args(argv)
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {', '.join(BENCHMARKS)}")
    chosen = [] if args.render_only else [b for b in BENCHMARKS if not only or b in only]
    records: dict[str, dict[str, Any]] = {}
    for name in chosen:
        record = run_one(name, args.quick)
        if record is None:
            continue
        records[name] = record
        if args.write:
            save_result(args.results_dir, name, record)
    if args.write:
        notes = read_notes(args.write)
        args.write.write_text(render(load_results(args.results_dir), notes), encoding="utf-8")
        print(f"wrote {args.write}")
    return records


if __name__ == "__main__":
    main()
