"""The shared state of several drivers: the LLM call cache, the execution cache and the
bootstrap rounds' finished rows (`gpu_ops.cluster.checkpoints`) in Postgres.

Why: the two caches are SQLite files, so a driver on another host cannot see them. With a
database URL (`compute.state_url`, env `WC_STATE_URL`) both caches live in one Postgres
database instead, and a call made by one driver is a cache hit for every other. Without a URL
nothing changes: the SQLite files under `$WC_HOME/cache` stay the embedded default.

The Postgres caches are subclasses of the SQLite ones that swap only the storage (same keys,
same JSON values, same tables and columns), so hashing, batching and crash points are shared.
Each committed batch is one transaction, as with SQLite: a killed driver keeps whole batches.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gpu_ops.cluster.checkpoints import RowStore, SqliteRowStore, decode, encode
from gpu_ops.errors import InputError
from gpu_ops.llm.cache import CallCache
from gpu_ops.sandbox.result_cache import ExecutionCache

STATE_URL_ENV = "WC_STATE_URL"
CONNECT_TIMEOUT_S = 10
_CALLS = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
)
"""
_OUTCOMES = """
CREATE TABLE IF NOT EXISTS outcomes (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
)
"""

_ROWS = """
CREATE TABLE IF NOT EXISTS bootstrap_rows (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
)
"""


class StateStoreError(InputError):
    """The state database named by the URL cannot be used (refused, unknown scheme, no driver)."""


def state_url(configured: str | None = None) -> str | None:
    """The database URL in force: the env var `WC_STATE_URL`, else the config's, else None."""
    url = (os.environ.get(STATE_URL_ENV) or configured or "").strip()
    if not url:
        return None
    check_state_url(url)
    return url


def check_state_url(url: str) -> str:
    """A postgres URL, or a clear error naming what is accepted."""
    if not re.match(r"^postgres(ql)?://", url):
        raise StateStoreError(
            f"state database URL {redact(url)!r}: only postgresql:// URLs are supported "
            "(leave compute.state_url and WC_STATE_URL unset for the embedded SQLite default)"
        )
    return url


def redact(url: str) -> str:
    """The URL without its password (for error messages and logs)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_call_cache(default_path: str | Path, url: str | None = None) -> CallCache:
    """The LLM call cache: Postgres when a state URL is in force, else the SQLite file."""
    url = state_url(url)
    return CallCache(default_path) if url is None else PostgresCallCache(url)


def open_execution_cache(default_path: str | Path, url: str | None = None) -> ExecutionCache:
    """The execution cache: Postgres when a state URL is in force, else the SQLite file."""
    url = state_url(url)
    return ExecutionCache(default_path) if url is None else PostgresExecutionCache(url)


def open_row_store(default_path: str | Path, url: str | None = None) -> RowStore:
    """The bootstrap rounds' row store: Postgres when a state URL is in force, else SQLite."""
    url = state_url(url)
    return SqliteRowStore(default_path) if url is None else PostgresRowStore(url)


class PostgresTable:
    """One key -> row table in Postgres: batched reads by key, upserts in one transaction."""

    def __init__(self, url: str, table: str, schema: str, value_column: str):
        try:
            import psycopg
        except ImportError as error:  # the `cluster` extra is not installed
            raise StateStoreError(
                f"state database {redact(url)!r} needs psycopg: pip install "
                "'warriorcoder-arena[cluster]'"
            ) from error
        self.url = url
        self.table = table
        self.value_column = value_column
        self._lock = threading.Lock()
        try:
            self._conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
        except psycopg.Error as error:
            raise StateStoreError(
                f"cannot connect to the state database {redact(url)!r}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else error!r}"
            ) from None
        with self._conn.transaction():
            # concurrent CREATE TABLE IF NOT EXISTS can collide in Postgres: serialize it
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
            self._conn.execute(schema)

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored values of the keys that are present."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        with self._lock, self._conn.transaction():
            for start in range(0, len(keys), 1000):
                rows = self._conn.execute(
                    f"SELECT key, {self.value_column} FROM {self.table} WHERE key = ANY(%s)",
                    (keys[start : start + 1000],),
                ).fetchall()
                found.update(rows)
        return found

    def put_many(self, columns: Sequence[str], rows: Sequence[tuple]) -> None:
        """Upsert the rows (key first) in one transaction."""
        if not rows:
            return
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "key")
        sql = (
            f"INSERT INTO {self.table} ({names}) VALUES ({marks}) "
            f"ON CONFLICT (key) DO UPDATE SET {updates}"
        )
        with self._lock, self._conn.transaction(), self._conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def count(self) -> int:
        with self._lock, self._conn.transaction():
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresCallCache(CallCache):
    """The LLM call cache in Postgres (table `calls`, the SQLite file's columns)."""

    def __init__(self, url: str):
        table = PostgresTable(check_state_url(url), "calls", _CALLS, "result")
        super().__init__(":memory:")  # sets every counter the base keeps; its store is unused
        self._conn.close()
        self.path = Path(redact(url))  # what stats() shows as the location
        self._table = table

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(dict.fromkeys(keys))
        found = {k: json.loads(v) for k, v in self._table.get_many(keys).items()}
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, entries: Iterable[tuple[str, str, str, Any]]) -> None:
        now = time.time()
        rows = [(k, m, kind, json.dumps(r, ensure_ascii=False), now) for k, m, kind, r in entries]
        self._table.put_many(("key", "model", "kind", "result", "created_at"), rows)
        self.writes += len(rows)

    def __len__(self) -> int:
        return self._table.count()

    def close(self) -> None:
        self._table.close()


