"""The local Dagster instance under $WC_HOME/dagster, with an event log that does not fsync per event.

Why: Dagster's SQLite event log opens a connection per event, commits it and closes it, and
SQLite in WAL mode syncs to disk on that commit and checkpoints when the last connection closes.
That costs about 20 ms per event on these machines, and a dbt build records about three events
per model and per dbt test (planned, output, materialization or check result): two thirds of a
dbt step's wall time went there. `SyncOnCheckpointEventLogStorage` keeps the same files (the UI
and other processes read them as usual) but runs each connection with `synchronous=NORMAL` and
keeps one idle connection open per database it recently wrote, so a commit appends to the WAL
without a sync and closing a connection does not checkpoint. In WAL mode SQLite stays consistent
with NORMAL; a power loss may lose the last events, never the database.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg

from dagster_wc.orchestration.instance_storage import uses_postgres
from dagster_wc.upstream_internals import instance_with_event_log, sqlite_event_log_storage_class
from wc_foundation.storage import Home

HELD_DATABASES = 3  # the index and the last runs' databases


class SyncOnCheckpointEventLogStorage(sqlite_event_log_storage_class()):
    """Dagster's SQLite event log, syncing to disk at WAL checkpoints instead of every event.

    It overrides the base class's `_connect` (private; `dagster_wc.upstream_internals` pins the
    version it was written against)."""

    def __init__(self, base_dir: str, inst_data: Any = None):
        self._held: OrderedDict[str, sqlite3.Connection] = OrderedDict()
        self._held_lock = threading.Lock()
        super().__init__(base_dir, inst_data)  # connects already (a new index database)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SyncOnCheckpointEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        with super()._connect(shard) as connection:
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
            yield connection
        self._hold(shard)

    def _hold(self, shard: str) -> None:
        """Keep an idle connection to the shard's database, so closing the writer's is not the
        last close (which would checkpoint and sync)."""
        with self._held_lock:
            if shard in self._held:
                self._held.move_to_end(shard)
                return
            holder = sqlite3.connect(self.path_for_shard(shard), check_same_thread=False)
            holder.execute("select 1 from sqlite_master limit 1").fetchall()
            self._held[shard] = holder
            while len(self._held) > HELD_DATABASES:
                self._held.popitem(last=False)[1].close()

    def dispose(self) -> None:
        super().dispose()
        with self._held_lock:
            while self._held:
                self._held.popitem()[1].close()


def use_local_instance(home: Home) -> dg.DagsterInstance:
    """The persistent instance under $WC_HOME/dagster (what `make ui` opens too), its event log
    written by `SyncOnCheckpointEventLogStorage` (same files as Dagster's default)."""
    home.dagster.mkdir(parents=True, exist_ok=True)
    settings = home.dagster / "dagster.yaml"
    if not settings.exists():
        settings.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    if uses_postgres(settings):  # configs/cluster/dagster_postgres.yaml: Dagster's own storages
        return dg.DagsterInstance.get()  # the dagster.yaml in DAGSTER_HOME, as written
    event_log = {
        "module": __name__,
        "class": SyncOnCheckpointEventLogStorage.__name__,
        "config": {"base_dir": str(home.dagster / "history" / "runs")},
    }
    return instance_with_event_log(str(home.dagster), event_log)
