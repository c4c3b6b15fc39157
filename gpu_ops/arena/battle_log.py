"""Read a user's battle log (for `warriorcoder rate FILE`): CSV, JSON, JSON Lines or Parquet.

Required columns: model_a, model_b, winner. Winner values are case- and whitespace-insensitive:
'model_a', 'model_b', 'tie', and 'tie (bothbad)' as written by public Chatbot Arena dumps, which is
read as a plain tie (both sides get half a point). A `.json` file may hold a JSON array of battle
objects (FastChat's `clean_battle_*.json`) or JSON Lines; so may a `.jsonl` file.

Optional columns, used when the file has them (other columns are ignored):
- `weight`: the vote's mass (a finite number >= 0; fractional allowed; absent or empty: 1).
- `instruction_id` (or another column named by `cluster_column`, e.g. FastChat's
  `question_id`): the cluster the bootstrap resamples (absent or empty: the vote alone).
- `tstamp`: a number; battles are rated in `tstamp` order (stable; rows without one last), as
  FastChat does, instead of file order.
- `anony`: true/false; with `anony_only` (the default) only anonymous battles are kept, as on
  FastChat's default leaderboard (absent or empty: kept).

Every row is one vote. With `merge_split_votes`, consecutive rows identical in every column of
the file except `weight` are merged into one vote of their summed weight, so a vote split over
lines rates like the unsplit vote (online Elo included); rows that differ in anything else (a
judge, a timestamp, a question) are never merged.

Expert names must be text: a number, NaN or null where a name belongs is an error naming the
row. Files are decoded as UTF-8 with or without a byte-order mark. CSV, JSON and JSON Lines are
parsed by polars; a JSON file that polars cannot take whole (a malformed line, a non-string
name) is re-read record by record to name the row and the problem.

A malformed row raises InputError naming its 1-based row number (header and blank JSONL lines
not counted) and the problem, or is dropped and counted when skip_invalid=True. A file without a
required column, a column that is not text or numbers (lists, structs), an unreadable file, and a
file with no valid battle left are always errors. Without `tstamp`, row order is kept: online
Elo depends on it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
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
BOM = b"\xef\xbb\xbf"


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


def _records_frame(records: list[Any], columns: tuple[str, ...], keep_key: bool) -> pl.DataFrame:
    """JSON records -> one String column per wanted column, `parse_problem` [and `_key`]."""
    rows: list[dict[str, str | None]] = []
    for record in records:
        row: dict[str, str | None] = dict.fromkeys((*columns, "parse_problem", "_key"))
        if isinstance(record, str):  # a problem found while decoding the line
            row["parse_problem"] = record
        elif not isinstance(record, dict):
            row["parse_problem"] = "not a JSON object"
        else:
            absent = [c for c in REQUIRED if c not in record]
            names = [c for c in ("model_a", "model_b") if c in record]
            not_text = [c for c in names if not isinstance(record[c], str)]
            if absent:
                row["parse_problem"] = f"missing column(s) {absent}"
            elif not_text:
                value = record[not_text[0]]
                row["parse_problem"] = (
                    f"{not_text[0]} must be a string (an expert name), got {value!r}"
                )
            for column in columns:
                row[column] = _cell(record.get(column))
            if keep_key:
                rest = {k: v for k, v in record.items() if k != "weight"}
                row["_key"] = json.dumps(rest, sort_keys=True, default=str)
        rows.append(row)
    schema = dict.fromkeys((*columns, "parse_problem", "_key"), pl.String)
    frame = pl.DataFrame(rows, schema=schema)
    return frame if keep_key else frame.drop("_key")


def _wanted(keys: set[str], cluster_column: str) -> tuple[str, ...]:
    optional = [c if c != "instruction_id" else cluster_column for c in OPTIONAL]
    return (*REQUIRED, *(c for c in optional if c in keys))


def _read_json_lines(raw: bytes, cluster_column: str, keep_key: bool) -> pl.DataFrame:
    """JSON Lines, one battle per non-blank line; a bad line becomes a row with a `parse_problem`."""
    records: list[Any] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line.decode("utf-8")))
        except UnicodeDecodeError as error:
            records.append(f"not valid UTF-8 (byte {error.start}: {error.reason})")
        except json.JSONDecodeError as error:
            records.append(f"not valid JSON ({error.msg})")
    keys = {k for r in records if isinstance(r, dict) for k in r}
    return _records_frame(records, _wanted(keys, cluster_column), keep_key)


def _read_json_array(raw: bytes, path: Path, cluster_column: str, keep_key: bool) -> pl.DataFrame:
    """A JSON array of battle objects (FastChat's clean_battle files), record by record."""
    try:
        records = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not valid UTF-8 (byte {error.start}: {error.reason})") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: not a valid JSON array ({error.msg}, line {error.lineno})"
        ) from None
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a JSON array of battles, got {type(records).__name__}")
    keys = {k for r in records if isinstance(r, dict) for k in r}
    return _records_frame(records, _wanted(keys, cluster_column), keep_key)


