"""Read a user's battle log (for `warriorcoder rate FILE`): CSV, JSON, JSON Lines or Parquet.

Required columns: model_a, model_b, winner. Winner values are case- and whitespace-insensitive:
'model_a', 'model_b', 'tie', and 'tie (bothbad)' as written by public Chatbot Arena dumps, which is
read as a plain tie (both sides get half a point). A `.json` file may hold a JSON array of battle
objects (FastChat's `clean_battle_*.json`) or JSON Lines; so may a `.jsonl` file.

Optional columns, used when the file has them (other columns are ignored):
- `weight`: the vote's mass (a finite number >= 0; fractional allowed). Rows that are the same
  vote written over consecutive lines (every read column equal except weight) are merged into
  one vote of their summed weight, so a vote split over lines rates like the unsplit vote.
- `instruction_id` (or another column named by `cluster_column`, e.g. FastChat's
  `question_id`): the cluster the bootstrap resamples.
- `tstamp`: a number; battles are rated in `tstamp` order (stable), as FastChat does, instead
  of file order.
- `anony`: true/false; with `anony_only` (the default) only anonymous battles are kept, as on
  FastChat's default leaderboard.

A malformed row raises InputError naming its 1-based row number (header and blank JSONL lines
not counted) and the problem, or is dropped and counted when skip_invalid=True. A file without a
required column, a column that is not text or numbers (lists, structs), an unreadable file, and a
file with no valid battle left are always errors. Without `tstamp`, row order is kept: online
Elo depends on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.errors import InputError

REQUIRED = ("model_a", "model_b", "winner")
OPTIONAL = ("weight", "instruction_id", "tstamp", "anony")
WINNER_ALIASES = {
    "model_a": "model_a",
    "model_b": "model_b",
    "tie": "tie",
    "tie (bothbad)": "tie",
}
TRUE_WORDS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class BattleLog:
    """Battles ready to rate (model_a, model_b, winner [, weight] [, instruction_id]) and what
    reading them did."""

    battles: pl.DataFrame
    skipped: int  # malformed rows dropped with skip_invalid
    named_dropped: int  # rows with anony == false dropped by anony_only
    merged: int  # rows merged into the vote on the line before them
    sorted_by_tstamp: bool


def _cell(value: Any) -> str | None:
    """A JSON value as the text a CSV cell would hold (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _records_frame(records: list[Any], columns: tuple[str, ...]) -> pl.DataFrame:
    """JSON records -> one String column per wanted column, plus `parse_problem`."""
    rows: list[dict[str, str | None]] = []
    for record in records:
        row: dict[str, str | None] = dict.fromkeys((*columns, "parse_problem"))
        if isinstance(record, str):  # a problem found while decoding the line
            row["parse_problem"] = record
        elif not isinstance(record, dict):
            row["parse_problem"] = "not a JSON object"
        else:
            absent = [c for c in columns if c not in record]
            if absent:
                row["parse_problem"] = f"missing column(s) {absent}"
            for column in columns:
                row[column] = _cell(record.get(column))
        rows.append(row)
    return pl.DataFrame(rows, schema=dict.fromkeys((*columns, "parse_problem"), pl.String))


def _wanted(keys: set[str], cluster_column: str) -> tuple[str, ...]:
    optional = [c if c != "instruction_id" else cluster_column for c in OPTIONAL]
    return (*REQUIRED, *(c for c in optional if c in keys))


def _read_json_lines(path: Path, cluster_column: str) -> pl.DataFrame:
    """JSON Lines, one battle per non-blank line; a bad line becomes a row with a `parse_problem`."""
    records: list[Any] = []
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                records.append(json.loads(raw.decode("utf-8")))
            except UnicodeDecodeError as error:
                records.append(f"not valid UTF-8 (byte {error.start}: {error.reason})")
            except json.JSONDecodeError as error:
                records.append(f"not valid JSON ({error.msg})")
    keys = {k for r in records if isinstance(r, dict) for k in r}
    return _records_frame(records, _wanted(keys, cluster_column))


def _read_json_array(path: Path, cluster_column: str) -> pl.DataFrame:
    """A JSON array of battle objects (FastChat's clean_battle files)."""
    try:
        records = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not valid UTF-8 (byte {error.start}: {error.reason})") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: not a valid JSON array ({error.msg}, line {error.lineno})"
        ) from None
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a JSON array of battles, got {type(records).__name__}")
    keys = {k for r in records if isinstance(r, dict) for k in r}
    return _records_frame(records, _wanted(keys, cluster_column))


def _starts_with_bracket(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _read_table(path: Path, cluster_column: str) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".json", ".jsonl", ".ndjson"):
            if _starts_with_bracket(path):
                return _read_json_array(path, cluster_column)
            return _read_json_lines(path, cluster_column)
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
        elif suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            raise InputError(
                f"{path}: unsupported battle log type {suffix!r} (csv, json, jsonl, parquet)"
            )
    except InputError:
        raise
    except Exception as error:  # polars raises several error types for unreadable files
        raise InputError(f"{path}: cannot read battle log: {error}") from error
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; found {frame.columns}")
    columns = [
        _as_strings(frame.get_column(c), path) for c in _wanted(set(frame.columns), cluster_column)
    ]
    return pl.DataFrame(columns).with_columns(pl.lit(None, pl.String).alias("parse_problem"))


