"""Judge reliability from agreement alone (gpu_ops.arena.judge_reliability, `judging.aggregate`).

Why: `reliability` must find which judges to trust without any ground truth or execution judge,
give an adversarial judge (always the first position, or always the longer answer) almost no
weight, pick better winners than the plain vote in a planted arena, treat the two presentation
orders of a battle as one truth, and leave a judge it cannot estimate at the prior weight 1.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from bench.bench_judge_reliability import ADVERSARY, EXPERTS, HONEST_ACCURACY, measure, plant
from gpu_ops.arena.judge_reliability import (
    NOT_ESTIMATED,
    RELIABILITY_SCHEMA,
    judge_reliability,
)
from gpu_ops.errors import InputError


@pytest.fixture(scope="module", params=["first", "longer"])
def planted(request):
    return request.param, plant(request.param, instructions=300, seed=0)


def test_planted_judges_are_ranked_and_the_adversary_gets_almost_no_weight(planted):
    adversary, arena = planted
    table = judge_reliability(arena.judgments, "reliability")
    accuracy = dict(zip(table["judge"], table["accuracy"], strict=True))
    weight = dict(zip(table["judge"], table["weight"], strict=True))
    assert table["estimated"].all() and table["shared_battles"].min() > 1000
    # ranked as planted: e1 (0.9) > e2 > e3 > e4 (0.6) > the adversary (chance)
    assert sorted(EXPERTS, key=accuracy.get, reverse=True) == list(EXPERTS)
    for judge in EXPERTS:
        assert accuracy[judge] == pytest.approx(arena.planted_accuracy[judge], abs=0.03), judge
    for judge, planted_accuracy in HONEST_ACCURACY.items():
        assert accuracy[judge] == pytest.approx(planted_accuracy, abs=0.03), judge
    assert arena.planted_accuracy[ADVERSARY] == pytest.approx(0.5, abs=0.02), adversary
    assert weight[ADVERSARY] < 0.1 * max(weight.values())
    # weights are the clipped log-odds, rescaled to mean 1 (the LLM judges keep their mass)
    assert np.mean(list(weight.values())) == pytest.approx(1.0)
    log_odds = dict(zip(table["judge"], table["log_odds"], strict=True))
    assert log_odds["e1"] == pytest.approx(np.log(accuracy["e1"] / (1 - accuracy["e1"])))


def test_reliability_picks_winners_closer_to_the_planted_truth_than_the_vote(planted):
    adversary, arena = planted
    vote, reliability = measure(arena, "vote"), measure(arena, "reliability")
    assert set(vote["weights"].values()) == {1.0}
    assert reliability["local_right"] > vote["local_right"], adversary
    assert reliability["winners_right"][0.0] > vote["winners_right"][0.0] + 0.02, adversary


def _judgment(iid: str, judge: str, a: str, b: str, shown_first: str, verdict: str) -> dict:
    return {
        "instruction_id": iid,
        "judge": judge,
        "model_a": a,
        "model_b": b,
        "shown_first": shown_first,
        "verdict": verdict,
    }


def _votes(picks: dict[str, str], battles: int = 40) -> pl.DataFrame:
    """Battles x vs y (x always better), both orders, judged by each judge in `picks`:
    'right' names x in both orders, 'first' names whatever is shown first, 'flip' names the
    second, 'wrong' names y."""
    rows = []
    for n, (judge, style) in itertools.product(range(battles), picks.items()):
        for shown_first in ("x", "y"):
            pick = {"right": "x", "wrong": "y", "first": shown_first}.get(style)
            if style == "flip":
                pick = "y" if shown_first == "x" else "x"
            if style == "right" and n % 5 == 0 and shown_first == "y":
                pick = "y"  # right 90% of the time, so the truth is not unanimous
            verdict = "first" if pick == shown_first else "second"
            rows.append(_judgment(f"i{n}", judge, "x", "y", shown_first, verdict))
    return pl.DataFrame(rows)


def test_both_orders_of_a_battle_are_one_truth_with_the_positions_swapped():
    table = judge_reliability(
        _votes({"j1": "right", "j2": "right", "j3": "first", "j4": "flip"}), "reliability"
    )
    row = {r["judge"]: r for r in table.iter_rows(named=True)}
    assert row["j1"]["battles"] == row["j1"]["shared_battles"] == 40  # battles, not orders
    assert row["j1"]["accuracy"] > 0.85 and row["j2"]["accuracy"] > 0.85
    # naming the first (or the second) position in both orders is right exactly half the time
    assert row["j3"]["accuracy"] == pytest.approx(0.5, abs=0.03)
    assert row["j4"]["accuracy"] == pytest.approx(0.5, abs=0.03)
    assert row["j3"]["weight"] < 0.05 and row["j4"]["weight"] < 0.05


def test_model_names_in_either_column_order_are_the_same_battle():
    votes = _votes({"j1": "right", "j2": "right", "j3": "wrong"})
    swapped = votes.with_columns(model_a=pl.lit("y"), model_b=pl.lit("x"))  # as the lake may hold
    assert judge_reliability(swapped, "reliability").equals(judge_reliability(votes, "reliability"))
    row = {r["judge"]: r for r in judge_reliability(votes, "reliability").iter_rows(named=True)}
    assert row["j3"]["accuracy"] < 0.2 and row["j3"]["weight"] == 0.0  # below chance: dropped


def test_three_experts_give_every_battle_one_judge_so_nothing_is_estimated():
    rows = [
        _judgment(f"i{n}", judge, a, b, first, "first")
        for n in range(5)
        for judge, (a, b) in (("c", ("a", "b")), ("b", ("a", "c")), ("a", ("b", "c")))
        for first in (a, b)
    ]
    table = judge_reliability(pl.DataFrame(rows), "reliability")
    assert table["estimated"].to_list() == [False, False, False]
    assert table["weight"].to_list() == [1.0, 1.0, 1.0]
    assert table["accuracy"].null_count() == 3 and table["shared_battles"].to_list() == [0, 0, 0]
    assert set(table["note"]) == {NOT_ESTIMATED}


def test_vote_reports_the_estimate_but_weighs_every_judge_one():
    votes = _votes({"j1": "right", "j2": "right", "j3": "first"})
    vote = judge_reliability(votes, "vote")
    reliability = judge_reliability(votes, "reliability")
    assert vote["weight"].to_list() == [1.0, 1.0, 1.0] and set(vote["aggregate"]) == {"vote"}
    assert vote["reliability_weight"].equals(reliability["weight"])
    assert vote.schema == pl.Schema(RELIABILITY_SCHEMA)


def test_judges_that_only_follow_positions_tell_nothing_so_none_is_preferred():
    table = judge_reliability(_votes({"j1": "first", "j2": "first", "j3": "flip"}), "reliability")
    assert table["accuracy"].to_list() == pytest.approx([0.5, 0.5, 0.5], abs=0.02)
    assert table["weight"].to_list() == pytest.approx([1.0, 1.0, 1.0])


def test_invalid_verdicts_are_left_out_and_bad_input_is_named():
    votes = _votes({"j1": "right", "j2": "right"})
    noisy = pl.concat(
        [votes, votes.head(10).with_columns(verdict=pl.lit("invalid"), instruction_id=pl.lit("z"))]
    )
    assert judge_reliability(noisy, "reliability")["battles"].to_list() == [40, 40]
    with pytest.raises(InputError, match=r"judging\.aggregate"):
        judge_reliability(votes, "majority")
    with pytest.raises(InputError, match="shown_first"):
        judge_reliability(votes.drop("shown_first"), "vote")
    empty = judge_reliability(votes.clear(), "reliability")
    assert empty.is_empty() and empty.schema == pl.Schema(RELIABILITY_SCHEMA)
