"""The storage contract: one home directory, Parquet lake written atomically, dbt-owned warehouse.

See docs/ARCHITECTURE.md. Python assets write `lake/<table>/<partition>.parquet` through
`write_lake_table` only; the warehouse file is dbt's (see `wc_foundation.warehouse`).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from gpu_ops.lake_schemas import FIRST_SEEN, conform, lake_schema

UNPARTITIONED = "all"
# small enough that an incremental reader skips most of a partition by row-group statistics
ROW_GROUP_ROWS = 65_536
_PART_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class StorageError(OSError):
    """The home directory or a lake file cannot be written or read."""


@dataclass(frozen=True)
class Home:
    """Paths inside one WarriorCoder home directory (absolute)."""

    root: Path

    @classmethod
    def resolve(cls, root: str | Path | None = None) -> Home:
        """`root`, else env WC_HOME, else `.warriorcoder/` in the working directory."""
        chosen = root or os.environ.get("WC_HOME") or ".warriorcoder"
        return cls(Path(chosen).expanduser().resolve())

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def sft(self) -> Path:
        return self.root / "sft"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def benchmarks(self) -> Path:
        """Benchmark suites written by `warriorcoder prepare-benchmarks`."""
        return self.root / "benchmarks"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def llm_cache(self) -> Path:
        return self.cache / "llm_calls.sqlite"

    def ensure(self) -> Home:
        """Create the directory tree; a clear error when the location is not writable."""
        for path in (self.lake, self.dagster, self.models, self.sft, self.reports, self.cache):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StorageError(
                    f"cannot create {path} (WC_HOME={self.root}): {error.strerror}"
                ) from error
        return self

    def table_dir(self, table: str) -> Path:
        return self.lake / table

    def table_file(self, table: str, partition: str | None = None) -> Path:
        part = partition or UNPARTITIONED
        if not _PART_NAME.match(part):
            raise StorageError(f"partition {part!r} of table {table!r} is not a valid slug")
        return self.table_dir(table) / f"{part}.parquet"


def write_lake_table(
    home: Home, table: str, frame: pl.DataFrame, partition: str | None = None
) -> Path:
    """Write one lake file atomically: a temp file in the same folder, fsync, then rename.

    dbt globs `lake/<table>/*.parquet`; temp files end in `.tmp`, so a half-written file is never
    visible to it, and a failed write (disk full, permissions) leaves the previous file intact.
    The frame must match the table's declared schema (`gpu_ops.lake_schemas`): its columns are
    put in the declared order and cast to the declared types, or the write fails naming them.
    """
    target = home.table_file(table, partition)
    if FIRST_SEEN in lake_schema(table) and FIRST_SEEN not in frame.columns:
        previous = pl.read_parquet(target) if target.exists() else None
        frame = stamp_first_seen(conform(table, frame, content_only=True), previous)
    frame = conform(table, frame)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp"
        )
    except OSError as error:
        raise StorageError(
            f"cannot write lake table {table!r} under {target.parent}: {error.strerror}"
        ) from error
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            frame.write_parquet(
                stream, compression="zstd", statistics=True, row_group_size=ROW_GROUP_ROWS
            )
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_path, target)
    except BaseException as error:
        temp_path.unlink(missing_ok=True)
        # polars reports an I/O failure inside its Parquet writer (a full disk) as ComputeError
        if isinstance(error, OSError | pl.exceptions.ComputeError):
            raise StorageError(
                f"writing lake table {table!r} to {target} failed: {error}"
            ) from error
        raise
    return target


def stamp_first_seen(
    frame: pl.DataFrame, previous: pl.DataFrame | None, now: datetime | None = None
) -> pl.DataFrame:
    """Add FIRST_SEEN: rows identical to a row of `previous` keep its time, the rest get `now`.

    Rows come out oldest first, so the Parquet row groups of old and new rows have disjoint
    FIRST_SEEN ranges and an incremental reader skips the old ones by their statistics."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    stamped = frame.with_columns(_row_hash=frame.hash_rows(seed=0))
    if previous is not None and FIRST_SEEN in previous.columns and previous.height:
        known = (
            previous.select(frame.columns)
            .with_columns(_row_hash=previous.select(frame.columns).hash_rows(seed=0))
            .with_columns(previous[FIRST_SEEN].alias(FIRST_SEEN))
            .group_by("_row_hash")
            .agg(pl.col(FIRST_SEEN).min())
        )
        stamped = stamped.join(known, on="_row_hash", how="left")
    else:
        stamped = stamped.with_columns(pl.lit(None, pl.Datetime("us")).alias(FIRST_SEEN))
    return (
        stamped.with_columns(pl.col(FIRST_SEEN).fill_null(pl.lit(now, pl.Datetime("us"))))
        .sort(FIRST_SEEN, maintain_order=True)
        .drop("_row_hash")
    )


def read_lake_table(home: Home, table: str, partition: str | None = None) -> pl.DataFrame:
    """Read one partition file, or every partition of the table when `partition` is None."""
    if partition is not None:
        path = home.table_file(table, partition)
        if not path.exists():
            raise StorageError(f"lake table {table!r} has no partition {partition!r} at {path}")
        return pl.read_parquet(path)
    files = sorted(home.table_dir(table).glob("*.parquet"))
    if not files:
        raise StorageError(f"lake table {table!r} has no files under {home.table_dir(table)}")
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def lake_partitions(home: Home, table: str) -> list[str]:
    return sorted(p.stem for p in home.table_dir(table).glob("*.parquet"))
