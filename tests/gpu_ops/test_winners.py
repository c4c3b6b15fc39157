"""Winner selection: e_i(A) = sum_B [alpha * P_global(A>B) + (1 - alpha) * x_i(A>B)]."""

import math

import polars as pl
import pytest

from gpu_ops.errors import InputError
from gpu_ops.sft_data.winners import WINNER_COLUMNS, select_winners


def votes(rows: list[tuple]) -> pl.DataFrame:
    """Battle rows as the `battles` mart gives them: (id, a, b, votes_a, votes_b, local_score_a).

    local_score_a is written out by hand (the mart owns the rule; tests/dbt checks it)."""
    return pl.DataFrame(
        rows,
        schema=["instruction_id", "model_a", "model_b", "votes_a", "votes_b", "local_score_a"],
        orient="row",
    )


def test_hand_built_example() -> None:
    # Ratings: a = b = 1000, c = 600 -> P(a>b) = 0.5, P(a>c) = P(b>c) = 10/11, P(c>a) = 1/11.
    ratings = {"a": 1000.0, "b": 1000.0, "c": 600.0}
    battles = votes(
        [
            ("i1", "a", "b", 1, 3, 0.25),  # x(a>b) = 1/4, x(b>a) = 3/4
            ("i1", "a", "c", 0, 2, 0.0),  # x(a>c) = 0,   x(c>a) = 1
            ("i1", "b", "c", 2, 0, 1.0),  # x(b>c) = 1,   x(c>b) = 0
            ("i2", "a", "b", 0, 0, None),  # only tie votes: no local score, x = 0.5 both ways
            ("i3", "c", "a", 1, 1, 0.5),  # reversed orientation: x = 0.5 both ways
        ]
    )
    got = {
        row["instruction_id"]: row for row in select_winners(battles, ratings).iter_rows(named=True)
    }
    p = 10 / 11
    # i1: e(a) = 0.7 (0.5 + p) + 0.3 (1/4 + 0) = 0.986364 + 0.075 = 1.061364
    #     e(b) = 0.7 (0.5 + p) + 0.3 (3/4 + 1) = 0.986364 + 0.525 = 1.511364
    #     e(c) = 0.7 (1/11 + 1/11) + 0.3 (1 + 0) = 0.127273 + 0.3 = 0.427273
    e_a = 0.7 * (0.5 + p) + 0.3 * (0.25 + 0.0)
    e_b = 0.7 * (0.5 + p) + 0.3 * (0.75 + 1.0)
    i1 = got["i1"]
    assert (i1["winner"], i1["runner_up"]) == ("b", "a")
    assert i1["winner_score"] == pytest.approx(e_b)
    assert i1["winner_score"] == pytest.approx(1.511364, abs=1e-6)
    assert i1["runner_up_score"] == pytest.approx(e_a)
    assert i1["global_component"] == pytest.approx(0.7 * (0.5 + p))
    assert i1["local_component"] == pytest.approx(0.3 * 1.75)
    assert (i1["votes_for"], i1["votes_against"]) == (5, 1)
    # i2: e(a) = e(b) = 0.7 * 0.5 + 0.3 * 0.5 = 0.5; equal ratings -> slug order picks a.
    assert (got["i2"]["winner"], got["i2"]["runner_up"]) == ("a", "b")
    assert got["i2"]["winner_score"] == pytest.approx(0.5)
    # i3: e(a) = 0.7 p + 0.3 * 0.5 = 0.786364, e(c) = 0.7 / 11 + 0.15 = 0.213636.
    assert got["i3"]["winner"] == "a"
    assert got["i3"]["winner_score"] == pytest.approx(0.7 * p + 0.15)
    assert got["i3"]["runner_up_score"] == pytest.approx(0.7 / 11 + 0.15)


def test_output_columns_and_alpha() -> None:
    table = select_winners(votes([("i", "a", "b", 1, 0, 1.0)]), {"a": 1000, "b": 1000}, alpha=0.5)
    assert table.columns == list(WINNER_COLUMNS)
    assert table["alpha"].to_list() == [0.5]


