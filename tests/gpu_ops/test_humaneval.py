"""HumanEval harness honesty: canonical solutions pass, wrong or hostile completions fail alone."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from gpu_ops.evaluation.humaneval import (
    EVALUATION_COLUMNS,
    check_completion,
    evaluate_completions,
    load_humaneval,
    load_problems_jsonl,
    pass_at_k,
)


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return load_humaneval()


def test_bundled_problems_load_offline(problems: list[dict]) -> None:
    assert len(problems) == 164
    assert problems[0]["task_id"] == "HumanEval/0"
    assert {"prompt", "entry_point", "test", "canonical_solution"} <= set(problems[0])


@pytest.mark.slow
def test_all_164_canonical_solutions_pass(problems: list[dict]) -> None:
    # about 30 s on 2 busy cores with run_many, so the full set runs instead of a sample
    table = evaluate_completions(
        problems, {p["task_id"]: [p["canonical_solution"]] for p in problems}, workers=2
    )
    assert dict(table.schema) == EVALUATION_COLUMNS
    assert table.height == 164
    assert table.filter(~table["passed"]).to_dicts() == []


def test_empty_wrong_and_hostile_completions_fail_without_stopping_the_run(
    problems: list[dict],
) -> None:
    first, second = problems[0], problems[2]  # has_close_elements, truncate_number
    completions = {
        first["task_id"]: [
            "",
            "    return False\n",
            "    while True:\n        pass\n",
            "    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n",
            "    x = bytearray(8 * 1024**3)\n",
            first["canonical_solution"],
        ],
        second["task_id"]: ["    return number % 1.0\n", "    return (\n"],
    }
    table = evaluate_completions(problems, completions, timeout_s=2, workers=2)
    assert table["passed"].to_list() == [False, False, False, False, False, True, True, False]
    assert table["error_kind"].to_list() == [
        "wrong_answer",  # the empty body is just the docstring: returns None
        "wrong_answer",
        "timeout",
        "killed",
        "memory",
        None,
        None,
        "syntax",
    ]
    assert table["sample_index"].to_list() == [0, 1, 2, 3, 4, 5, 0, 1]


def test_check_completion_single(problems: list[dict]) -> None:
    problem = problems[2]
    assert check_completion(problem, problem["canonical_solution"], timeout_s=5) == (True, None)
    assert check_completion(problem, "    return 0.0\n", timeout_s=5) == (False, "wrong_answer")


def test_unknown_task_ids_are_rejected(problems: list[dict]) -> None:
    with pytest.raises(InputError):
        evaluate_completions(problems, {"HumanEval/9999": ["pass"]})


def test_user_jsonl_in_the_same_shape(tmp_path: Path) -> None:
    problem = {
        "task_id": "Mine/0",
        "prompt": "def double(x):\n",
        "entry_point": "double",
        "test": "def check(candidate):\n    assert candidate(3) == 6\n",
        "canonical_solution": "    return x + x\n",
    }
    path = tmp_path / "mine.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps(problem) + "\n\n")
    loaded = load_problems_jsonl(path)
    assert loaded == [problem]
    table = evaluate_completions(
        loaded, {"Mine/0": ["    return 2 * x\n", "    return x\n"]}, timeout_s=5
    )
    assert table["passed"].to_list() == [True, False]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x"}\n')
    with pytest.raises(InputError):
        load_problems_jsonl(bad)
    with pytest.raises(InputError):
        load_problems_jsonl(tmp_path / "missing.jsonl")


def test_pass_at_k_matches_the_combinatorial_definition() -> None:
    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 3), (5, 5, 2), (200, 17, 10)]:
        expected = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(4, 2, 3) == 1.0
    with pytest.raises(InputError):
        pass_at_k(3, 4, 1)
    with pytest.raises(InputError):
        pass_at_k(3, 1, 0)


def test_hostile_text_in_completions_never_loses_the_batch(problems: list[dict]) -> None:
    problem = problems[2]  # truncate_number
    completions = {
        problem["task_id"]: [
            "    return number % 1.0  # \ud800 lone surrogate\n",
            "    return 0.0\0\n",
            "    x = (" * 120 + "\n",
            problem["canonical_solution"],
        ]
    }
    table = evaluate_completions(problems, completions, timeout_s=5, workers=2)
    assert table["passed"].to_list() == [True, False, False, True]
    assert table["error_kind"].to_list() == [None, "syntax", "syntax", None]
