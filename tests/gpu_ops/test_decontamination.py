"""N-gram decontamination against the bundled HumanEval and user benchmark files."""

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.errors import InputError
from gpu_ops.sft_data.decontamination import (
    CONTAMINATION_COLUMNS,
    build_ngram_index,
    decontaminate,
    find_contamination,
    load_benchmark_jsonl,
    load_humaneval_prompts,
    normalize_tokens,
)

CLEAN_INSTRUCTION = (
    "Write a Rust function that parses an ISO 8601 duration such as PT1H30M into seconds, "
    "returning an error for malformed input, and explain each branch of the parser."
)


@pytest.fixture(scope="module")
def humaneval() -> pl.DataFrame:
    return load_humaneval_prompts()


def test_humaneval_loads_offline(humaneval: pl.DataFrame) -> None:
    assert humaneval.columns == ["benchmark", "task_id", "field", "text"]
    assert humaneval["task_id"].n_unique() == 164
    assert set(humaneval["field"].unique()) == {"prompt", "canonical_solution", "test"}
    assert set(humaneval["benchmark"].unique()) == {"humaneval"}


def test_planted_prompt_dropped_clean_kept(humaneval: pl.DataFrame) -> None:
    task = humaneval.filter((pl.col("task_id") == "HumanEval/10") & (pl.col("field") == "prompt"))
    planted = "Please solve this:\n" + task["text"][0].upper().replace("    ", "\t")
    rows = pl.DataFrame(
        {
            "instruction_id": ["planted", "clean"],
            "instruction": [planted, CLEAN_INSTRUCTION],
            "response": ["Sure.", "fn parse(s: &str) -> Result<u64, Error> { todo!() }"],
        }
    )
    kept, report = decontaminate(rows, humaneval)
    assert kept["instruction_id"].to_list() == ["clean"]
    assert report.columns == list(CONTAMINATION_COLUMNS)
    hit = report.row(0, named=True)
    assert (hit["instruction_id"], hit["field"], hit["benchmark"], hit["task_id"]) == (
        "planted",
        "instruction",
        "humaneval",
        "HumanEval/10",
    )
    # Every distinct 13-gram of the prompt is shared (case and whitespace are normalized away).
    tokens = normalize_tokens(task["text"][0])
    prompt_grams = {tuple(tokens[i : i + 13]) for i in range(len(tokens) - 12)}
    assert hit["overlapping_ngrams"] == len(prompt_grams)
    assert hit["ngram_size"] == 13


def test_response_field_is_scanned(humaneval: pl.DataFrame) -> None:
    solution = humaneval.filter(
        (pl.col("task_id") == "HumanEval/0") & (pl.col("field") == "canonical_solution")
    )["text"][0]
    rows = pl.DataFrame(
        {"instruction_id": ["r"], "instruction": [CLEAN_INSTRUCTION], "response": [solution]}
    )
    report = find_contamination(rows, humaneval)
    # HumanEval/20 (closest pair) shares the pairwise loop with HumanEval/0: both are reported.
    assert report.select("field", "task_id").rows() == [
        ("response", "HumanEval/0"),
        ("response", "HumanEval/20"),
    ]


def test_n_is_configurable() -> None:
    benchmark = pl.DataFrame(
        {
            "benchmark": ["toy"],
            "task_id": ["t1"],
            "field": ["prompt"],
            "text": ["alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi"],
        }
    )
    # Shares exactly 8 consecutive tokens (alpha .. theta) with the benchmark text.
    rows = pl.DataFrame(
        {
            "instruction_id": ["x"],
            "instruction": ["so: Alpha, beta; gamma delta epsilon zeta eta theta!"],
        }
    )
    assert find_contamination(rows, benchmark, n=13).height == 0
    assert find_contamination(rows, benchmark, n=9).height == 0
    hit = find_contamination(rows, benchmark, n=8).row(0, named=True)
    assert (hit["overlapping_ngrams"], hit["ngram_size"]) == (1, 8)
    assert find_contamination(rows, benchmark, n=5)["overlapping_ngrams"].to_list() == [4]
    with pytest.raises(InputError, match="n must be"):
        build_ngram_index(["a b"], n=0)


def test_short_benchmark_texts_are_skipped_unless_asked() -> None:
    texts = ["return x + y", "return sorted ( list ( set ( values ) ) ) for all the items"]
    index = build_ngram_index(texts, n=13)
    assert index.skipped == [0, 1]  # 3 and 9 tokens < 13: too generic by default
    assert index.overlaps("def f(x, y):\n    return x + y") == {}
    whole = build_ngram_index(texts, n=13, short_text_min_tokens=8)
    assert whole.skipped == [0]  # 3 tokens is below the minimum, 9 is indexed whole
    text = "code: return sorted(list(set(values))) for all the items, done"
    assert whole.overlaps(text) == {1: (1, 9)}
    # A partial copy of a short text does not match: the whole text is the gram.
    assert whole.overlaps("return sorted(list(set(values)))") == {}


def test_load_benchmark_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "mybench.jsonl.gz"
    records = [
        {"task_id": "M/0", "prompt": "one two three", "canonical_solution": "four", "extra": 1},
        {"prompt": "five six"},
    ]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in records) + "\n\n")
    got = load_benchmark_jsonl(path, text_fields=("prompt", "canonical_solution"))
    assert got.rows() == [
        ("mybench", "M/0", "prompt", "one two three"),
        ("mybench", "M/0", "canonical_solution", "four"),
        ("mybench", "1", "prompt", "five six"),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\nnot json\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: not valid JSON"):
        load_benchmark_jsonl(bad)
    with pytest.raises(InputError, match="not found"):
        load_benchmark_jsonl(tmp_path / "missing.jsonl")


def test_rows_without_text_fields_rejected(humaneval: pl.DataFrame) -> None:
    with pytest.raises(InputError, match="text fields"):
        find_contamination(pl.DataFrame({"instruction_id": ["x"]}), humaneval)
