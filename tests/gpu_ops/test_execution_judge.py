"""Execution judging: extraction, sandboxed runs, independent tests, the score and the verdict."""

from __future__ import annotations

import polars as pl
import pytest

from gpu_ops.arena.execution_judge import (
    EXECUTION_COLUMNS,
    ExecutionScore,
    exec_score,
    execution_verdict,
    independent_tests,
    score_response,
    score_responses,
)
from gpu_ops.errors import InputError
from gpu_ops.sandbox import sandbox_capabilities
from gpu_ops.sandbox.result_cache import ExecutionCache

FENCE = "```"
INSTRUCTION = "Write add(a, b).\nassert add(1, 2) == 3\n>>> add(2, 5)\n7\n"


def fenced(code: str) -> str:
    return f"Here is my answer.\n{FENCE}python\n{code}\n{FENCE}\n"


def test_score_formula() -> None:
    assert exec_score(False, False, False, 0, 0) == 0.0
    assert exec_score(True, False, False, 2, 0) == 0.1
    assert exec_score(True, True, False, 0, 0) == 0.25
    assert exec_score(True, True, True, 0, 0) == 0.5
    assert exec_score(True, True, True, 4, 2) == 0.75
    assert exec_score(True, True, True, 2, 2) == 1.0
    assert exec_score(True, True, False, 2, 2) == 0.75


def test_correct_solution_scores_one() -> None:
    score = score_response(
        INSTRUCTION, fenced("def add(a, b):\n    return a + b"), timeout_s=10, memory_mb=256
    )
    tier = sandbox_capabilities()["isolation"]
    assert score == ExecutionScore(True, True, True, 2, 2, 1.0, None, tier)


def test_wrong_solution_runs_but_fails_tests() -> None:
    score = score_response(
        INSTRUCTION, fenced("def add(a, b):\n    return a - b"), timeout_s=10, memory_mb=256
    )
    assert (score.runs, score.tests_found, score.tests_passed) == (True, 2, 0)
    assert score.exec_score == 0.5
    assert score.error_kind == "test_failed"


def test_no_code_syntax_error_and_crash() -> None:
    assert (
        score_response(INSTRUCTION, "I cannot help.", timeout_s=5, memory_mb=256).error_kind
        == "no_code"
    )
    syntax = score_response(
        INSTRUCTION, fenced("def add(a, b)\n    return a + b"), timeout_s=5, memory_mb=256
    )
    assert (syntax.has_code, syntax.parses, syntax.exec_score, syntax.error_kind) == (
        True,
        False,
        0.1,
        "syntax",
    )
    crash = score_response("", fenced("raise RuntimeError('x')"), timeout_s=5, memory_mb=256)
    assert (crash.parses, crash.runs, crash.exec_score, crash.error_kind) == (
        True,
        False,
        0.25,
        "runtime",
    )


def test_main_block_waiting_for_input_still_gets_test_credit() -> None:
    code = "def add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(*map(int, input().split())))"
    score = score_response(INSTRUCTION, fenced(code), timeout_s=5, memory_mb=256)
    assert (score.runs, score.tests_passed, score.exec_score) == (False, 2, 0.75)


def test_hanging_solution_is_a_timeout() -> None:
    score = score_response("", fenced("while True:\n    pass"), timeout_s=1, memory_mb=256)
    assert (score.runs, score.error_kind, score.exec_score) == (False, "timeout", 0.25)


def test_a_response_never_scores_itself() -> None:
    # A wrong answer with asserts that agree with it: its own tests do not count (used to score
    # 0.79 here, and 1.0 without instruction tests).
    wrong = fenced("def add(a, b):\n    return 0\n\nassert add(1, 2) == 0\nassert add(5, 5) == 0")
    alone = score_response("Write add(a, b).", wrong, timeout_s=5, memory_mb=256)
    assert (alone.tests_found, alone.tests_passed, alone.exec_score) == (0, 0, 0.5)
    stated = score_response(INSTRUCTION, wrong, timeout_s=5, memory_mb=256)
    assert (stated.tests_found, stated.tests_passed, stated.exec_score) == (2, 0, 0.5)