# A name that is not a JSON string ("model_a": 1, NaN, null, true): polars would read it as text.
_NAME_NOT_TEXT = re.compile(rb'"model_[ab]"\s*:\s*[^"\s]')


def _read_json_polars(raw: bytes, array: bool, cluster_column: str) -> pl.DataFrame | None:
    """The wanted columns as strings, parsed by polars; None when a record needs a closer look."""
    if _NAME_NOT_TEXT.search(raw):
        return None
    wanted = _wanted(set(OPTIONAL) | {cluster_column}, cluster_column)
    schema = dict.fromkeys(wanted, pl.String)
    try:
        reader = pl.read_json if array else pl.read_ndjson
        frame = reader(io.BytesIO(raw), schema=schema)
    except Exception:  # any parse failure is diagnosed by the record reader
        return None
    if frame.select(pl.any_horizontal(pl.col(REQUIRED).is_null()).any()).item():
        return None  # a record without a name or winner: named by the record reader
    present = [c for c in wanted if c in REQUIRED or frame[c].null_count() < frame.height]
    return frame.select(present).with_columns(pl.lit(None, pl.String).alias("parse_problem"))


def _read_json(path: Path, cluster_column: str, keep_key: bool) -> pl.DataFrame:
    raw = path.read_bytes()
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    array = raw.lstrip(b" \t\r\n").startswith(b"[")
    if not keep_key:
        frame = _read_json_polars(raw, array, cluster_column)
        if frame is not None:
            return frame
    if array:
        return _read_json_array(raw, path, cluster_column, keep_key)
    return _read_json_lines(raw, cluster_column, keep_key)


