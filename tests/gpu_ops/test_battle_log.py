"""Reading user battle logs (CSV, JSONL, Parquet) with row-numbered errors."""

import json
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.arena.battle_log import load_battle_log, read_battle_log
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


def fastchat_record(a: str, b: str, winner: str, tstamp: float, anony: bool = True) -> dict:
    """A clean_battle record as FastChat writes it (nested fields are ignored)."""
    return {
        "question_id": f"q{int(tstamp)}",
        "model_a": a,
        "model_b": b,
        "winner": winner,
        "judge": "arena_user_1",
        "conversation_a": [{"role": "user", "content": "hi"}],
        "conversation_b": [{"role": "user", "content": "hi"}],
        "turn": 1,
        "anony": anony,
        "language": "English",
        "tstamp": tstamp,
    }


def test_fastchat_json_array_in_tstamp_order_anonymous_only(tmp_path: Path) -> None:
    records = [
        fastchat_record("alpha", "beta", "model_a", 30.5),
        fastchat_record("beta", "gamma", "tie (bothbad)", 10.0),
        fastchat_record("gamma", "alpha", "model_b", 20.0, anony=False),
        fastchat_record("alpha", "gamma", "tie", 5.0),
    ]
    path = tmp_path / "clean_battle_20240101.json"
    path.write_text(json.dumps(records, indent=1))
    log = load_battle_log(path)
    assert log.battles.rows() == [
        ("alpha", "gamma", "tie"),
        ("beta", "gamma", "tie"),
        ("alpha", "beta", "model_a"),
    ]
    assert (log.named_dropped, log.sorted_by_tstamp, log.skipped) == (1, True, 0)
    everything = load_battle_log(path, anony_only=False)
    assert everything.battles.height == 4 and everything.named_dropped == 0
    # The same array in a .jsonl file is read as an array too; question_id can be the cluster.
    same = tmp_path / "battles.jsonl"
    same.write_text(json.dumps(records))
    clustered = load_battle_log(same, cluster_column="question_id").battles
    assert clustered.columns == ["model_a", "model_b", "winner", "instruction_id"]
    assert clustered["instruction_id"].to_list() == ["q5", "q10", "q30"]


def test_weight_and_instruction_columns(tmp_path: Path) -> None:
    rows = [
        {
            "model_a": "a",
            "model_b": "b",
            "winner": "model_a",
            "weight": 1.5,
            "instruction_id": "i1",
        },
        {"model_a": "b", "model_b": "c", "winner": "tie", "weight": 0.25, "instruction_id": "i1"},
    ]
    split = [
        *[dict(rows[0], weight=0.5)] * 3,
        rows[1],
    ]
    for suffix in (".csv", ".jsonl", ".parquet"):
        whole_path = write(tmp_path / f"whole{suffix}", rows)
        parts_path = write(tmp_path / f"parts{suffix}", split)
        whole = load_battle_log(whole_path, merge_split_votes=True)
        parts = load_battle_log(parts_path, merge_split_votes=True)
        assert whole.battles.columns == ["model_a", "model_b", "winner", "weight", "instruction_id"]
        assert parts.battles.equals(whole.battles), suffix
        assert parts.merged == 2 and whole.merged == 0
        # Without the option every row is a vote.
        assert load_battle_log(parts_path).battles.height == 4


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("weight", -1, "weight must be a finite number >= 0, got '-1'"),
        ("weight", "heavy", "weight must be a finite number >= 0, got 'heavy'"),
        ("weight", "nan", "weight must be a finite number"),
        ("tstamp", "yesterday", "tstamp must be a number"),
        ("anony", "maybe", "anony must be true or false"),
    ],
)
def test_optional_column_problems_are_named(
    tmp_path: Path, column: str, value: object, message: str
) -> None:
    good_value = {"weight": 1, "instruction_id": "i", "tstamp": 1.0, "anony": True}[column]
    rows = [dict(r, **{column: good_value}) for r in GOOD]
    rows[1][column] = value
    path = write(tmp_path / "log.jsonl", rows)
    with pytest.raises(InputError, match=f"row 2: {message}"):
        load_battle_log(path)
    assert load_battle_log(path, skip_invalid=True).skipped == 1