def _as_strings(column: pl.Series, path: Path) -> pl.Series:
    """A column as strings; nested or undecodable values are a file-level error."""
    if column.dtype.is_nested() or column.dtype == pl.Object:
        raise InputError(f"{path}: column {column.name!r} holds {column.dtype}, expected strings")
    try:
        return column.cast(pl.String)
    except pl.exceptions.PolarsError as error:
        raise InputError(
            f"{path}: column {column.name!r} ({column.dtype}) cannot be read as text: {error}"
        ) from error


def _number(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)


def _problems(columns: list[str], cluster_column: str) -> pl.Expr:
    """Per row, the first problem found (null when the row is fine)."""
    a = pl.col("model_a").str.strip_chars()
    b = pl.col("model_b").str.strip_chars()
    winner = pl.col("winner").str.strip_chars().str.to_lowercase()
    check = (
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
    )
    if "weight" in columns:
        weight = _number("weight")
        check = check.when(
            weight.is_null() | ~weight.is_finite().fill_null(False) | (weight < 0)
        ).then(
            pl.lit("weight must be a finite number >= 0, got '")
            + pl.col("weight").fill_null("")
            + pl.lit("'")
        )
    if cluster_column in columns:
        cluster = pl.col(cluster_column).str.strip_chars()
        check = check.when(cluster.is_null() | (cluster == "")).then(
            pl.lit(f"empty {cluster_column}")
        )
    if "tstamp" in columns:
        check = check.when(_number("tstamp").is_null() | ~_number("tstamp").is_finite()).then(
            pl.lit("tstamp must be a number, got '") + pl.col("tstamp").fill_null("") + pl.lit("'")
        )
    if "anony" in columns:
        anony = pl.col("anony").str.strip_chars().str.to_lowercase()
        check = check.when(anony.is_null() | ~anony.is_in(list(TRUE_WORDS))).then(
            pl.lit("anony must be true or false, got '")
            + pl.col("anony").fill_null("")
            + pl.lit("'")
        )
    return check.otherwise(None)


def _merge_split_votes(battles: pl.DataFrame) -> pl.DataFrame:
    """Consecutive rows equal in every column but weight become one row with the summed weight."""
    keys = [c for c in battles.columns if c != "weight"]
    return (
        battles.with_columns(_vote=pl.struct(keys).rle_id())
        .group_by("_vote", maintain_order=True)
        .agg(*(pl.col(c).first() for c in keys), pl.col("weight").sum())
        .select(battles.columns)
    )


def load_battle_log(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    anony_only: bool = True,
    cluster_column: str = "instruction_id",
) -> BattleLog:
    """Read, check, filter (anony), order (tstamp) and merge split votes of a battle log."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"battle log not found: {path}")
    if cluster_column in (*REQUIRED, "weight", "tstamp", "anony"):
        raise InputError(f"cluster column {cluster_column!r} is already a battle log column")
    frame = _read_table(path, cluster_column).with_row_index("row", offset=1)
    columns = frame.columns
    frame = frame.with_columns(problem=_problems(columns, cluster_column))
    bad = frame.filter(pl.col("problem").is_not_null())
    if bad.height and not skip_invalid:
        first = bad.row(0, named=True)
        more = f" ({bad.height - 1} more invalid rows)" if bad.height > 1 else ""
        raise InputError(f"{path}: row {first['row']}: {first['problem']}{more}")
    if bad.height == frame.height:
        reason = f"all {bad.height} rows are invalid" if bad.height else "no battles in the file"
        raise InputError(f"{path}: nothing to rate: {reason}")
    good = frame.filter(pl.col("problem").is_null())
    named_dropped = 0
    if "anony" in columns and anony_only:
        anonymous = pl.col("anony").str.strip_chars().str.to_lowercase().replace_strict(TRUE_WORDS)
        kept = good.filter(anonymous)
        named_dropped = good.height - kept.height
        if not kept.height:
            raise InputError(
                f"{path}: nothing to rate: all {good.height} valid battles have anony = false "
                "(rate them with --all-battles)"
            )
        good = kept
    if "tstamp" in columns:
        good = good.sort(_number("tstamp"), maintain_order=True)
    selected = [
        pl.col("model_a").str.strip_chars(),
        pl.col("model_b").str.strip_chars(),
        pl.col("winner").str.strip_chars().str.to_lowercase().replace_strict(WINNER_ALIASES),
    ]
    if "weight" in columns:
        selected.append(_number("weight").alias("weight"))
    if cluster_column in columns:
        selected.append(pl.col(cluster_column).str.strip_chars().alias("instruction_id"))
    battles = good.select(selected)
    merged = 0
    if "weight" in columns:
        before = battles.height
        battles = _merge_split_votes(battles)
        merged = before - battles.height
    return BattleLog(
        battles=battles,
        skipped=bad.height,
        named_dropped=named_dropped,
        merged=merged,
        sorted_by_tstamp="tstamp" in columns,
    )


def read_battle_log(
    path: str | Path, *, skip_invalid: bool = False, anony_only: bool = True
) -> tuple[pl.DataFrame, int]:
    """(battles ready to rate, number of skipped malformed rows); see `load_battle_log`."""
    log = load_battle_log(path, skip_invalid=skip_invalid, anony_only=anony_only)
    return log.battles, log.skipped
