"""Bad input (issue #9): property tests over config files and the standalone CLI inputs.

Every generated input must end in success or in one clear error: `ConfigError` from
`load_config`, exit code 2 with an `error:` line from the CLI. Any other exception or exit code
is a bug. Runs are deterministic (`derandomize=True`, no example database); each regression
found while writing these tests is pinned with `@example`.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner, Result

from warriorcoder.cli import app
from wc_foundation.config import ArenaConfig, ConfigError, ExpertConfig, load_config

runner = CliRunner()
# WC_FUZZ_SCALE=10 multiplies every example count, for a longer bug hunt than CI's.
FUZZ_SCALE = float(os.environ.get("WC_FUZZ_SCALE", "1"))


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic, database-free settings; run time is bounded by `max_examples`."""
    return settings(
        max_examples=max(1, round(max_examples * FUZZ_SCALE)),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextmanager
def workdir() -> Iterator[Path]:
    """A fresh temp directory per example (pytest's tmp_path is shared by all examples)."""
    with tempfile.TemporaryDirectory(prefix="wcfz") as name:
        yield Path(name)


def invoke(args: list[str]) -> tuple[Result, str]:
    """Run the CLI; return the result and its stdout + stderr with whitespace collapsed."""
    result = runner.invoke(app, args)
    text = result.output
    try:
        if result.stderr and result.stderr not in text:
            text += result.stderr
    except ValueError:  # older click without separate stderr
        pass
    return result, " ".join(text.split())


def assert_clean_exit(result: Result, text: str) -> None:
    """Exit 0, or exit 2 with a message; never an uncaught exception."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}; output: {text[-500:]}")
    assert result.exit_code in (0, 2), text[-500:]
    if result.exit_code == 2:
        assert "error" in text.lower(), text[-500:]


# ------------------------------------------------------------------------------ config files

BASE_CONFIG: dict[str, Any] = {
    "name": "fuzz",
    "experts": [{"slug": "alpha", "model": "m/alpha"}, {"slug": "beta", "model": "m/beta"}],
}


def _field_paths() -> list[tuple[str | int, ...]]:
    """Every top-level key, every key of a section model, and every expert key."""
    paths: list[tuple[str | int, ...]] = [(name,) for name in ArenaConfig.model_fields]
    for name, info in ArenaConfig.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            paths += [(name, field) for field in model.model_fields]
    paths += [("experts", index, field) for index in (0, 1) for field in ExpertConfig.model_fields]
    paths += [("judging", "extra_judges"), ("judging", "execution", "timeout_s")]
    return paths


FIELD_PATHS = _field_paths()
BAD_SLUGS = ["a/b", "a b", "Alpha", "", "-x", "x" * 64, "execution", "ünï", "a\x00b"]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "medoid", "openai", "vllm", "experts", "http://x", "all-linear", "a/b"]),
    st.sampled_from(BAD_SLUGS),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.binary(max_size=8),
    st.dates(),
)
# One mutation: ("set", path, value) | ("delete", path) | ("extra", section, key)
# | ("duplicate_expert",) | ("add_expert", slug).
MUTATION = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(FIELD_PATHS), JUNK),
    st.tuples(st.just("delete"), st.sampled_from(FIELD_PATHS)),
    st.tuples(
        st.just("extra"),
        st.sampled_from(["", "mining", "judging", "experts"]),
        st.text(min_size=1, max_size=8),
    ),
    st.tuples(st.just("duplicate_expert")),
    st.tuples(st.just("add_expert"), st.sampled_from(BAD_SLUGS)),
)


def _parent(config: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    """The container holding path[-1], creating missing sections; None when a mutation broke it."""
    node: Any = config
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def mutate(mutations: list[tuple[Any, ...]]) -> tuple[Any, list[str]]:
    """BASE_CONFIG with the mutations applied, and the names an error message may point at."""
    config: dict[str, Any] = json.loads(json.dumps(BASE_CONFIG))
    names = ["top level", "experts"]
    for mutation in mutations:
        kind = mutation[0]
        if kind in ("set", "delete"):
            path = mutation[1]
            names += [str(part) for part in path]
            parent = _parent(config, path)
            if isinstance(parent, dict):
                if kind == "set":
                    parent[path[-1]] = mutation[2]
                else:
                    parent.pop(path[-1], None)
        elif kind == "extra":
            section, key = mutation[1], mutation[2]
            names += [section, key]
            target = config if not section else config.get(section)
            if section == "experts" and isinstance(target, list) and target:
                target = target[0]
            if isinstance(target, dict):
                target[key] = 1
        elif kind == "duplicate_expert" and isinstance(config.get("experts"), list):
            config["experts"].append(dict(config["experts"][0]))
        elif kind == "add_expert" and isinstance(config.get("experts"), list):
            config["experts"].append({"slug": mutation[1], "model": "m/x"})
    return config, names


def _nested(depth: int, mapping: bool) -> str:
    if mapping:
        return "name:\n" + "".join(" " * i + "a:\n" for i in range(1, depth + 1))
    return "name: " + "[" * depth + "]" * depth


RAW_DOCUMENTS = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.sampled_from(
        [
            b"",
            b"\n",
            b"[1, 2",
            b"- a\n- b\n",
            b"42",
            b"~",
            b"\xff\xfe junk",
            b"a: 2020-13-45",
            b"a: !!timestamp x",
            b"a: !!int abc",
            b"experts: &x [*x]",
            b"a: !!python/name:os.system",
            b"---\na: 1\n---\nb: 2",
            b"a: 1\n\tb: 2",
            b"? [a]\n: 1",
        ]
    ),
    st.tuples(st.integers(1, 120), st.booleans()).map(lambda t: _nested(*t).encode()),
)


ALIAS_BOMB = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    b"%s: &%s [%s]\n" % (bytes([c]), bytes([c]), b", ".join([b"*" + bytes([c - 1])] * 10))
    for c in range(ord("b"), ord("i"))
)


@st.composite
def config_documents(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """(file bytes, names an error may cite): a mutated config, a corrupted one, or raw junk."""
    kind = draw(st.sampled_from(["mutated", "mutated", "corrupted", "raw"]))
    if kind == "raw":
        return draw(RAW_DOCUMENTS), []
    data, names = mutate(draw(st.lists(MUTATION, min_size=0, max_size=3)))
    if draw(st.booleans()):  # a non-mapping top level
        data = draw(st.one_of(st.just(data), JUNK, st.lists(st.just(data), max_size=2)))
    text = yaml.safe_dump(data, allow_unicode=True).encode()
    if kind == "corrupted":
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.binary(max_size=6)) + text[cut + draw(st.integers(0, 4)) :]
        names = []
    return text, names


@fuzz_settings(max_examples=120)
@given(document=config_documents())
@example(document=(b"\xff\xfe junk", []))  # was UnicodeDecodeError
@example(document=(_nested(1500, mapping=True).encode(), []))  # was RecursionError
@example(document=(b"a: 2020-13-45", []))  # was ValueError from PyYAML's timestamp constructor
@example(document=(b"a: !!timestamp x", []))  # was AttributeError
@example(document=(ALIAS_BOMB, []))  # 10**8 values once aliases expand: refused, not walked
@example(
    document=(yaml.safe_dump({**BASE_CONFIG, "selection": {"k": float("inf")}}).encode(), ["k"])
)  # was OverflowError in SelectionConfig._k
def test_config_file_loads_or_names_the_problem(document: tuple[bytes, list[str]]) -> None:
    """load_config returns a config or raises ConfigError; `run --check` exits 0 or 2 to match."""
    content, names = document
    with workdir() as tmp:
        path = tmp / "arena.yaml"
        path.write_bytes(content)
        try:
            config = load_config(path, home=tmp)
        except ConfigError as error:
            message = str(error)
            assert message.startswith(("invalid config", "config file")), message
            assert "arena.yaml" in message, message
            if names:
                assert any(name in message for name in names), (names, message)
            config = None
        result, text = invoke(["run", "--check", "--config", str(path), "--home", str(tmp)])
        assert_clean_exit(result, text)
        assert result.exit_code == (0 if config is not None else 2), text
        if config is not None:
            assert "is valid" in text


@fuzz_settings(max_examples=30)
@given(document=config_documents(), slug=st.sampled_from(["gamma", "alpha", "a/b"]))
@example(document=(b"[1, 2", []), slug="gamma")  # was yaml ParserError from add-expert
@example(document=(_nested(659, mapping=False).encode(), []), slug="gamma")  # was RecursionError
@example(document=(b"- a\n- b\n", []), slug="gamma")  # was AttributeError from add-expert
def test_add_expert_on_a_fuzzed_config(document: tuple[bytes, list[str]], slug: str) -> None:
    """`add-expert --no-run` on a copy of a fuzzed config: exit 0 or 2, nothing else."""
    content, _ = document
    with workdir() as tmp:
        path = tmp / "arena.yaml"
        path.write_bytes(content)
        args = ["add-expert", slug, "--model", "m/x", "--no-run"]
        result, text = invoke([*args, "--config", str(path), "--home", str(tmp)])
        assert_clean_exit(result, text)
        if result.exit_code == 2:
            assert path.read_bytes() == content  # a rejected change leaves the file alone


# ------------------------------------------------------------------------------ typed columns

# A column for a Parquet file: homogeneous values of one (sometimes wrong) type.
COLUMN_KINDS = ["str", "int", "float", "null", "bool", "list", "struct", "binary"]


def typed_column(kind: str, values: list[Any], length: int) -> pl.Series:
    """A `length`-row Series of `kind` derived from `values` (cycled)."""
    cycled = [values[i % len(values)] if values else None for i in range(length)]
    text = ["" if v is None else str(v) for v in cycled]
    if kind == "str":
        return pl.Series(cycled if all(isinstance(v, str | None) for v in cycled) else text)
    if kind == "int":
        return pl.Series([len(t) for t in text], dtype=pl.Int64)
    if kind == "float":
        return pl.Series([float("nan") if not t else float(len(t)) for t in text])
    if kind == "null":
        return pl.Series([None] * length, dtype=pl.Null)
    if kind == "bool":
        return pl.Series([bool(t) for t in text])
    if kind == "list":
        return pl.Series([[t] for t in text])
    if kind == "struct":
        return pl.Series([{"v": t} for t in text])
    return pl.Series([t.encode("utf-8") + b"\xff" * (i % 2) for i, t in enumerate(text)])


def write_rows(path: Path, rows: list[dict[str, Any]], kinds: dict[str, str]) -> None:
    """Write rows as .csv (strings), .jsonl/.json (JSON values) or .parquet (`kinds` per column)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    suffix = path.suffix
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8", errors="surrogatepass") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    elif suffix in (".jsonl", ".ndjson"):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif suffix == ".parquet":
        frame = pl.DataFrame(
            [
                typed_column(kinds.get(c, "str"), [r.get(c) for r in rows], len(rows)).alias(c)
                for c in columns
            ]
        )
        frame.write_parquet(path)
    else:
        path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")


TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "a\x00b", "\u202e\u200b", "é" * 3, "x" * 5000, "tie (bothbad)"]),
)
FILE_DAMAGE = st.sampled_from(
    ["none", "none", "none", "empty", "garbage", "invalid_utf8_line", "truncate", "missing"]
)