def test_bad_json_array_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    path.write_text('[{"model_a": "a", "model_b": "b", "winner": "model_a"},')
    with pytest.raises(InputError, match="not a valid JSON array"):
        load_battle_log(path)
    path.write_text('[{"model_a": "a", "model_b": "b", "winner": "model_a"}, 7]')
    with pytest.raises(InputError, match="row 2: not a JSON object"):
        load_battle_log(path)


# ---------------------------------------------------------------- hardening (#29)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json"])
def test_a_utf8_byte_order_mark_is_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    if suffix == ".json":
        text = json.dumps(GOOD)
    elif suffix == ".jsonl":
        text = "".join(json.dumps(r) + "\n" for r in GOOD)
    else:
        text = "model_a,model_b,winner\n" + "".join(
            f"{r['model_a']},{r['model_b']},{r['winner']}\n" for r in GOOD
        )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_battle_log(path).battles.rows() == EXPECTED


@pytest.mark.parametrize(
    ("value", "shown"), [(1, "1"), (1.0, "1.0"), ("NaN", "nan"), (None, "None")]
)
def test_a_name_that_is_not_a_string_is_named(tmp_path: Path, value: object, shown: str) -> None:
    path = tmp_path / "log.jsonl"
    lines = [json.dumps(r) for r in GOOD]
    raw = "NaN" if value == "NaN" else json.dumps(value)
    lines[2] = f'{{"model_a": {raw}, "model_b": "beta", "winner": "tie"}}'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=f"row 3: model_a must be a string .*got {shown}"):
        load_battle_log(path)
    array = tmp_path / "log.json"
    array.write_text("[" + ",".join(lines) + "]")
    with pytest.raises(InputError, match="row 3: model_a must be a string"):
        load_battle_log(array)


def test_numeric_name_columns_in_parquet_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {"model_a": [1.0, float("nan")], "model_b": ["x", "y"], "winner": ["tie"] * 2}
    ).write_parquet(path)
    with pytest.raises(InputError, match=r"row 1: model_a must be a string .*1\.0"):
        load_battle_log(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_optional_values_on_some_rows_only_take_their_default(tmp_path: Path, suffix: str) -> None:
    rows = [dict(r) for r in GOOD]
    rows[0].update(weight=2.5, instruction_id="i1", tstamp=3.0, anony=True)
    for row in rows[1:]:
        row.update(weight=None, instruction_id=None, tstamp=None, anony=None)
    log = load_battle_log(write(tmp_path / f"log{suffix}", rows))
    assert log.skipped == 0 and log.battles.height == 4
    # Rows without a tstamp come after the rows with one, in file order.
    assert log.battles["weight"].to_list() == [2.5, 1.0, 1.0, 1.0]
    assert log.battles["instruction_id"].to_list() == ["i1", None, None, None]
    assert log.battles["model_a"].to_list() == ["alpha", "beta", "gamma", "alpha"]


def test_distinct_votes_are_never_merged(tmp_path: Path) -> None:
    # Three judges give the same verdict on one battle: three votes, merged or not.
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "model_a", "weight": 1.0, "judge": judge}
        for judge in ("j1", "j2", "j3")
    ]
    for suffix in (".csv", ".jsonl"):
        path = write(tmp_path / f"log{suffix}", rows)
        assert load_battle_log(path).battles.height == 3
        merged = load_battle_log(path, merge_split_votes=True)
        assert (merged.battles.height, merged.merged) == (3, 0)


def test_polars_and_record_readers_agree(tmp_path: Path) -> None:
    """JSON is parsed by polars; the record reader (the fallback that names bad rows) agrees."""
    from gpu_ops.arena import battle_log

    rows = [
        dict(r, weight=w, tstamp=t, anony=True, question_id=i)
        for i, (r, w, t) in enumerate(zip(GOOD, (1, 0.5, 2, 1), (4.0, 3.0, 2.0, 1.0), strict=True))
    ]
    raw = "".join(json.dumps(r) + "\n" for r in rows).encode()
    fast = battle_log._read_json_polars(raw, False, "question_id")
    slow = battle_log._read_json_lines(raw, "question_id", keep_key=False)
    assert fast is not None
    numbers = [pl.col(c).cast(pl.Float64) for c in ("weight", "tstamp")]  # "4" and "4.0"
    assert fast.with_columns(numbers).equals(slow.select(fast.columns).with_columns(numbers))
