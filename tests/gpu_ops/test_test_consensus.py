"""Consensus weighting of peer tests (issue 24): who backs a test, who counts as one source."""

from __future__ import annotations

import polars as pl
import pytest

from gpu_ops.arena.execution_judge import score_responses
from gpu_ops.arena.test_consensus import (
    Evidence,
    behaviour_agreement,
    instruction_groups,
    known_wrong,
    sources,
    test_weights,
    weighted_fraction,
)
from gpu_ops.errors import InputError

EXAMPLE = "example"  # the instruction's own test (the anchor)


def _evidence(name: str, stated=(), results=None, outcomes=None) -> Evidence:
    return Evidence(name, frozenset(stated), dict(results or {}), dict(outcomes or {}))


def test_a_test_only_its_author_passes_earns_no_weight() -> None:
    group = [
        _evidence("a", ["t_a"], {EXAMPLE: True, "t_d": False, "t_b": True}),
        _evidence("b", ["t_b"], {EXAMPLE: True, "t_d": False, "t_a": True}),
        _evidence("c", [], {EXAMPLE: True, "t_d": False, "t_a": True, "t_b": True}),
        _evidence("d", ["t_d"], {EXAMPLE: True, "t_a": True, "t_b": True}),
    ]
    weights = test_weights([EXAMPLE], group)
    assert weights["t_d"] == 0.0  # only d (its author) backs it
    assert weights[EXAMPLE] == 1.0
    assert weights["t_a"] == 1.0  # every source backs it
    # the wrong test costs the others nothing; uniform weighting would cost each a third
    assert weighted_fraction(group[0].results, weights) == (1.0, 2, 2)


def test_two_identical_wrong_competitors_do_not_outvote_a_correct_one() -> None:
    # Instruction 1: c and d are right, w1 and w2 (two checkpoints of one model) share a bug.
    # Instruction 2: d is wrong in its own way, so c and d are independent; w1 and w2 agree.
    def outcomes(x: int, y: int) -> dict:
        return {"p1": ("value", x), "p2": ("value", y)}

    first = [
        _evidence("c", ["t_c"], {"t_d": True, "t_w": False}, outcomes(4, 7)),
        _evidence("d", ["t_d"], {"t_c": True, "t_w": False}, outcomes(4, 7)),
        _evidence("w1", ["t_w"], {"t_c": False, "t_d": False, "t_w": True}, outcomes(4, 12)),
        _evidence("w2", ["t_w"], {"t_c": False, "t_d": False, "t_w": True}, outcomes(4, 12)),
    ]
    second = [
        _evidence("c", [], {}, outcomes(1, 2)),
        _evidence("d", [], {}, outcomes(1, 3)),
        _evidence("w1", [], {}, outcomes(0, 0)),
        _evidence("w2", [], {}, outcomes(0, 0)),
    ]
    agreement = behaviour_agreement([first, second])
    assert agreement[("c", "d")] == 0.5 and agreement[("w1", "w2")] == 1.0
    source_of = sources([first, second])
    assert source_of == {"c": "c", "d": "d", "w1": "w1", "w2": "w1"}
    weights = test_weights([], first, source_of)
    assert weights["t_w"] == 0.0  # backed by one source (w1 = w2) only
    assert weights["t_c"] == weights["t_d"] == 0.5  # c and d: 2 of 3 sources
    correct = weighted_fraction(first[0].results, weights)[0]
    wrong = weighted_fraction(first[2].results, weights)[0]
    assert (correct, wrong) == (1.0, 0.0)
    # counted as two independent sources, w1 and w2 would have backed each other's test
    assert test_weights([], first, {})["t_w"] == pytest.approx(1 / 3)


def test_below_the_minimum_consensus_only_the_examples_count() -> None:
    group = [
        _evidence("a", ["t_a"], {EXAMPLE: True, "t_b": False}),
        _evidence("b", ["t_b"], {EXAMPLE: True, "t_a": True}),
    ]
    assert test_weights([EXAMPLE], group) == {EXAMPLE: 1.0, "t_a": 0.0, "t_b": 0.0}
    three = [*group, _evidence("c", [], {EXAMPLE: True, "t_a": True, "t_b": False})]
    assert test_weights([EXAMPLE], three, min_sources=4)["t_a"] == 0.0
    weights = test_weights([EXAMPLE], three, min_sources=3)
    assert (weights["t_a"], weights["t_b"]) == (1.0, 0.0)  # every source / its author only
    # look-alikes make one source: three competitors, two sources, examples alone
    alike = {"a": "a", "b": "b", "c": "b"}
    assert test_weights([EXAMPLE], three, alike)["t_a"] == 0.0


