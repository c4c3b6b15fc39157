"""dbt run inside this process (dbt's programmatic `dbtRunner`), parsed once per process.

Why: a `dbt` subprocess costs about 3.4 s per build (a Python start, dbt's imports, loading the
partial parse) for under 1 s of dbt's own work, and a fresh arena runs six builds. In-process,
dbt is imported once per process, the project is parsed once per (project files, vars) and every
later build reuses the parsed `Manifest` object, so a build costs dbt's own work.

dbt keeps process-wide state (flags, the adapter, its event manager): one invocation at a time
(`one_at_a_time` holds that turn across a caller's own steps around an invocation).
This module knows nothing of Dagster; `dagster_wc.dbt.assets` turns the results into
asset events.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# dbt's structured events for one finished node (what dagster-dbt turns into asset events)
RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"})
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})

_LOCK = threading.RLock()  # re-entrant: a caller holding `one_at_a_time` may invoke


class DbtBuildError(RuntimeError):
    """dbt failed: the message names each failed model or test and dbt's reason."""


@dataclass
class DbtInvocation:
    """What one dbt command left: its success, its result object and its node result events."""

    success: bool
    result: Any = None  # Manifest for parse, RunExecutionResult for build
    exception: BaseException | None = None
    result_events: list[dict] = field(default_factory=list)  # dbt's JSON log shape
    error_lines: list[str] = field(default_factory=list)

    def failure_message(self, command: str) -> str:
        """One line per failed node (model, test, unit test), else dbt's error."""
        lines = []
        for result in getattr(self.result, "results", None) or []:
            status = str(result.status).lower()
            if status in FAILED_STATUSES:
                node = result.node
                failures = f" ({result.failures} failing rows)" if result.failures else ""
                message = " ".join(str(result.message or status).split())
                lines.append(f"  {node.resource_type} {node.name}: {message}{failures}")
        if not lines and self.exception is not None:
            lines.append(f"  {type(self.exception).__name__}: {self.exception}")
        if not lines:
            lines = [f"  {line}" for line in self.error_lines[-10:]] or ["  (no error reported)"]
        return f"dbt {command} failed:\n" + "\n".join(lines)


@contextmanager
def one_at_a_time() -> Iterator[None]:
    """This process's dbt turn, held across a caller's steps (point a manifest, then build with
    it), so another thread's dbt command never runs in between."""
    with _LOCK:
        yield


def invoke(args: list[str], manifest: Any = None) -> DbtInvocation:
    """Run one dbt command in this process; with `manifest`, dbt skips parsing."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    result_events: list[dict] = []
    error_lines: list[str] = []

    def collect(event) -> None:
        if event.info.name in RESULT_EVENTS:
            result_events.append(msg_to_dict(event))
        elif event.info.level == "error" and event.info.msg:
            error_lines.append(" ".join(event.info.msg.split()))

    with _LOCK:
        try:
            outcome = dbtRunner(manifest=manifest, callbacks=[collect]).invoke(list(args))
        finally:
            close_duckdb()
    return DbtInvocation(
        success=outcome.success,
        result=outcome.result,
        exception=outcome.exception,
        result_events=result_events,
        error_lines=error_lines,
    )


def close_duckdb() -> None:
    """Close the DuckDB connection dbt-duckdb keeps for the process after a command.

    Left open, it would hold the warehouse copy dbt just wrote, so reading it read-only (row
    counts) fails, and the next build in this process, which writes a new copy at the same path,
    would reuse DuckDB's cached database instance of the old file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        environment = DuckDBConnectionManager.env()
    except Exception:  # dbt-duckdb raises a plain Exception when no command opened one
        return
    DuckDBConnectionManager.close_all_connections()  # forgets it; closing is ours to do
    environment.close()


def common_args(project_dir: Path, target_path: Path, vars_json: str | None) -> list[str]:
    """Project, profile and target folders, the vars, and no debug log file (it only costs time:
    dbt's normal output goes to stdout, which the runner sends to its log)."""
    return [
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target_path),
        "--log-level-file",
        "none",
        *(["--vars", vars_json] if vars_json else []),
    ]


def parse(project_dir: Path, target_path: Path, vars_json: str | None) -> Any:
    """`dbt parse` into `target_path` (manifest.json, partial_parse.msgpack); the Manifest object."""
    done = invoke(["parse", "--quiet", *common_args(project_dir, target_path, vars_json)])
    if not done.success or done.result is None:
        raise DbtBuildError(done.failure_message("parse"))
    return done.result