def damage(path: Path, how: str, garbage: bytes) -> None:
    """Break a written file in one of the ways FILE_DAMAGE names."""
    if how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(garbage)
    elif how == "invalid_utf8_line":
        path.write_bytes(path.read_bytes() + b'{"model_a": "\xff\xfe"}\n\xc3\x28\n')
    elif how == "truncate" and path.stat().st_size > 1:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "missing":
        path.unlink()


# ------------------------------------------------------------------------------ rate

MODEL_NAME = st.one_of(
    st.sampled_from(["alpha", "beta", "gamma", " alpha ", "BETA", "", "模型", None]),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
WINNER = st.one_of(
    st.sampled_from(["model_a", "model_b", "tie", "tie (bothbad)", " MODEL_A ", "draw", "", None]),
    st.integers(0, 2),
    st.booleans(),
    TEXT,
)
BATTLE_ROW = st.fixed_dictionaries(
    {},
    optional={
        "model_a": MODEL_NAME,
        "model_b": MODEL_NAME,
        "winner": WINNER,
        "extra": st.integers(),
    },
)
VALID_ROW = st.fixed_dictionaries(
    {
        "model_a": st.sampled_from(["alpha", "beta"]),
        "model_b": st.sampled_from(["gamma", "delta"]),
        "winner": st.sampled_from(["model_a", "model_b", "tie"]),
    }
)


@fuzz_settings(max_examples=90)
@given(
    rows=st.lists(st.one_of(VALID_ROW, BATTLE_ROW), max_size=8),
    suffix=st.sampled_from([".csv", ".jsonl", ".ndjson", ".parquet", ".json", ".txt"]),
    kinds=st.dictionaries(
        st.sampled_from(["model_a", "model_b", "winner"]), st.sampled_from(COLUMN_KINDS)
    ),
    how=FILE_DAMAGE,
    garbage=st.binary(max_size=64),
    skip_invalid=st.booleans(),
    method=st.sampled_from(["bt", "elo", "both", "nope"]),
    out=st.sampled_from([None, "r.csv", "r.json", "r.txt", "sub/r.csv"]),
)
@example(  # was InvalidOperationError casting a list column
    rows=[{"model_a": "a", "model_b": "b", "winner": "model_a"}],
    suffix=".parquet",
    kinds={"model_a": "list"},
    how="none",
    garbage=b"",
    skip_invalid=False,
    method="bt",
    out=None,
)
@example(  # was ComputeError casting invalid UTF-8 binary
    rows=[{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 2,
    suffix=".parquet",
    kinds={"model_b": "binary"},
    how="none",
    garbage=b"",
    skip_invalid=True,
    method="bt",
    out=None,
)
@example(  # was SchemaError from the ratings on zero battles
    rows=[{"model_a": "a", "model_b": "a", "winner": "model_a"}],
    suffix=".csv",
    kinds={},
    how="none",
    garbage=b"",
    skip_invalid=True,
    method="both",
    out=None,
)
def test_rate_fuzzed_battle_logs(
    rows: list[dict[str, Any]],
    suffix: str,
    kinds: dict[str, str],
    how: str,
    garbage: bytes,
    skip_invalid: bool,
    method: str,
    out: str | None,
) -> None:
    """`warriorcoder rate`: a leaderboard (exit 0) or an error naming the file (exit 2)."""
    with workdir() as tmp:
        path = tmp / f"log{suffix}"
        write_rows(path, rows, kinds)
        damage(path, how, garbage)
        args = ["rate", str(path), "--method", method, "--bootstrap", "2"]
        args += ["--skip-invalid"] if skip_invalid else []
        args += ["--out", str(tmp / out)] if out else []
        result, text = invoke(args)
        assert_clean_exit(result, text)
        if result.exit_code == 0:
            assert "ratings of" in text
            if out:
                assert (tmp / out).is_file()
        elif "--out" not in text and "method" not in text:
            assert path.name in text, text  # the message names the file (and row or column)


# ------------------------------------------------------------------------------ dedup

TEXT_VALUE = st.one_of(TEXT, st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2))
ID_VALUE = st.one_of(st.integers(0, 3), st.none(), st.text(max_size=2), st.floats())
TEXT_ROW = st.fixed_dictionaries(
    {}, optional={"instruction": TEXT_VALUE, "id": ID_VALUE, "other": st.integers()}
)


@fuzz_settings(max_examples=100)
@given(
    rows=st.lists(TEXT_ROW, max_size=6),
    suffix=st.sampled_from([".jsonl", ".json", ".csv", ".parquet", ".txt"]),
    kinds=st.dictionaries(st.sampled_from(["instruction", "id"]), st.sampled_from(COLUMN_KINDS)),
    how=FILE_DAMAGE,
    garbage=st.binary(max_size=64),
    text_field=st.sampled_from(["instruction", "instruction", "prompt", ""]),
    id_field=st.sampled_from([None, None, "id", "instruction"]),
    threshold=st.sampled_from(["0.5", "0.9", "0", "1", "-1", "nan", "inf"]),
    num_perm=st.sampled_from(["16", "128", "1", "0", "-3"]),
    shingle_size=st.sampled_from(["1", "2", "0", "-1"]),
    out=st.sampled_from(["o.parquet", "o.jsonl", "o.csv", "o.json", "o.txt", "sub/o.parquet", "."]),
)
@example(  # was ComputeError writing a struct id column to CSV
    rows=[{"instruction": "a", "id": 1}, {"instruction": "b", "id": 2}],
    suffix=".parquet",
    kinds={"id": "struct"},
    how="none",
    garbage=b"",
    text_field="instruction",
    id_field="id",
    threshold="0.5",
    num_perm="16",
    shingle_size="1",
    out="o.csv",
)
def test_dedup_fuzzed_tables(
    rows: list[dict[str, Any]],
    suffix: str,
    kinds: dict[str, str],
    how: str,
    garbage: bytes,
    text_field: str,
    id_field: str | None,
    threshold: str,
    num_perm: str,
    shingle_size: str,
    out: str,
) -> None:
    """`warriorcoder dedup`: survivors written (exit 0) or one clear error (exit 2)."""
    with workdir() as tmp:
        path = tmp / f"rows{suffix}"
        write_rows(path, rows, kinds)
        damage(path, how, garbage)
        args = ["dedup", str(path), "--out", str(tmp / out), "--text-field", text_field]
        args += ["--id-field", id_field] if id_field else []
        args += ["--threshold", threshold, "--num-perm", num_perm, "--shingle-size", shingle_size]
        result, text = invoke(args)
        assert_clean_exit(result, text)
        if result.exit_code == 0:
            assert (tmp / out).is_file()


# ------------------------------------------------------------------------------ select

NPY_DTYPES = ["float32", "float64", "int64", "bool", "complex64", "str", "object"]


@st.composite
def embedding_files(draw: st.DrawFn, tmp: Path) -> Path:
    """An .npy or .parquet embedding file with fuzzed shape, dtype and values (or a broken file)."""
    kind = draw(st.sampled_from(["npy", "npy", "parquet", "other"]))
    if kind == "other":
        path = tmp / draw(st.sampled_from(["e.txt", "e.npy", "e.parquet", "missing.npy"]))
        if path.name != "missing.npy":
            path.write_bytes(draw(st.binary(max_size=64)))
        return path
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3)))
    values = draw(
        st.lists(
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            min_size=int(np.prod(shape)),
            max_size=int(np.prod(shape)),
        )
    )
    matrix = np.array(values, dtype=np.float64).reshape(shape)
    if kind == "npy":
        path = tmp / "e.npy"
        dtype = draw(st.sampled_from(NPY_DTYPES))
        np.save(path, matrix.astype(dtype), allow_pickle=dtype == "object")
        if draw(st.booleans()) and path.stat().st_size > 8:
            path.write_bytes(path.read_bytes()[: draw(st.integers(1, path.stat().st_size - 1))])
        return path
    path = tmp / "e.parquet"
    rows = [list(row) for row in matrix.reshape(shape[0], -1)] if matrix.size else []
    if rows and draw(st.booleans()):  # ragged or null rows
        rows[0] = rows[0][:-1] if draw(st.booleans()) else None
    name = draw(st.sampled_from(["embedding", "vec", "x"]))
    frame = pl.DataFrame({name: pl.Series(rows, dtype=pl.List(pl.Float64))})
    if draw(st.booleans()):
        frame = frame.with_columns(pl.lit("t").alias("text"), pl.col(name).alias("other"))
    frame.write_parquet(path)
    return path


