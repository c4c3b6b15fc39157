"""The DuckDB warehouse: dbt writes a copy and swaps it in; everyone else reads read-only.

DuckDB lets one process write a database file and nobody read it meanwhile ("Could not set lock
on file"). So the live `warehouse.duckdb` is never opened for writing: `warehouse_build()` copies
it under an exclusive file lock, dbt writes the copy, and `os.replace` swaps it in atomically.
Readers open the live file read-only at any time and see a consistent snapshot.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from wc_foundation.storage import Home


class WarehouseMissingError(FileNotFoundError):
    """No warehouse has been built yet in this home."""


@contextmanager
def warehouse_build(home: Home) -> Iterator[Path]:
    """Yield the path dbt must write; swap it in on success, discard it on failure."""
    home.root.mkdir(parents=True, exist_ok=True)
    lock_path = home.root / "warehouse.lock"
    building = home.root / "warehouse.building.duckdb"
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for leftover in (building, Path(f"{building}.wal")):
                leftover.unlink(missing_ok=True)
            if home.warehouse.exists():
                shutil.copy2(home.warehouse, building)
            yield building
            os.replace(building, home.warehouse)
        finally:
            for leftover in (building, Path(f"{building}.wal")):
                leftover.unlink(missing_ok=True)
            fcntl.flock(lock, fcntl.LOCK_UN)


def connect_readonly(home: Home) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the live warehouse."""
    if not home.warehouse.exists():
        raise WarehouseMissingError(
            f"no warehouse at {home.warehouse}: run `warriorcoder run` (or a dbt stage) first"
        )
    return duckdb.connect(str(home.warehouse), read_only=True)


def query(home: Home, sql: str, parameters: list | None = None) -> pl.DataFrame:
    """Run one read-only query against the warehouse and return a polars frame."""
    with connect_readonly(home) as connection:
        relation = connection.sql(sql, params=parameters or None)
        return relation.pl() if relation is not None else pl.DataFrame()


def read_model(home: Home, model: str, *, order_by: Sequence[str] = ()) -> pl.DataFrame:
    """A whole dbt model, as a Python stage reads the warehouse: the model holds the SQL, this
    only names it (and the columns to order its rows by, since a relation has no order)."""
    for name in (model, *order_by):
        if not name.replace("_", "").isalnum():
            raise ValueError(f"{name!r} is not a model or column name")
    columns = ", ".join(f'"{column}"' for column in order_by)
    return query(home, f'select * from "{model}"' + (f" order by {columns}" if columns else ""))


def table_exists(home: Home, table: str) -> bool:
    if not home.warehouse.exists():
        return False
    found = query(
        home,
        "select count(*) as n from information_schema.tables where table_name = ?",
        [table],
    )
    return found["n"][0] > 0
