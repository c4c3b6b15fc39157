"""The paper's comparison: condition datasets share instructions and differ only in the answer."""

from __future__ import annotations

import polars as pl
import pytest

from gpu_ops.arena.execution_judge import hidden_tests_source, score_response
from gpu_ops.errors import InputError
from gpu_ops.evaluation.conditions import (
    ARENA,
    RANDOM_EXPERT,
    best_expert,
    condition_rows,
    effect_report,
    effect_table,
    expert_condition,
    random_pick,
)

EXPERTS = ("alpha", "beta", "gamma")


def arena_rows(n: int) -> list[dict]:
    return [
        {
            "instruction_id": f"i{k}",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": f"task {k}"},
                {"role": "assistant", "content": f"winner {k}"},
            ],
        }
        for k in range(n)
    ]


def responses(n: int, missing: tuple[str, str] | None = None) -> pl.DataFrame:
    rows = [
        {"instruction_id": f"i{k}", "expert": e, "response": f"{e} {k}"}
        for k in range(n)
        for e in EXPERTS
        if (f"i{k}", e) != missing
    ]
    return pl.DataFrame(rows)


def test_every_condition_has_the_same_instructions_in_the_same_order() -> None:
    conditions, left_out = condition_rows(arena_rows(30), responses(30), seed=1)
    assert left_out == 0
    assert set(conditions) == {ARENA, RANDOM_EXPERT, *(expert_condition(e) for e in EXPERTS)}
    ids = [[r["instruction_id"] for r in rows] for rows in conditions.values()]
    assert all(i == ids[0] for i in ids) and len(ids[0]) == 30
    first = {name: rows[0]["messages"] for name, rows in conditions.items()}
    assert first[ARENA][1]["content"] == "winner 0"
    assert first[expert_condition("beta")] == [
        {"role": "user", "content": "task 0"},
        {"role": "assistant", "content": "beta 0"},
    ]


def test_random_expert_is_seeded_and_uses_every_expert() -> None:
    picks = [random_pick(f"i{k}", list(EXPERTS), seed=0) for k in range(60)]
    assert set(picks) == set(EXPERTS)
    assert picks == [random_pick(f"i{k}", list(reversed(EXPERTS)), seed=0) for k in range(60)]
    assert picks != [random_pick(f"i{k}", list(EXPERTS), seed=1) for k in range(60)]
    conditions, _ = condition_rows(arena_rows(60), responses(60), seed=0)
    answers = [r["messages"][1]["content"] for r in conditions[RANDOM_EXPERT]]
    assert answers == [f"{pick} {k}" for k, pick in enumerate(picks)]


def test_unanswered_and_benchmark_instructions_are_left_out_of_every_condition() -> None:
    conditions, left_out = condition_rows(
        arena_rows(10),
        responses(10, missing=("i3", "gamma")),
        is_benchmark_instruction=lambda text: text == "task 5",
    )
    assert left_out == 2
    for rows in conditions.values():
        assert [r["instruction_id"] for r in rows] == [
            f"i{k}" for k in range(10) if k not in (3, 5)
        ]


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(InputError, match="at least two experts"):
        condition_rows(arena_rows(3), responses(3).filter(pl.col("expert") == "alpha"))
    with pytest.raises(InputError, match="lack columns"):
        condition_rows(arena_rows(3), responses(3).drop("response"))
    with pytest.raises(InputError, match="no instruction is left"):
        condition_rows(arena_rows(3), responses(3), is_benchmark_instruction=lambda _: True)


def test_report_takes_the_best_single_expert_and_keeps_the_details() -> None:
    judges = pl.DataFrame(
        {
            "judge": ["alpha", "beta"],
            "agreement_with_execution": [0.8, 0.7],
            "first_pick_share": [0.5, 0.6],
            "flip_rate": [0.1, 0.2],
        }
    )
    scores = {
        "base": 0.0,
        ARENA: 0.8,
        RANDOM_EXPERT: 0.4,
        **{expert_condition(e): v for e, v in zip(EXPERTS, (0.3, 0.5, 0.2), strict=True)},
    }
    report = effect_report(
        scores, n_tasks=60, benchmark="demo-world", train_rows=200, left_out=1, judges=judges
    )
    assert report["pass_at_1"] == {
        "base": 0.0,
        "best_single_expert": 0.5,
        "random_expert": 0.4,
        "arena": 0.8,
    }
    assert report["best_single_expert"] == "beta"
    assert report["judge_agreement_with_execution"] == {"alpha": 0.8, "beta": 0.7}
    assert effect_table(report)["condition"].to_list()[-1] == "arena winners"


def test_hidden_tests_decide_the_execution_score() -> None:
    instruction = (
        "Write a Python function solve(s) that takes a string s. Reverse it, then convert it to "
        "uppercase. Return the result."
    )
    right = "```python\ndef solve(s):\n    return s[::-1].upper()\n```"
    wrong = "```python\ndef solve(s):\n    return s.upper()\n```"
    tests = hidden_tests_source("demo-world")
    scored = {
        name: score_response(instruction, text, hidden_tests=tests, allow_weak_isolation=True)
        for name, text in (("right", right), ("wrong", wrong))
    }
    assert scored["right"].tests_found == 5 and scored["right"].tests_passed == 5
    assert scored["wrong"].tests_passed < 5
    assert scored["right"].exec_score > scored["wrong"].exec_score
    without = score_response(instruction, wrong, allow_weak_isolation=True)
    assert without.tests_found == 0
    with pytest.raises(InputError, match="unknown hidden_tests source"):
        hidden_tests_source("nowhere")


def test_best_expert_is_the_one_the_execution_judge_scores_highest_on_these_instructions() -> None:
    scores = pl.DataFrame(
        {
            "instruction_id": ["i0", "i0", "i1", "i1", "other", "other"],
            "expert": ["alpha", "beta", "alpha", "beta", "alpha", "beta"],
            "exec_score": [1.0, 0.5, 0.25, 1.0, 0.0, 1.0],
        }
    )
    assert best_expert(scores, ["i0", "i1"]) == "beta"  # 0.75 against 0.625
    assert best_expert(scores, ["i0"]) == "alpha"
    with pytest.raises(InputError, match="no execution results"):
        best_expert(scores, ["nowhere"])


def test_single_expert_conditions_can_be_limited_to_chosen_experts() -> None:
    conditions, _ = condition_rows(arena_rows(5), responses(5), single_experts=["beta"])
    assert set(conditions) == {ARENA, RANDOM_EXPERT, expert_condition("beta")}
    with pytest.raises(InputError, match="gave no responses"):
        condition_rows(arena_rows(5), responses(5), single_experts=["delta"])