@fuzz_settings(max_examples=80)
@given(
    data=st.data(),
    k=st.sampled_from(
        ["1", "2", "3", "0.5", "0.01", "0.999", "0", "-1", "1.5", "1e9", "nan", "inf"]
    ),
    first_center=st.sampled_from(["medoid", "random", "0", "4", "-1", "²", "٣", "x"]),
    seed=st.sampled_from(["0", "7", "-1"]),
    out=st.sampled_from(["o.parquet", "o.csv", "o.npy", "sub/o.parquet"]),
)
@example(data=None, k="inf", first_center="medoid", seed="0", out="o.parquet")  # OverflowError
@example(data=None, k="nan", first_center="medoid", seed="0", out="o.parquet")  # ValueError
@example(data=None, k="1", first_center="²", seed="0", out="o.parquet")  # ValueError from int()
@example(data=None, k="1", first_center="random", seed="-1", out="o.parquet")  # numpy ValueError
def test_select_fuzzed_embeddings(
    data: st.DataObject | None, k: str, first_center: str, seed: str, out: str
) -> None:
    """`warriorcoder select`: a selection written (exit 0) or one clear error (exit 2)."""
    with workdir() as tmp:
        if data is None:
            path = tmp / "e.npy"
            np.save(path, np.eye(3, dtype=np.float32))
        else:
            path = data.draw(embedding_files(tmp))
        args = ["select", str(path), "-k", k, "--out", str(tmp / out)]
        args += ["--first-center", first_center, "--seed", seed]
        result, text = invoke(args)
        assert_clean_exit(result, text)
        if result.exit_code == 0:
            assert (tmp / out).is_file()