def _read_table(path: Path, cluster_column: str, keep_key: bool) -> pl.DataFrame:
    """The wanted columns as strings, `parse_problem`, and with keep_key a `_key` per row that
    is equal for rows identical in every column but weight."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".json", ".jsonl", ".ndjson"):
            return _read_json(path, cluster_column, keep_key)
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
    for name in ("model_a", "model_b"):
        column = frame.get_column(name)
        if column.dtype not in (pl.String, pl.Null) and not isinstance(
            column.dtype, pl.Categorical | pl.Enum
        ):
            row = int(column.is_not_null().arg_true().first() or 0)
            raise InputError(
                f"{path}: row {row + 1}: {name} must be a string (an expert name), got "
                f"{column[row]!r} ({column.dtype} column)"
            )
    columns = [
        _as_strings(frame.get_column(c), path) for c in _wanted(set(frame.columns), cluster_column)
    ]
    out = pl.DataFrame(columns).with_columns(pl.lit(None, pl.String).alias("parse_problem"))
    if keep_key:
        rest = frame.drop("weight", strict=False)
        out = out.with_columns(_key=rest.hash_rows().cast(pl.String))
    return out


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


def _given(column: str) -> pl.Expr:
    """True where an optional column holds a value (null or blank means: take the default)."""
    return pl.col(column).str.strip_chars().fill_null("") != ""


def _by_value(series: pl.Series, transform: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """`transform(series)`, computed once per distinct value when values repeat (winners)."""
    values = series.drop_nulls().unique()
    if len(values) * 100 > len(series):
        return transform(series)
    return transform(values).gather(series.cast(pl.Enum(values)).to_physical())


def _canonical_winner(values: pl.Series) -> pl.Series:
    """'model_a', 'model_b' or 'tie' (case and spaces ignored, aliases mapped), else null."""
    lowered = values.str.strip_chars().str.to_lowercase()
    return lowered.replace_strict(WINNER_ALIASES, default=None, return_dtype=pl.String)


def _normalized(frame: pl.DataFrame) -> list[pl.Series]:
    """Stripped names and the canonical winner, computed once (`_a`, `_b`, `_winner`)."""
    return [
        frame["model_a"].str.strip_chars().alias("_a"),
        frame["model_b"].str.strip_chars().alias("_b"),
        _by_value(frame["winner"], _canonical_winner).alias("_winner"),
    ]


def _checks(columns: list[str]) -> list[tuple[pl.Expr, pl.Expr]]:
    """(condition, message) per problem, in the order they are reported (see `_normalized`).

    Conditions are cheap booleans, evaluated on every row; messages are built only for the
    rows that fail (string concatenation over millions of rows would cost more than reading).
    """
    a, b, winner = pl.col("_a"), pl.col("_b"), pl.col("_winner")
    checks = [
        (pl.col("parse_problem").is_not_null(), pl.col("parse_problem")),
        (a.is_null() | (a == ""), pl.lit("empty model_a")),
        (b.is_null() | (b == ""), pl.lit("empty model_b")),
        (a == b, pl.lit("model_a equals model_b (") + a + pl.lit(")")),
        (pl.col("winner").is_null(), pl.lit("empty winner")),
        (
            winner.is_null(),
            pl.lit("unknown winner value '")
            + pl.col("winner")
            + pl.lit("' (expected model_a, model_b, tie or 'tie (bothbad)')"),
        ),
    ]
    if "weight" in columns:
        weight = _number("weight")
        checks.append(
            (
                _given("weight")
                & (weight.is_null() | ~weight.is_finite().fill_null(False) | (weight < 0)),
                pl.lit("weight must be a finite number >= 0, got '")
                + pl.col("weight").fill_null("")
                + pl.lit("'"),
            )
        )
    if "tstamp" in columns:
        tstamp = _number("tstamp")
        checks.append(
            (
                _given("tstamp") & (tstamp.is_null() | ~tstamp.is_finite().fill_null(False)),
                pl.lit("tstamp must be a number, got '")
                + pl.col("tstamp").fill_null("")
                + pl.lit("'"),
            )
        )
    if "anony" in columns:
        anony = pl.col("anony").str.strip_chars().str.to_lowercase()
        checks.append(
            (
                _given("anony") & ~anony.is_in(list(TRUE_WORDS)),
                pl.lit("anony must be true or false, got '")
                + pl.col("anony").fill_null("")
                + pl.lit("'"),
            )
        )
    return checks


def _problem_flag(columns: list[str]) -> pl.Expr:
    """True where a row has any problem."""
    return pl.any_horizontal([condition.fill_null(False) for condition, _ in _checks(columns)])


def _problems(columns: list[str]) -> pl.Expr:
    """Per row, the first problem found (null when the row is fine)."""
    checks = _checks(columns)
    first_condition, first_message = checks[0]
    chain = pl.when(first_condition).then(first_message)
    for condition, message in checks[1:]:
        chain = chain.when(condition).then(message)
    return chain.otherwise(None)


def _merge_split_votes(battles: pl.DataFrame) -> pl.DataFrame:
    """Consecutive rows with the same `_key` (every file column but weight) become one row with
    the summed weight."""
    keys = [c for c in battles.columns if c != "weight"]
    return (
        battles.with_columns(_vote=pl.struct(keys).rle_id())
        .group_by("_vote", maintain_order=True)
        .agg(*(pl.col(c).first() for c in keys), pl.col("weight").sum())
        .select(c for c in battles.columns if c != "_key")
    )


def load_battle_log(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    anony_only: bool = True,
    cluster_column: str = "instruction_id",
    merge_split_votes: bool = False,
) -> BattleLog:
    """Read, check, filter (anony), order (tstamp) and, when asked, merge split votes."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"battle log not found: {path}")
    if cluster_column in (*REQUIRED, "weight", "tstamp", "anony"):
        raise InputError(f"cluster column {cluster_column!r} is already a battle log column")
    frame = _read_table(path, cluster_column, merge_split_votes).with_row_index("row", offset=1)
    columns = frame.columns
    frame = frame.with_columns(_normalized(frame)).with_columns(_bad=_problem_flag(columns))
    bad = frame.filter("_bad").with_columns(problem=_problems(columns))
    if bad.height and not skip_invalid:
        first = bad.row(0, named=True)
        more = f" ({bad.height - 1} more invalid rows)" if bad.height > 1 else ""
        raise InputError(f"{path}: row {first['row']}: {first['problem']}{more}")
    if bad.height == frame.height:
        reason = f"all {bad.height} rows are invalid" if bad.height else "no battles in the file"
        raise InputError(f"{path}: nothing to rate: {reason}")
    good = frame.filter(~pl.col("_bad"))
    named_dropped = 0
    if "anony" in columns and anony_only:
        anony = pl.col("anony").str.strip_chars().str.to_lowercase()
        kept = good.filter(~_given("anony") | anony.replace_strict(TRUE_WORDS, default=True))
        named_dropped = good.height - kept.height
        if not kept.height:
            raise InputError(
                f"{path}: nothing to rate: all {good.height} valid battles have anony = false "
                "(rate them with --all-battles)"
            )
        good = kept
    if "tstamp" in columns:
        good = good.sort(_number("tstamp"), maintain_order=True, nulls_last=True)
    selected = [
        pl.col("_a").alias("model_a"),
        pl.col("_b").alias("model_b"),
        pl.col("_winner").alias("winner"),
    ]
    if "weight" in columns:
        selected.append(_number("weight").fill_null(1.0).alias("weight"))
    if cluster_column in columns:
        cluster = pl.col(cluster_column).str.strip_chars()
        selected.append(pl.when(cluster != "").then(cluster).alias("instruction_id"))
    if merge_split_votes:
        if "weight" not in columns:
            selected.append(pl.lit(1.0).alias("weight"))
        selected.append(pl.col("_key"))
    battles = good.select(selected)
    merged = 0
    if merge_split_votes:
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
