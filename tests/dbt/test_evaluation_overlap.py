"""Fig. 3's ROUGE-L overlap: the Python model's helpers against a plain DP, and the marts built
from the fixture lake."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import duckdb
import pytest

from tests.dbt.dbt_runner import REPO_ROOT

MODEL_FILE = REPO_ROOT / "dbt_project" / "models" / "evaluation" / "evaluation_benchmark_overlap.py"


def _overlap_module():
    spec = importlib.util.spec_from_file_location("evaluation_benchmark_overlap", MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


overlap = _overlap_module()


def dp_lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def test_bit_parallel_lcs_equals_dynamic_programming() -> None:
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        assert overlap.lcs_length(a, b) == dp_lcs(a, b)


def test_rouge_l_values() -> None:
    tokens = overlap.tokens
    assert tokens("Write a Python_function, fast!") == ["write", "a", "python", "function", "fast"]
    same = tokens("return the sum of a list")
    assert overlap.rouge_l(same, same) == 1.0
    assert overlap.rouge_l(tokens("a b c d"), tokens("x y z")) == 0.0
    # LCS "a c d" = 3 of 4 and 3 of 5: F1 = 2 * 0.75 * 0.6 / 1.35
    assert overlap.rouge_l(tokens("a b c d"), tokens("a c x d y")) == pytest.approx(2 / 3)
    prompts = [("T/0", tokens("sort a list of numbers")), ("T/1", tokens("reverse a string"))]
    assert overlap.nearest(tokens("reverse the string please"), prompts)[0] == "T/1"
    assert overlap.nearest([], prompts) == ("T/0", 0.0)


def test_marts_from_the_fixture_lake(fixture_warehouse: Path) -> None:
    with duckdb.connect(str(fixture_warehouse), read_only=True) as connection:
        winners = connection.sql("select count(*) from stg_sft_winners").fetchall()[0][0]
        rows = connection.sql(
            "select benchmark, count(*), min(rouge_l), max(rouge_l), count(nearest_task_id)"
            " from evaluation_benchmark_overlap group by benchmark"
        ).fetchall()
        shares = connection.sql(
            "select benchmark, count(*), sum(share), sum(instructions)"
            " from evaluation_benchmark_overlap_histogram group by benchmark"
        ).fetchall()
    assert winners > 0
    assert [(name, n, n_ids) for name, n, _, _, n_ids in rows] == [("humaneval", winners, winners)]
    assert 0 <= rows[0][2] <= rows[0][3] <= 1
    assert shares[0][:2] == ("humaneval", 10)
    assert shares[0][2] == pytest.approx(1.0) and shares[0][3] == winners
