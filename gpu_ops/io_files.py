"""Read a user's files for the standalone CLI commands (dedup, embed, select).

Tables come as .jsonl/.json/.parquet/.csv, embeddings as .npy or a Parquet list column.
Every problem a user can cause (missing file, wrong suffix, empty file, missing field,
wrong type) becomes an `InputError` that names the file and says what to fix. Writes are
atomic (temp file + rename) so a crashed run never leaves a half-written output.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gpu_ops.errors import InputError

TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
EMBEDDING_SUFFIXES = (".npy", ".parquet")


@dataclass(frozen=True)
class TextTable:
    """A user table plus the row ids and texts taken from it (same order as the rows)."""

    frame: pl.DataFrame
    ids: pl.Series
    texts: list[str]


def read_jsonl_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of every non-blank line of a .jsonl or .jsonl.gz file.

    One reader for benchmark and problem files: a line that is not a JSON object is an
    InputError naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: not a JSON object")
            yield number, record


def _existing_file(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(suffixes)}"
        )
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    return path


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a .jsonl/.json/.parquet/.csv table; an empty table is an error."""
    path = _existing_file(path, TABLE_SUFFIXES)
    readers: dict[str, Callable[[Path], pl.DataFrame]] = {
        ".jsonl": pl.read_ndjson,
        ".json": pl.read_json,
        ".parquet": pl.read_parquet,
        ".csv": pl.read_csv,
    }
    try:
        frame = readers[path.suffix.lower()](path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read as {path.suffix}: {err}") from err
    if frame.height == 0:
        raise InputError(f"{path}: table has no rows")
    return frame


def _require_column(frame: pl.DataFrame, name: str, path: Path, role: str) -> pl.Series:
    if name not in frame.columns:
        raise InputError(f"{path}: no {role} field {name!r}; fields are {', '.join(frame.columns)}")
    return frame.get_column(name)


def read_text_table(path: str | Path, *, text_field: str, id_field: str | None = None) -> TextTable:
    """Read a table with a text column; row ids come from `id_field` or the 0-based row index.

    Null texts count as empty strings. Ids must be unique and non-null.
    """
    frame = read_table(path)
    path = Path(path)
    texts = _require_column(frame, text_field, path, "text")
    if texts.dtype not in (pl.String, pl.Null):
        raise InputError(f"{path}: text field {text_field!r} holds {texts.dtype}, expected strings")
    if id_field is None:
        ids = pl.Series("id", np.arange(frame.height, dtype=np.int64))
    else:
        ids = _require_column(frame, id_field, path, "id").alias("id")
        if ids.null_count():
            raise InputError(f"{path}: id field {id_field!r} has {ids.null_count()} null values")
        if ids.n_unique() != ids.len():
            raise InputError(f"{path}: id field {id_field!r} has duplicate values")
    return TextTable(frame=frame, ids=ids, texts=texts.cast(pl.String).fill_null("").to_list())


def read_embeddings(path: str | Path, *, column: str | None = None) -> np.ndarray:
    """Read an (n, d) float32 matrix from .npy or a Parquet list/array column.

    For Parquet, `column` defaults to the only list/array column (or one named "embedding").
    """
    path = _existing_file(path, EMBEDDING_SUFFIXES)
    if path.suffix.lower() == ".npy":
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: cannot read as .npy: {err}") from err
    else:
        matrix = _embeddings_from_parquet(path, column)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(f"{path}: expected a non-empty 2-D matrix, got shape {matrix.shape}")
    if not np.issubdtype(matrix.dtype, np.number):
        raise InputError(f"{path}: expected numbers, got dtype {matrix.dtype}")
    return np.ascontiguousarray(matrix, dtype=np.float32)


def _embeddings_from_parquet(path: Path, column: str | None) -> np.ndarray:
    frame = read_table(path)
    vector_columns = [
        name for name, dtype in frame.schema.items() if isinstance(dtype, (pl.List, pl.Array))
    ]
    if column is None:
        if "embedding" in vector_columns:
            column = "embedding"
        elif len(vector_columns) == 1:
            column = vector_columns[0]
        else:
            raise InputError(
                f"{path}: cannot tell which column holds the embeddings "
                f"(list columns: {vector_columns or 'none'}); name it explicitly"
            )
    series = _require_column(frame, column, path, "embedding")
    if series.null_count():
        raise InputError(f"{path}: embedding column {column!r} has null rows")
    lengths = series.list.len() if isinstance(series.dtype, pl.List) else None
    if lengths is not None and lengths.n_unique() != 1:
        raise InputError(f"{path}: embedding rows in {column!r} have different lengths")
    try:
        return np.asarray(series.to_list(), dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: embedding column {column!r} is not numeric: {err}") from err


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temp file next to `path`; an unwritable path or table is an InputError."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give an output file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise InputError(f"{path}: cannot write here: {err}") from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise InputError(f"{path}: cannot write: {err}") from err
    except pl.exceptions.PolarsError as err:  # e.g. nested or binary columns in a .csv
        raise InputError(f"{path}: cannot write this table as {path.suffix}: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)


def write_table(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a table in the format its suffix names (.jsonl/.json/.parquet/.csv), atomically."""
    path = Path(path)
    writers: dict[str, Callable[[Path], None]] = {
        ".jsonl": frame.write_ndjson,
        ".json": frame.write_json,
        ".parquet": frame.write_parquet,
        ".csv": frame.write_csv,
    }
    if path.suffix.lower() not in writers:
        raise InputError(
            f"{path}: unsupported output type {path.suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}"
        )
    _atomic_write(path, writers[path.suffix.lower()])
    return path


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text atomically."""
    path = Path(path)
    _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def write_npy(matrix: np.ndarray, path: str | Path) -> Path:
    """Write a numpy array to .npy atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise InputError(f"{path}: expected a .npy output path")

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.save(handle, matrix, allow_pickle=False)

    _atomic_write(path, write)
    return path