def test_tie_break_prefers_higher_rating() -> None:
    # a gets 3 of 4 votes (x = 0.75) against d, which is rated higher by delta such that
    # 0.7 (2P - 1) = 0.3 (2x - 1): P(d>a) = 0.5 + 0.15 / 1.4 and the scores tie exactly.
    p_d = 0.5 + 0.15 / 1.4
    delta = 400 * math.log10(p_d / (1 - p_d))
    ratings = {"a": 1000.0, "d": 1000.0 + delta}
    table = select_winners(votes([("i", "a", "d", 3, 1, 0.75)]), ratings)
    row = table.row(0, named=True)
    assert row["winner_score"] == pytest.approx(row["runner_up_score"])
    assert (row["winner"], row["runner_up"]) == ("d", "a")


def test_explicit_competitors_without_battles_get_half() -> None:
    # e is a competitor on i but was never judged against anyone there: x = 0.5 for its pairs.
    ratings = {"a": 1000.0, "b": 1000.0, "e": 1000.0}
    battles = votes([("i", "a", "b", 2, 0, 1.0)])
    table = select_winners(battles, ratings, {"i": ["a", "b", "e"]}, alpha=0.0)
    row = table.row(0, named=True)
    # alpha = 0: e(a) = x(a>b) + x(a>e) = 1 + 0.5; e(e) = 0.5 + 0.5; e(b) = 0 + 0.5.
    assert (row["winner"], row["winner_score"]) == ("a", pytest.approx(1.5))
    assert (row["runner_up"], row["runner_up_score"]) == ("e", pytest.approx(1.0))


def test_single_competitor_has_no_runner_up() -> None:
    table = select_winners(votes([("i", "a", "b", 1, 0, 1.0)]), {"a": 1000, "b": 900}, {"j": ["a"]})
    row = table.row(0, named=True)
    assert (row["instruction_id"], row["winner"], row["runner_up"]) == ("j", "a", None)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="no global rating"):
        select_winners(votes([("i", "a", "b", 1, 0, 1.0)]), {"a": 1000})
    with pytest.raises(InputError, match="alpha"):
        select_winners(votes([("i", "a", "b", 1, 0, 1.0)]), {"a": 1, "b": 1}, alpha=1.5)
    with pytest.raises(InputError, match="missing column"):
        select_winners(pl.DataFrame({"instruction_id": ["i"]}), {})
    with pytest.raises(InputError, match="one row per pair"):
        select_winners(
            votes([("i", "a", "b", 1, 0, 1.0), ("i", "b", "a", 0, 1, 0.0)]), {"a": 1, "b": 1}
        )
    with pytest.raises(InputError, match=r"local_score_a must be in \[0, 1\]"):
        select_winners(votes([("i", "a", "b", 1, 0, 1.5)]), {"a": 1, "b": 1})
    with pytest.raises(InputError, match="non-negative"):
        select_winners(votes([("i", "a", "b", -1, 0, 0.0)]), {"a": 1, "b": 1})


def test_earlier_winners_join_where_this_run_did_not_decide():
    from gpu_ops.sft_data.winners import with_earlier_winners

    def rows(ids, winner):
        return pl.DataFrame(
            {
                "instruction_id": ids,
                "instruction": [f"do {i}" for i in ids],
                "response": [f"{winner} on {i}" for i in ids],
                "winner": [winner] * len(ids),
                "miner": ["m"] * len(ids),
            }
        )

    current = rows(["b", "c"], "round3").with_columns(winner_score=pl.lit(1.0))
    union = with_earlier_winners(current, [rows(["a", "b"], "round1"), rows(["a"], "round2")])
    assert union["instruction_id"].to_list() == ["a", "b", "c"]
    assert union["winner"].to_list() == ["round2", "round3", "round3"]  # the latest decision
    assert union.columns == current.columns
    assert with_earlier_winners(current, []).equals(current)
    with pytest.raises(InputError, match="earlier winners #1"):
        with_earlier_winners(current, [pl.DataFrame({"instruction_id": ["z"]})])
