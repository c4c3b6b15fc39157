"""Reading user battle logs (CSV, JSONL, Parquet) with row-numbered errors."""

import json
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.arena.battle_log import read_battle_log
from gpu_ops.errors import InputError

GOOD = [
    {"model_a": "alpha", "model_b": "beta", "winner": "model_a"},
    {"model_a": "beta", "model_b": "gamma", "winner": "tie (bothbad)"},
    {"model_a": "gamma", "model_b": "alpha", "winner": " Model_B "},
    {"model_a": "alpha", "model_b": "gamma", "winner": "tie"},
]
EXPECTED = [
    ("alpha", "beta", "model_a"),
    ("beta", "gamma", "tie"),
    ("gamma", "alpha", "model_b"),
    ("alpha", "gamma", "tie"),
]


def write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        pl.DataFrame(rows).write_csv(path)
    else:
        pl.DataFrame(rows).write_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_reads_every_format_in_order(tmp_path: Path, suffix: str) -> None:
    rows = [dict(r, judge="j1") for r in GOOD]  # extra columns are ignored
    battles, skipped = read_battle_log(write(tmp_path / f"log{suffix}", rows))
    assert battles.columns == ["model_a", "model_b", "winner"]
    assert battles.rows() == EXPECTED
    assert skipped == 0


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({"model_a": "", "model_b": "beta", "winner": "model_a"}, "row 3: empty model_a"),
        ({"model_a": "alpha", "model_b": " ", "winner": "model_a"}, "row 3: empty model_b"),
        ({"model_a": "beta", "model_b": "beta", "winner": "tie"}, "row 3: model_a equals model_b"),
        (
            {"model_a": "alpha", "model_b": "beta", "winner": "alpha"},
            "row 3: unknown winner value 'alpha'",
        ),
    ],
)
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_bad_row_named_or_skipped(tmp_path: Path, suffix: str, bad_row: dict, message: str) -> None:
    path = write(tmp_path / f"log{suffix}", [*GOOD[:2], bad_row, *GOOD[2:]])
    with pytest.raises(InputError, match=message):
        read_battle_log(path)
    battles, skipped = read_battle_log(path, skip_invalid=True)
    assert battles.rows() == EXPECTED
    assert skipped == 1


def test_missing_column_in_file(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    pl.DataFrame({"model_a": ["a"], "model_b": ["b"]}).write_csv(path)
    with pytest.raises(InputError, match=r"missing column\(s\) \['winner'\]"):
        read_battle_log(path, skip_invalid=True)  # a file-level problem is never skipped


def test_jsonl_row_problems(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(
        json.dumps(GOOD[0])
        + "\n\n"  # blank lines are not rows
        + json.dumps({"model_a": "a", "winner": "tie"})
        + "\n{broken\n"
        + json.dumps(GOOD[1])
        + "\n"
    )
    with pytest.raises(
        InputError, match=r"row 2: missing column\(s\) \['model_b'\] \(1 more invalid rows\)"
    ):
        read_battle_log(path)
    battles, skipped = read_battle_log(path, skip_invalid=True)
    assert battles.rows() == EXPECTED[:2]
    assert skipped == 2


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_battle_log(tmp_path / "nope.csv")
    other = tmp_path / "log.txt"
    other.write_text("x")
    with pytest.raises(InputError, match="unsupported"):
        read_battle_log(other)
