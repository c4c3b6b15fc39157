"""Read a user's battle log (for `warriorcoder rate FILE`): CSV, JSON Lines or Parquet.

Required columns: model_a, model_b, winner (other columns are ignored). Winner values are
case- and whitespace-insensitive: 'model_a', 'model_b', 'tie', and 'tie (bothbad)' as written by
public Chatbot Arena dumps, which is read as a plain tie (both sides get half a point).
A malformed row raises InputError naming its 1-based row number (header and blank JSONL lines
not counted) and the problem (a JSONL line that is not JSON or lacks a column, an empty model
name, model_a == model_b, an unknown winner, a JSONL line that is not UTF-8), or is dropped and
counted when skip_invalid=True. A CSV/Parquet file without a required column or with a column
that is not text (lists, structs, undecodable bytes), an unreadable file, and a file with no valid
battle left are always errors. Row order is kept: online Elo depends on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from gpu_ops.errors import InputError

REQUIRED = ("model_a", "model_b", "winner")
WINNER_ALIASES = {
    "model_a": "model_a",
    "model_b": "model_b",
    "tie": "tie",
    "tie (bothbad)": "tie",
}


def _read_jsonl(path: Path) -> pl.DataFrame:
    """JSON Lines, one battle per non-blank line; a bad line becomes a row with a `parse_problem`."""
    rows: list[dict[str, str | None]] = []
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            row: dict[str, str | None] = dict.fromkeys((*REQUIRED, "parse_problem"))
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                row["parse_problem"] = f"not valid UTF-8 (byte {error.start}: {error.reason})"
                rows.append(row)
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                row["parse_problem"] = f"not valid JSON ({error.msg})"
                rows.append(row)
                continue
            if not isinstance(record, dict):
                row["parse_problem"] = "not a JSON object"
                rows.append(row)
                continue
            absent = [c for c in REQUIRED if c not in record]
            if absent:
                row["parse_problem"] = f"missing column(s) {absent}"
            for column in REQUIRED:
                value = record.get(column)
                row[column] = None if value is None else str(value)
            rows.append(row)
    return pl.DataFrame(rows, schema=dict.fromkeys((*REQUIRED, "parse_problem"), pl.String))


def _read_table(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
        elif suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path)
        elif suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            raise InputError(
                f"{path}: unsupported battle log type {suffix!r} (csv, jsonl, parquet)"
            )
    except InputError:
        raise
    except Exception as error:  # polars raises several error types for unreadable files
        raise InputError(f"{path}: cannot read battle log: {error}") from error
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; found {frame.columns}")
    columns = [_as_strings(frame.get_column(c), path) for c in REQUIRED]
    return pl.DataFrame(columns).with_columns(pl.lit(None, pl.String).alias("parse_problem"))


def _as_strings(column: pl.Series, path: Path) -> pl.Series:
    """A required column as strings; nested or undecodable values are a file-level error."""
    if column.dtype.is_nested() or column.dtype == pl.Object:
        raise InputError(f"{path}: column {column.name!r} holds {column.dtype}, expected strings")
    try:
        return column.cast(pl.String)
    except pl.exceptions.PolarsError as error:
        raise InputError(
            f"{path}: column {column.name!r} ({column.dtype}) cannot be read as text: {error}"
        ) from error


def _problems() -> pl.Expr:
    """Per row, the first problem found (null when the row is fine)."""
    a = pl.col("model_a").str.strip_chars()
    b = pl.col("model_b").str.strip_chars()
    winner = pl.col("winner").str.strip_chars().str.to_lowercase()
    return (
        pl.when(pl.col("parse_problem").is_not_null())
        .then(pl.col("parse_problem"))
        .when(a.is_null() | (a == ""))
        .then(pl.lit("empty model_a"))
        .when(b.is_null() | (b == ""))
        .then(pl.lit("empty model_b"))
        .when(a == b)
        .then(pl.lit("model_a equals model_b (") + a + pl.lit(")"))
        .when(winner.is_null())
        .then(pl.lit("empty winner"))
        .when(~winner.is_in(list(WINNER_ALIASES)))
        .then(
            pl.lit("unknown winner value '")
            + pl.col("winner")
            + pl.lit("' (expected model_a, model_b, tie or 'tie (bothbad)')")
        )
        .otherwise(None)
    )


def read_battle_log(path: str | Path, *, skip_invalid: bool = False) -> tuple[pl.DataFrame, int]:
    """(battles with columns model_a, model_b, winner in file order, number of skipped rows)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"battle log not found: {path}")
    frame = _read_table(path).with_row_index("row", offset=1)
    frame = frame.with_columns(problem=_problems())
    bad = frame.filter(pl.col("problem").is_not_null())
    if bad.height and not skip_invalid:
        first = bad.row(0, named=True)
        more = f" ({bad.height - 1} more invalid rows)" if bad.height > 1 else ""
        raise InputError(f"{path}: row {first['row']}: {first['problem']}{more}")
    if bad.height == frame.height:
        reason = f"all {bad.height} rows are invalid" if bad.height else "no battles in the file"
        raise InputError(f"{path}: nothing to rate: {reason}")
    battles = frame.filter(pl.col("problem").is_null()).select(
        pl.col("model_a").str.strip_chars(),
        pl.col("model_b").str.strip_chars(),
        pl.col("winner").str.strip_chars().str.to_lowercase().replace_strict(WINNER_ALIASES),
    )
    return battles, bad.height