def test_cross_execution_scores_agreement_with_the_other_responses() -> None:
    instruction = "Write double(x) returning twice x."
    right_a = fenced("def double(x):\n    return 2 * x\n\nassert double(2) == 4")
    right_b = fenced("def double(x):\n    return x + x\n\nassert double(5) == 10")
    wrong = fenced("def double(x):\n    return x * x\n\nassert double(2) == 4")
    rows = pl.DataFrame(
        {
            "instruction_id": ["i"] * 3,
            "expert": ["a", "b", "c"],
            "instruction": [instruction] * 3,
            "response": [right_a, right_b, wrong],
        }
    )
    uniform = {"test_weighting": "uniform"}  # every peer test alike (consensus: test_consensus)
    table = score_responses(rows, timeout_s=5, memory_mb=256, workers=2, **uniform)
    assert table["tests_found"].to_list() == [2, 1, 2]  # b's only peer test is a = c's
    assert table["tests_passed"].to_list() == [2, 1, 1]
    assert table["exec_score"].to_list() == [1.0, 1.0, 0.75]
    only_c = score_responses(
        rows.filter(pl.col("expert") == "c"), peers=rows, timeout_s=5, **uniform
    )
    assert only_c["exec_score"].to_list() == [0.75]  # peers given apart: same score


def test_a_cache_runs_only_what_it_never_ran(tmp_path, monkeypatch) -> None:
    """A re-score runs nothing; a newcomer's response costs its own runs plus one run per old
    response asking only the newcomer's tests; scores equal an uncached scoring."""
    import gpu_ops.arena.execution_judge as judge

    asked: list[int] = []
    real_ask = judge.ask_many

    def counting_ask(jobs, **kwargs):
        asked.extend(len(probes) for _, probes in jobs)
        return real_ask(jobs, **kwargs)

    monkeypatch.setattr(judge, "ask_many", counting_ask)
    instruction = "Write double(x) returning twice x."
    responses = {
        "a": fenced("def double(x):\n    return 2 * x\n\nassert double(2) == 4"),
        "b": fenced("def double(x):\n    return x * x\n\nassert double(3) == 9"),
        "c": fenced("def double(x):\n    return x + x\n\nassert double(5) == 10"),
    }

    def rows(experts):
        return pl.DataFrame(
            {
                "instruction_id": ["i"] * len(experts),
                "expert": experts,
                "instruction": [instruction] * len(experts),
                "response": [responses[e] for e in experts],
            }
        )

    path = tmp_path / "execution.sqlite"
    uniform = {"test_weighting": "uniform"}  # the counts below hold under consensus too
    first_cache = ExecutionCache(path)
    first = score_responses(
        rows(["a", "b"]), timeout_s=5, memory_mb=256, cache=first_cache, **uniform
    )
    assert first_cache.sandbox_runs == 4 and asked == [1, 1]  # 2 scripts + 2 probe runs
    again_cache = ExecutionCache(path)
    again = score_responses(
        rows(["a", "b"]), timeout_s=5, memory_mb=256, cache=again_cache, **uniform
    )
    assert again_cache.sandbox_runs == 0 and again.equals(first)

    asked.clear()
    grown_cache = ExecutionCache(path)
    grown = score_responses(
        rows(["a", "b", "c"]), timeout_s=5, memory_mb=256, cache=grown_cache, **uniform
    )
    # c: its script and its 2 tests; a and b: one run each, asking only c's test
    assert grown_cache.sandbox_runs == 1 + 3 and sorted(asked) == [1, 1, 2]
    uncached = score_responses(rows(["a", "b", "c"]), timeout_s=5, memory_mb=256, **uniform)
    assert grown.equals(uncached)
    assert grown["tests_passed"].to_list() == [1, 1, 1]  # b's wrong test fails a and c