# ------------------------------------------------------------------------------ embed


@pytest.mark.slow
@fuzz_settings(max_examples=10)
@given(
    rows=st.lists(TEXT_ROW, max_size=3),
    suffix=st.sampled_from([".jsonl", ".csv", ".parquet", ".txt"]),
    how=FILE_DAMAGE,
    garbage=st.binary(max_size=32),
    out=st.sampled_from(["e.npy", "e.parquet", "e.csv"]),
    batch_size=st.sampled_from(["2", "0"]),
)
@example(  # was TypeError: the command passed out= / model= that embed_file does not take
    rows=[{"instruction": "reverse a list"}, {"instruction": ""}],
    suffix=".jsonl",
    how="none",
    garbage=b"",
    out="e.parquet",
    batch_size="2",
)
def test_embed_fuzzed_tables(
    rows: list[dict[str, Any]], suffix: str, how: str, garbage: bytes, out: str, batch_size: str
) -> None:
    """`warriorcoder embed` with the bundled MiniLM: embeddings written (exit 0) or exit 2."""
    with workdir() as tmp:
        path = tmp / f"rows{suffix}"
        write_rows(path, rows, {})
        damage(path, how, garbage)
        args = ["embed", str(path), "--out", str(tmp / out), "--batch-size", batch_size]
        result, text = invoke(args)
        assert_clean_exit(result, text)
        if result.exit_code == 0:
            assert (tmp / out).is_file()
