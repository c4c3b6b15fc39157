"""A persistent cache of sandbox outcomes, by content hash: an arena re-run, or an expert joining,
runs in the sandbox only what it never ran.

Three kinds of entries, keyed by content:
- a script run (a response's code run as a program, and the limits): its status and tier;
- one probe's answer (the code, the limits, the probe): the plain value it returned as it
  travelled (``{"value", "rest"}`` or ``{"rows"}``), or the exception type it raised;
- one referee verdict (the test's condition and the answers it was decided on): True or False.
Probes are cached one by one because cross-execution adds tests as competitors join: an earlier
response is then asked only the newcomer's tests.

Only final outcomes are written (issue 24): a script run or a probe whose outcome load could have
caused (wall-clock kill, sandbox error, no answer) is asked again next time, never cached; a run
whose answer channel was malformed is discarded whole; a referee job without a verdict is not
cached. Identical code shares entries because its entries are computed from its own run only:
the scorer writes a run's answers under that run's keys and nowhere else. SQLite with WAL and a
busy timeout: several processes (one per expert partition) share one file safely.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CACHE_VERSION = "exec-cache-v2"  # bump when what a cached outcome means changes
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class ScriptOutcome:
    """What scoring needs of a script run."""

    status: str
    isolation: str


def outcome_key(kind: str, code: str, limits: dict, probe: dict | None = None) -> str:
    """Content hash of (kind, code, limits, probe): equal inputs, equal key, in any process."""
    payload = json.dumps(
        [CACHE_VERSION, kind, code, limits, probe], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class ExecutionCache:
    """The outcome store; `None` as path keeps it in memory (tests, one-off scoring)."""

    def __init__(self, path: str | Path | None = None):
        target = ":memory:" if path is None else str(path)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(target, timeout=60, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(_SCHEMA)
        self.hits = 0
        self.misses = 0
        self.sandbox_runs = 0  # runs of the code under test made by the scorers using this cache
        self.referee_runs = 0  # referee runs (no code under test in them)

    def close(self) -> None:
        self._connection.close()

    def _get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(keys)), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT key, outcome FROM outcomes WHERE key IN ({marks})", chunk
            ).fetchall()
            found.update(rows)
        return found

    def _put_many(self, kind: str, items: Iterable[tuple[str, str]]) -> None:
        rows = [(key, kind, outcome, time.time()) for key, outcome in items]
        if not rows:
            return
        with self._connection:  # one transaction: a killed run keeps whole batches only
            self._connection.execute("BEGIN")
            self._connection.executemany(
                "INSERT OR REPLACE INTO outcomes (key, kind, outcome, created_at) VALUES (?,?,?,?)",
                rows,
            )

    def scripts(self, keys: Sequence[str]) -> dict[str, ScriptOutcome]:
        found = {k: ScriptOutcome(**json.loads(v)) for k, v in self._get_many(keys).items()}
        self._count(len(found), len(set(keys)) - len(found))
        return found

    def put_scripts(self, outcomes: dict[str, ScriptOutcome]) -> None:
        self._put_many(
            "script",
            (
                (k, json.dumps({"status": o.status, "isolation": o.isolation}))
                for k, o in outcomes.items()
            ),
        )

    def answers(self, keys: Sequence[str]) -> dict[str, tuple[str, object]]:
        """key -> ("value", the answer as it travelled) or ("error", exception type name)."""
        found = {}
        for key, text in self._get_many(keys).items():
            record = json.loads(text)
            found[key] = (
                ("value", record["value"]) if "value" in record else ("error", record["error"])
            )
        self._count(len(found), len(set(keys)) - len(found))
        return found

    def put_answers(self, answers: dict[str, tuple[str, object]]) -> None:
        self._put_many(
            "probe",
            (
                (k, json.dumps({"value": v} if kind == "value" else {"error": v}))
                for k, (kind, v) in answers.items()
            ),
        )

    def verdicts(self, keys: Sequence[str]) -> dict[str, bool]:
        """key -> the referee's verdict."""
        return {k: json.loads(v) is True for k, v in self._get_many(keys).items()}

    def put_verdicts(self, verdicts: dict[str, bool]) -> None:
        self._put_many("verdict", ((k, json.dumps(bool(v))) for k, v in verdicts.items()))

    def _count(self, hits: int, misses: int) -> None:
        self.hits += hits
        self.misses += misses


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