def test_an_answer_failing_the_examples_backs_nothing() -> None:
    group = [
        _evidence("a", ["t_a"], {EXAMPLE: True, "t_b": False, "t_c": False}),
        _evidence("b", ["t_b"], {EXAMPLE: False, "t_a": False, "t_c": True}),
        _evidence("c", ["t_c"], {EXAMPLE: False, "t_a": False, "t_b": True}),
    ]
    assert known_wrong(group[1], frozenset([EXAMPLE]))
    assert not known_wrong(group[0], frozenset([EXAMPLE]))
    assert not known_wrong(_evidence("e"), frozenset([EXAMPLE]))  # no verdict: no evidence
    weights = test_weights([EXAMPLE], group)
    assert weights["t_b"] == weights["t_c"] == 0.0  # b and c back each other, but fail the example
    assert weighted_fraction(group[0].results, weights) == (1.0, 1, 1)
    assert weighted_fraction({}, weights) == (0.0, 0, 0)


FENCE = "```"


def _rows(instruction: str, responses: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instruction_id": ["i"] * len(responses),
            "expert": list(responses),
            "instruction": [instruction] * len(responses),
            "response": [f"{FENCE}python\n{code}\n{FENCE}" for code in responses.values()],
        }
    )


def test_the_judge_keeps_a_correct_answer_level_with_two_copies_of_a_wrong_one() -> None:
    """In the sandbox: a * b passes the example add(2, 2) == 4, and its two copies confirm each
    other's tests. Uniform weighting lets them beat the correct answer; consensus sees one
    source and two sources in all, below the minimum: the example alone decides (a tie)."""
    wrong = "def add(a, b):\n    return a * b\n\nassert add(3, 3) == 9\nassert add(1, 5) == 5"
    rows = _rows(
        "Write add(a, b).\n>>> add(2, 2)\n4",
        {
            "correct": "def add(a, b):\n    return a + b\n\nassert add(3, 4) == 7",
            "wrong_1": wrong,
            "wrong_2": wrong.replace("add(3, 3) == 9", "add(2, 3) == 6"),
        },
    )
    uniform = score_responses(rows, timeout_s=5, memory_mb=256, test_weighting="uniform")
    consensus = score_responses(rows, timeout_s=5, memory_mb=256)
    assert uniform["exec_score"][0] < uniform["exec_score"][1]  # outvoted (the case)
    assert consensus["exec_score"].to_list() == [1.0, 1.0, 1.0]
    assert consensus["tests_found"].to_list() == [1, 1, 1]  # the example alone
    with pytest.raises(InputError, match="test_weighting"):
        score_responses(rows, test_weighting="majority")


def test_the_judge_scores_a_wrong_answer_by_the_tests_independent_answers_back() -> None:
    """a, b and c answer double alike, but part ways on half (floor, ceiling, round): three
    independent sources. d's wrong test only d backs (weight 0); a's test, backed by a, b and c,
    lowers d's score and no one else's."""
    double = {
        "a": "def double(x):\n    return 2 * x\n\nassert double(3) == 6",
        "b": "def double(x):\n    return x + x\n\nassert double(4) == 8",
        "c": "def double(x):\n    return x << 1\n\nassert double(0) == 0",
        "d": "def double(x):\n    return x * x\n\nassert double(2) == 4\nassert double(5) == 25",
    }
    half = {
        "a": "def half(x):\n    return x // 2",
        "b": "def half(x):\n    return -(-x // 2)",
        "c": "def half(x):\n    return round(x / 2)",
        "d": "def half(x):\n    return x // 2\n\nassert half(3) == 1\nassert half(5) == 2",
    }
    rows = pl.concat(
        [
            _rows("Write double(x).", double),
            _rows("Write half(x).", half).with_columns(instruction_id=pl.lit("j")),
        ]
    )
    table = score_responses(rows, timeout_s=5, memory_mb=256, workers=2)
    scores = dict(zip(table["expert"][:4], table["exec_score"][:4], strict=True))
    assert scores["a"] == scores["b"] == scores["c"] == 1.0
    assert scores["d"] < 1.0
    uniform = score_responses(rows, timeout_s=5, memory_mb=256, workers=2, test_weighting="uniform")
    assert uniform["exec_score"][0] < 1.0  # d's double(5) == 25 fails a when counted alike


def test_instruction_groups_hold_every_competitor_and_the_rows_own_responses() -> None:
    rows = [("i", "b", "Write f.", "b's new answer"), ("j", "a", "Write g.", "a on g")]
    peers = [("i", "a", "a on f"), ("i", "b", "b's old answer"), ("k", "c", "c on h")]
    groups, where = instruction_groups(rows, peers)
    assert [g.instruction for g in groups] == ["Write f.", "Write g."]
    assert groups[0].competitors == [("a", "a on f"), ("b", "b's new answer")]
    assert groups[0].scored == [1] and groups[1].scored == [0]
    assert where == [(0, 1), (1, 0)]
