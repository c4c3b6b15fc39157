"""Resumable rows: a long fan-out of numbered rows (bootstrap rounds) whose finished rows are
committed as each part returns, so a killed driver's rerun computes only the rows it lacks.

Why rows by content key: a row's key is a hash of everything that decides it (the caller's
`key`: the votes, the settings, the seed) and its index, so a rerun of the same step finds
exactly its own finished rows, whatever the cluster looked like when they were computed, and a
changed input finds none. The store is SQLite under `$WC_HOME/cache` by default, or Postgres
(`gpu_ops.state_db.PostgresRowStore`) shared by every driver. Values are float arrays, stored as
`.npy` bytes without pickle (nothing read back can run code).
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from gpu_ops.cluster.executor import connect, map_tasks, ray_address
from gpu_ops.failpoints import failpoint

PARTS_PER_RUN = 10  # local parts: a killed driver loses at most a tenth of the rows
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created_at REAL NOT NULL
)
"""


class RowStore(Protocol):
    """Finished rows by key; `hits` rows read back, `computed` rows computed by this store's
    users (what a rerun counts)."""

    hits: int
    computed: int

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put_many(self, rows: dict[str, np.ndarray]) -> None: ...

    def close(self) -> None: ...


def content_key(*parts: object) -> str:
    """sha256 of the parts: arrays by dtype, shape and bytes; anything else by its repr."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def encode(row: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(row), allow_pickle=False)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)


class SqliteRowStore:
    """Rows in one SQLite file (WAL, busy timeout: several processes share it)."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()
        self.hits = 0
        self.computed = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, value FROM rows WHERE key IN ({marks})", chunk
                )
                found.update((key, decode(value)) for key, value in rows)
        return found

    def put_many(self, rows: dict[str, np.ndarray]) -> None:
        """Store the rows in one committed transaction."""
        now = time.time()
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO rows VALUES (?, ?, ?)",
                [(key, encode(row), now) for key, row in rows.items()],
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def resumable_rows(
    compute: Callable[[list], Sequence[np.ndarray]],
    count: int,
    *,
    store: RowStore | None,
    key: str,
    items: Callable[[list[int]], Iterable[object]] | None = None,
) -> list[np.ndarray]:
    """Rows `0..count-1`: `compute(indices)` gives the rows of those indices, each computed
    alone (so any split gives the same rows). Rows the store holds are read back; the missing
    ones go out in parts (Ray tasks, at least one per cluster CPU, on a cluster; else in this
    process) and each part is committed as it returns (crash point `bootstrap.committed`).
    `items(indices)`, when given, is what a part carries instead of its indices (e.g. draws
    made in the driver). Without a store: `compute(all indices)`, once."""
    indices = list(range(count))
    if store is None:
        return list(compute(indices))
    keys = [content_key(key, index) for index in indices]
    found = store.get_many(keys)
    store.hits += len(found)
    missing = [index for index in indices if keys[index] not in found]
    parts = _split(missing)
    carried = [list(items(part)) if items is not None else part for part in parts]

    def commit(position: int, rows: Sequence[np.ndarray]) -> None:
        store.put_many(
            {keys[i]: np.asarray(row) for i, row in zip(parts[position], rows, strict=True)}
        )
        store.computed += len(parts[position])
        failpoint("bootstrap.committed")

    for part, rows in zip(parts, map_tasks(compute, carried, on_result=commit), strict=True):
        found.update((keys[i], np.asarray(row)) for i, row in zip(part, rows, strict=True))
    return [found[keys[index]] for index in indices]


def _split(indices: list[int]) -> list[list[int]]:
    """Contiguous parts: at least one per cluster CPU, and at least PARTS_PER_RUN."""
    if not indices:
        return []
    address = ray_address()
    cpus = int(connect(address).cluster_resources().get("CPU", 1)) if address else 1
    count = min(len(indices), max(cpus, PARTS_PER_RUN))
    size = -(-len(indices) // count)
    return [indices[start : start + size] for start in range(0, len(indices), size)]