def test_independent_tests_exclude_nothing_but_the_response_itself() -> None:
    peers = [
        fenced("def add(a, b):\n    return a + b\n\nassert add(0, 0) == 0"),
        fenced("def add(a, b):\n    return b + a\n\nassert add(1, 2) == 3"),
    ]
    tests = independent_tests(INSTRUCTION, peers)
    assert [t.probes[0].expression for t in tests] == ["add(1, 2)", "add(2, 5)", "add(0, 0)"]


def test_a_competitor_cannot_sabotage_the_others_with_its_tests() -> None:
    hostile = fenced(
        "import os\n\ndef add(a, b):\n    return a + b\n\ndef spin():\n    while True:\n        pass\n\n"
        "assert add(__import__('os')._exit(0), 1) == 1\n"
        "assert add(os._exit(0), 1) == 1\n"
        "assert add(2 ** 10 ** 8, 0) == 1\n"
        "assert add(1, 1).__class__ == int\n"
        "assert add(spin(), 1) == 1\n"  # allowed (spin is its API): costs one probe, not the run
        "assert add(3, 4) == 7\n"
    )
    kept = [t.probes[0].expression for t in independent_tests("", [hostile])]
    assert kept == ["add(spin(), 1)", "add(3, 4)"]
    honest = fenced(
        "def add(a, b):\n    return a + b\n\ndef spin():\n    while True:\n        pass"
    )
    score = score_response(
        "", honest, peers=[hostile], timeout_s=5, memory_mb=256, test_weighting="uniform"
    )
    assert (score.tests_found, score.tests_passed) == (2, 1)  # the spin probe alone failed


def test_score_responses_returns_execution_results_table() -> None:
    rows = pl.DataFrame(
        {
            "instruction_id": ["i1", "i1", "i2"],
            "expert": ["a", "b", "a"],
            "instruction": [INSTRUCTION, INSTRUCTION, "Explain recursion."],
            "response": [
                fenced("def add(a, b):\n    return a + b"),
                fenced("def add(a, b):\n    return 0"),
                "Words.",
            ],
        }
    )
    table = score_responses(rows, timeout_s=5, memory_mb=256, workers=2)
    assert dict(table.schema) == EXECUTION_COLUMNS
    assert table["exec_score"].to_list() == [1.0, 0.5, 0.0]
    assert table["error_kind"].to_list() == [None, "test_failed", "no_code"]
    tier = sandbox_capabilities()["isolation"]
    assert table["isolation"].to_list() == [tier, tier, None]  # nothing ran for "Words."
    with pytest.raises(InputError):
        score_responses(rows.drop("response"))


def test_pathological_text_never_aborts_the_batch() -> None:
    deep = [
        "-" * 100_000 + "1",
        "assert add(1, 2) == " + "1+" * 3000 + "1",
        fenced("def add(a, b):\n    return a + b\n\nassert " + "add(1, 2)+" * 900 + "1 == 3"),
        fenced("x = " + "(" * 150 + ")" * 150),
    ]
    rows = pl.DataFrame(
        {
            "instruction_id": ["i"] * (len(deep) + 1),
            "expert": [f"e{i}" for i in range(len(deep) + 1)],
            "instruction": [INSTRUCTION] * (len(deep) + 1),
            "response": [*deep, fenced("def add(a, b):\n    return a + b")],
        }
    )
    table = score_responses(rows, timeout_s=5, memory_mb=256, workers=2)
    assert table.height == len(deep) + 1
    assert table["exec_score"][-1] == 1.0  # the honest response is still scored
    # polars cannot even hold a lone surrogate; the str API can, and writes it safely
    surrogate = fenced("def add(a, b):\n    return a + b  # \ud800")
    assert score_response(INSTRUCTION, surrogate, timeout_s=5, memory_mb=256).exec_score == 1.0


def test_verdict() -> None:
    high = ExecutionScore(True, True, True, 1, 1, 1.0, None, "full")
    low = ExecutionScore(True, True, True, 1, 0, 0.5, "test_failed", "full")
    assert execution_verdict(high, low) == "A"
    assert execution_verdict(low, high) == "B"
    assert execution_verdict(low, low) == "tie"
    assert execution_verdict(0.25, 0.25) == "tie"