class PostgresExecutionCache(ExecutionCache):
    """The execution cache in Postgres (table `outcomes`, the SQLite file's columns)."""

    def __init__(self, url: str):
        table = PostgresTable(check_state_url(url), "outcomes", _OUTCOMES, "outcome")
        super().__init__(None)  # sets every counter the base keeps; its in-memory store is unused
        self._connection.close()
        self._table = table

    def close(self) -> None:
        self._table.close()

    def _get_many(self, keys: Sequence[str]) -> dict[str, str]:
        return self._table.get_many(keys)

    def _put_many(self, kind: str, items: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        rows = [(key, kind, outcome, now) for key, outcome in items]
        self._table.put_many(("key", "kind", "outcome", "created_at"), rows)


class PostgresRowStore:
    """The bootstrap rounds' finished rows in Postgres (table `bootstrap_rows`)."""

    def __init__(self, url: str):
        self._table = PostgresTable(check_state_url(url), "bootstrap_rows", _ROWS, "value")
        self.hits = 0
        self.computed = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return {key: decode(value) for key, value in self._table.get_many(keys).items()}

    def put_many(self, rows: dict[str, np.ndarray]) -> None:
        now = time.time()
        entries = [(key, encode(row), now) for key, row in rows.items()]
        self._table.put_many(("key", "value", "created_at"), entries)

    def close(self) -> None:
        self._table.close()


_TABLES = {  # embedded cache table -> (Postgres schema, columns)
    "calls": (_CALLS, ("key", "model", "kind", "result", "created_at"), "result"),
    "outcomes": (_OUTCOMES, ("key", "kind", "outcome", "created_at"), "outcome"),
}


def import_sqlite_cache(path: str | Path, url: str, *, chunk: int = 5000) -> dict[str, int]:
    """Copy an embedded cache file's rows into the state database (rows already there are
    overwritten with the same content): moving an arena to Postgres keeps every finished call
    and sandbox outcome. Returns rows copied per table."""
    import sqlite3

    path = Path(path)
    if not path.is_file():
        raise StateStoreError(f"cache file {str(path)!r} does not exist")
    copied: dict[str, int] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as source:
        present = {
            r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        for name in sorted(present & set(_TABLES)):
            schema, columns, value_column = _TABLES[name]
            target = PostgresTable(check_state_url(url), name, schema, value_column)
            try:
                rows = source.execute(f"SELECT {', '.join(columns)} FROM {name}")
                copied[name] = 0
                while batch := rows.fetchmany(chunk):
                    target.put_many(columns, batch)
                    copied[name] += len(batch)
            finally:
                target.close()
    return copied


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m gpu_ops.state_db FILE...`: copy embedded cache files into $WC_STATE_URL."""
    import sys

    files = list(sys.argv[1:] if argv is None else argv)
    url = state_url()
    if url is None or not files:
        raise SystemExit("usage: WC_STATE_URL=postgresql://... python -m gpu_ops.state_db FILE...")
    for file in files:
        print(f"{file}: {import_sqlite_cache(file, url)}")


if __name__ == "__main__":
    main()
