"""Online Elo, pair counts, Bradley-Terry fit and bootstrap, leaderboard."""

import math

import numpy as np
import polars as pl
import pytest

from gpu_ops.arena.ratings import (
    LEADERBOARD_COLUMNS,
    bootstrap_bradley_terry,
    bootstrap_online_elo,
    fit_bradley_terry,
    leaderboard,
    online_elo,
    pair_counts,
    record_warnings,
    win_probability,
)
from gpu_ops.errors import InputError


def battles(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["model_a", "model_b", "winner"], orient="row")


def synthetic_battles(strengths: dict[str, float], n: int, seed: int) -> pl.DataFrame:
    """Random pairs; the winner drawn from the BT/Elo win probability of the true ratings."""
    rng = np.random.default_rng(seed)
    names = list(strengths)
    true = np.array([strengths[m] for m in names])
    a = rng.integers(0, len(names), n)
    b = (a + rng.integers(1, len(names), n)) % len(names)
    a_wins = rng.random(n) < win_probability(true[a], true[b])
    return pl.DataFrame(
        {
            "model_a": [names[i] for i in a],
            "model_b": [names[i] for i in b],
            "winner": np.where(a_wins, "model_a", "model_b"),
        }
    )


# ---------------------------------------------------------------- Elo


def test_win_probability_matches_elo_formula() -> None:
    assert win_probability(1000, 1000) == pytest.approx(0.5)
    # 400 points ahead -> odds 10:1 -> 10/11
    assert win_probability(1400, 1000) == pytest.approx(10 / 11)
    assert win_probability(1000, 1400) == pytest.approx(1 / 11)
    # base 2, scale 100: 100 points ahead -> odds 2:1
    assert win_probability(1100, 1000, scale=100, base=2) == pytest.approx(2 / 3)


def test_online_elo_three_battles_by_hand() -> None:
    log = battles([("A", "B", "model_a"), ("B", "C", "tie"), ("C", "A", "model_b")])
    got = online_elo(log, k=40, initial=1000)
    # Battle 1: A=B=1000, E_A = 0.5, A wins: delta = 40 * (1 - 0.5) = 20 -> A 1020, B 980.
    # Battle 2: B=980 vs C=1000, tie. E_B = 1 / (1 + 10^(20/400)) = 1 / (1 + 1.1220185) = 0.4712494
    #   delta = 40 * (0.5 - 0.4712494) = 1.1500226 -> B 981.1500226, C 998.8499774.
    # Battle 3: C=998.8499774 vs A=1020, A (model_b) wins, S_C = 0.
    #   E_C = 1 / (1 + 10^(21.1500226/400)) = 1 / (1 + 1.1294508) = 0.4696002
    #   delta = 40 * (0 - 0.4696002) = -18.7840085 -> C 980.0659689, A 1038.7840085.
    e_b = 1 / (1 + 10 ** (20 / 400))
    d2 = 40 * (0.5 - e_b)
    c2 = 1000 - d2
    e_c = 1 / (1 + 10 ** ((1020 - c2) / 400))
    d3 = 40 * (0 - e_c)
    assert got["A"] == pytest.approx(1020 - d3)
    assert got["B"] == pytest.approx(980 + d2)
    assert got["C"] == pytest.approx(c2 + d3)
    assert got["A"] == pytest.approx(1038.7840085, abs=1e-6)
    assert got["B"] == pytest.approx(981.1500226, abs=1e-6)
    assert got["C"] == pytest.approx(980.0659689, abs=1e-6)


def test_online_elo_is_zero_sum_and_not_the_reference_bug() -> None:
    log = synthetic_battles({"a": 1200, "b": 1000, "c": 900, "d": 800}, 500, seed=3)
    got = online_elo(log, k=40, initial=1000)
    assert sum(got.values()) == pytest.approx(4000, abs=1e-6)
    # The reference script's variant (B updated from A's *new* rating) is not zero-sum.
    buggy = dict.fromkeys(got, 1000.0)
    for a, b, w in log.iter_rows():
        s = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}[w]
        buggy[a] += 40 * (s - win_probability(buggy[a], buggy[b]))
        buggy[b] += 40 * ((1 - s) - win_probability(buggy[b], buggy[a]))
    assert abs(sum(buggy.values()) - 4000) > 1e-3


def test_online_elo_ties_between_equals_change_nothing() -> None:
    got = online_elo(battles([("x", "y", "tie"), ("y", "x", "tie")]))
    assert got == {"x": 1000.0, "y": 1000.0}


def test_online_elo_rejects_unknown_winner_and_self_play() -> None:
    with pytest.raises(InputError, match="winner"):
        online_elo(battles([("x", "y", "x")]))
    with pytest.raises(InputError, match="itself"):
        online_elo(battles([("x", "x", "tie")]))
    with pytest.raises(InputError, match="missing column"):
        online_elo(pl.DataFrame({"model_a": ["x"], "model_b": ["y"]}))


def test_elo_bootstrap_is_seeded_and_brackets_spread() -> None:
    log = synthetic_battles({"a": 1200, "b": 1000, "c": 800}, 300, seed=1)
    first = bootstrap_online_elo(log, rounds=30, seed=7)
    again = bootstrap_online_elo(log, rounds=30, seed=7)
    assert first.equals(again)
    assert (first["ci_lower"] < first["ci_upper"]).all()
    # The online pass in row order has its own column; `rating` is the bootstrap median.
    assert first["rating_online"].to_list() == [online_elo(log)[e] for e in first["expert"]]
    assert first["rating"].to_list() != first["rating_online"].to_list()
    assert ((first["ci_lower"] <= first["rating"]) & (first["rating"] <= first["ci_upper"])).all()
    no_rounds = bootstrap_online_elo(log, rounds=0)
    assert no_rounds["rating"].to_list() == no_rounds["rating_online"].to_list()


# ---------------------------------------------------------------- pair counts


def test_pair_counts_canonical_orientation() -> None:
    log = battles(
        [
            ("b", "a", "model_a"),  # b beats a
            ("a", "b", "model_a"),  # a beats b
            ("b", "a", "tie"),
            ("a", "c", "model_b"),  # c beats a
        ]
    )
    got = pair_counts(log)
    assert got.to_dicts() == [
        {"model_a": "a", "model_b": "b", "wins_a": 1, "wins_b": 1, "ties": 1},
        {"model_a": "a", "model_b": "c", "wins_a": 0, "wins_b": 1, "ties": 0},
    ]
    # A counts frame (e.g. the rating_pair_counts mart) is re-canonicalized and summed.
    counts = pl.DataFrame(
        {
            "model_a": ["b", "a"],
            "model_b": ["a", "b"],
            "wins_a": [2, 1],
            "wins_b": [0, 3],
            "ties": [1, 0],
        }
    )
    assert pair_counts(counts).to_dicts() == [
        {"model_a": "a", "model_b": "b", "wins_a": 1, "wins_b": 5, "ties": 1}
    ]


# ---------------------------------------------------------------- Bradley-Terry


def test_bt_two_models_ties_count_half() -> None:
    # a beats b 3 times, 2 ties -> 4 wins vs 1: MLE P(a > b) = 0.8 -> gap 400 log10(4).
    counts = pl.DataFrame(
        {"model_a": ["a"], "model_b": ["b"], "wins_a": [3], "wins_b": [0], "ties": [2]}
    )
    got = fit_bradley_terry(counts)
    gap = 400 * math.log10(4)
    assert got["a"] - got["b"] == pytest.approx(gap, abs=0.01)
    assert (got["a"] + got["b"]) / 2 == pytest.approx(1000)
    anchored = fit_bradley_terry(counts, anchor="b", initial=1500)
    assert anchored["b"] == pytest.approx(1500)
    assert anchored["a"] == pytest.approx(1500 + gap, abs=0.01)
    with pytest.raises(InputError, match="anchor"):
        fit_bradley_terry(counts, anchor="zzz")


def test_bt_all_ties_are_equal() -> None:
    got = fit_bradley_terry(battles([("a", "b", "tie"), ("b", "c", "tie"), ("c", "a", "tie")]))
    assert got == pytest.approx({"a": 1000, "b": 1000, "c": 1000})


def test_bt_counts_and_raw_battles_agree() -> None:
    log = synthetic_battles({"a": 1100, "b": 1000, "c": 950}, 400, seed=5)
    assert fit_bradley_terry(log) == pytest.approx(fit_bradley_terry(pair_counts(log)))


def test_bt_recovers_known_strengths() -> None:
    truth = {"m1": 1300.0, "m2": 1150.0, "m3": 1000.0, "m4": 850.0, "m5": 700.0}
    got = fit_bradley_terry(synthetic_battles(truth, 8000, seed=11))
    # Spearman 1: the recovered order is the true order.
    assert sorted(got, key=got.get, reverse=True) == list(truth)
    for expert, rating in truth.items():  # truth is already mean 1000
        assert got[expert] == pytest.approx(rating, abs=30)


def test_bt_bootstrap_cis_cover_the_truth() -> None:
    truth = {"m1": 1200.0, "m2": 1100.0, "m3": 1000.0, "m4": 900.0, "m5": 800.0}
    covered, total = 0, 0
    for seed in range(5):
        table = bootstrap_bradley_terry(
            synthetic_battles(truth, 3000, seed=100 + seed), rounds=100, seed=seed
        )
        assert (table["ci_lower"] <= table["rating"]).all()
        assert (table["rating"] <= table["ci_upper"]).all()
        for row in table.iter_rows(named=True):
            total += 1
            covered += row["ci_lower"] <= truth[row["expert"]] <= row["ci_upper"]
    assert covered / total >= 0.8


def test_bt_bootstrap_is_seeded() -> None:
    log = synthetic_battles({"a": 1100, "b": 1000, "c": 900}, 600, seed=2)
    assert bootstrap_bradley_terry(log, rounds=20, seed=3).equals(
        bootstrap_bradley_terry(log, rounds=20, seed=3)
    )
    assert not bootstrap_bradley_terry(log, rounds=20, seed=3).equals(
        bootstrap_bradley_terry(log, rounds=20, seed=4)
    )


# ---------------------------------------------------------------- leaderboard


def test_leaderboard_both_methods() -> None:
    log = battles(
        [("a", "b", "model_a"), ("a", "c", "model_a"), ("b", "c", "tie"), ("c", "a", "model_b")] * 5
    )
    table = leaderboard(log, method="both", bootstrap_rounds=20, seed=0)
    assert table.columns == list(LEADERBOARD_COLUMNS)
    assert table["method"].to_list() == ["bt"] * 3 + ["elo"] * 3
    assert table.filter(pl.col("method") == "bt")["expert"][0] == "a"
    a = table.filter((pl.col("expert") == "a") & (pl.col("method") == "elo")).row(0, named=True)
    assert (a["games"], a["wins"], a["losses"], a["ties"], a["win_rate"]) == (15, 15, 0, 0, 1.0)
    b = table.filter((pl.col("expert") == "b") & (pl.col("method") == "bt")).row(0, named=True)
    assert (b["games"], b["wins"], b["losses"], b["ties"]) == (10, 0, 5, 5)
    assert b["win_rate"] == pytest.approx(0.25)


def test_leaderboard_elo_needs_battles_not_counts() -> None:
    counts = pair_counts(battles([("a", "b", "model_a"), ("b", "a", "model_a")]))
    assert leaderboard(counts, method="bt", bootstrap_rounds=0)["ci_lower"].is_nan().all()
    with pytest.raises(InputError, match="ordered battles"):
        leaderboard(counts, method="elo")
    with pytest.raises(InputError, match="method"):
        leaderboard(counts, method="glicko")  # type: ignore[arg-type]


# ---------------------------------------------------------------- weights


def weighted(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["model_a", "model_b", "winner", "weight"], orient="row")


def split_heavy_rows(log: pl.DataFrame) -> pl.DataFrame:
    """Each weight-1.5 row written as three consecutive weight-0.5 rows."""
    rows = []
    for row in log.iter_rows(named=True):
        copies = 3 if row["weight"] == 1.5 else 1
        rows += [dict(row, weight=row["weight"] / copies)] * copies
    return pl.DataFrame(rows, schema=log.schema)


def test_bt_honours_fractional_weights() -> None:
    # a: 2.5 wins, b: 0.5 wins -> P(a > b) = 5/6 -> gap 400 log10(5); truncation would give inf.
    log = weighted(
        [("a", "b", "model_a", 1.5), ("b", "a", "model_b", 1.0), ("a", "b", "model_b", 0.5)]
    )
    assert pair_counts(log).to_dicts() == [
        {"model_a": "a", "model_b": "b", "wins_a": 2.5, "wins_b": 0.5, "ties": 0.0}
    ]
    got = fit_bradley_terry(log)
    assert got["a"] - got["b"] == pytest.approx(400 * math.log10(5), abs=0.01)
    # Splitting a vote into equal parts changes nothing, fit or bootstrap (same clusters).
    assert fit_bradley_terry(split_heavy_rows(log)) == pytest.approx(got, abs=1e-6)


def test_bt_weights_match_weighted_logistic_regression() -> None:
    """Independent check: sklearn's weighted logistic regression on the FastChat design."""
    from sklearn.linear_model import LogisticRegression

    truth = {"a": 1150.0, "b": 1000.0, "c": 900.0, "d": 950.0}
    log = synthetic_battles(truth, 600, seed=4).with_columns(
        weight=pl.Series(np.random.default_rng(0).choice([0.25, 1.0, 1.5, 3.0], 600))
    )
    names = sorted(truth)
    x = np.zeros((log.height, len(names)))
    for row, (a, b) in enumerate(zip(log["model_a"], log["model_b"], strict=True)):
        x[row, names.index(a)] = math.log(10)
        x[row, names.index(b)] = -math.log(10)
    y = (log["winner"] == "model_a").to_numpy().astype(float)
    model = LogisticRegression(fit_intercept=False, C=1e8, tol=1e-10, max_iter=10_000)
    model.fit(x, y, sample_weight=log["weight"].to_numpy())
    expected = 400 * model.coef_[0]
    expected = expected - expected.mean() + 1000
    got = fit_bradley_terry(log)
    assert [got[n] for n in names] == pytest.approx(expected.tolist(), abs=0.05)


def test_elo_honours_weights() -> None:
    half = online_elo(weighted([("x", "y", "model_a", 0.5)]), k=40)
    assert half == pytest.approx({"x": 1010.0, "y": 990.0})
    # A weight-0 vote changes nothing; only votes of weight 0 are nothing to rate (#29).
    zero_then_win = weighted([("x", "y", "model_a", 0.0), ("x", "y", "tie", 1.0)])
    assert online_elo(zero_then_win) == {"x": 1000.0, "y": 1000.0}
    with pytest.raises(InputError, match="total weight is 0"):
        online_elo(weighted([("x", "y", "model_a", 0.0)]))
    # Weight w at K equals weight 1 at K * w.
    log = synthetic_battles({"a": 1100, "b": 1000, "c": 900}, 200, seed=6)
    doubled = online_elo(log.with_columns(weight=pl.lit(2.0)), k=10)
    assert doubled == pytest.approx(online_elo(log, k=20))


def test_bad_weights_are_named() -> None:
    with pytest.raises(InputError, match="weight"):
        online_elo(weighted([("x", "y", "model_a", -1.0)]))
    with pytest.raises(InputError, match="weight"):
        fit_bradley_terry(weighted([("x", "y", "model_a", float("nan"))]))
    with pytest.raises(InputError, match="weight column is not numeric"):
        pair_counts(battles([("x", "y", "model_a")]).with_columns(weight=pl.lit("heavy")))


# ---------------------------------------------------------------- cluster bootstrap


def clustered_battles(
    truth: dict[str, float], instructions: int, judges: int, seed: int
) -> pl.DataFrame:
    """Each instruction: one random pair, one outcome drawn from the truth, and `judges`
    identical votes on it (votes on one instruction are perfectly correlated)."""
    rng = np.random.default_rng(seed)
    names = list(truth)
    true = np.array([truth[m] for m in names])
    a = rng.integers(0, len(names), instructions)
    b = (a + rng.integers(1, len(names), instructions)) % len(names)
    a_wins = rng.random(instructions) < win_probability(true[a], true[b])
    one_vote = pl.DataFrame(
        {
            "instruction_id": [f"i{i}" for i in range(instructions)],
            "model_a": [names[i] for i in a],
            "model_b": [names[i] for i in b],
            "winner": np.where(a_wins, "model_a", "model_b"),
        }
    )
    return pl.concat([one_vote] * judges)


def test_cluster_bootstrap_covers_where_vote_bootstrap_under_covers() -> None:
    truth = {"m1": 1150.0, "m2": 1050.0, "m3": 950.0, "m4": 850.0}
    covered = {"instruction": 0, "vote": 0}
    widths = {"instruction": [], "vote": []}
    total = 0
    for replication in range(12):
        log = clustered_battles(truth, instructions=300, judges=9, seed=500 + replication)
        for unit in ("instruction", "vote"):
            table = bootstrap_bradley_terry(log, rounds=60, seed=replication, unit=unit)
            for row in table.iter_rows(named=True):
                covered[unit] += row["ci_lower"] <= truth[row["expert"]] <= row["ci_upper"]
                widths[unit].append(row["ci_upper"] - row["ci_lower"])
        total += len(truth)
    # 9 identical votes per instruction: vote-level intervals are about 3x too narrow.
    assert np.mean(widths["instruction"]) / np.mean(widths["vote"]) > 2.5
    assert covered["instruction"] / total >= 0.85
    assert covered["vote"] / total <= 0.6


def test_elo_cluster_bootstrap_is_wider_on_clustered_votes() -> None:
    # A small K (FastChat's 4) so that sampling noise, not order noise, sets the width.
    log = clustered_battles({"a": 1100.0, "b": 1000.0, "c": 900.0}, 200, 6, seed=9)
    # 200 rounds: at 40 the width ratio's Monte Carlo noise spans 1.45-1.8 around ~1.65.
    by_instruction = bootstrap_online_elo(log, rounds=200, seed=1, k=4, unit="instruction")
    by_vote = bootstrap_online_elo(log, rounds=200, seed=1, k=4, unit="vote")
    width = lambda t: (t["ci_upper"] - t["ci_lower"]).mean()  # noqa: E731
    assert width(by_instruction) > 1.5 * width(by_vote)
    # Without an instruction_id each vote is its own cluster: the two units agree.
    plain = log.drop("instruction_id")
    assert bootstrap_online_elo(plain, rounds=10, seed=2).equals(
        bootstrap_online_elo(plain, rounds=10, seed=2, unit="vote")
    )
    with pytest.raises(InputError, match="unit"):
        bootstrap_online_elo(plain, unit="judge")  # type: ignore[arg-type]


# ---------------------------------------------------------------- records, anchor


def test_undefeated_and_winless_are_flagged_with_open_intervals() -> None:
    log = battles(
        [("a", "b", "model_a"), ("a", "c", "model_a"), ("b", "c", "model_a"), ("c", "b", "tie")] * 4
    )
    table = leaderboard(log, method="both", bootstrap_rounds=20, seed=0)
    record = dict(zip(table["expert"], table["record"], strict=False))
    assert record == {"a": "undefeated", "b": None, "c": None}
    a_rows = table.filter(pl.col("expert") == "a")
    assert a_rows["ci_upper"].to_list() == [math.inf, math.inf]
    assert a_rows["ci_lower"].is_finite().all()
    winless = leaderboard(battles([("a", "b", "model_a"), ("c", "b", "model_a")] * 3), method="bt")
    b = winless.filter(pl.col("expert") == "b").row(0, named=True)
    assert (b["record"], b["ci_lower"]) == ("winless", -math.inf)
    messages = record_warnings(table)
    assert len(messages) == 1 and "'a' is undefeated" in messages[0] and "8" in messages[0]


def test_anchor_applies_to_elo_and_bt() -> None:
    log = synthetic_battles({"a": 1100, "b": 1000, "c": 900}, 300, seed=8)
    table = leaderboard(log, method="both", bootstrap_rounds=10, anchor="b", initial=1500)
    b = table.filter(pl.col("expert") == "b")
    assert b["rating"].to_list() == pytest.approx([1500, 1500])
    assert b.filter(pl.col("method") == "elo")["rating_online"].to_list() == pytest.approx([1500])
    with pytest.raises(InputError, match="anchor"):
        leaderboard(log, method="elo", anchor="nobody")


# ---------------------------------------------------------------- hardening (#29)


def round_robin(groups: dict[str, list[str]], rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """`rows` plus, for every pair inside each group, one win each way (a strongly connected core)."""
    out = list(rows)
    for members in groups.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                out += [(a, b, "model_a"), (a, b, "model_b")]
    return battles(out)


def test_a_group_that_never_loses_is_flagged_with_open_intervals() -> None:
    # x and y split their games and win all 60 against the core (c1, c2, c3), as in #29.
    wins = [(t, c, "model_a") for t in ("x", "y") for c in ("c1", "c2", "c3") for _ in range(10)]
    losses = [("c1", "w", "model_a"), ("c2", "w", "model_a"), ("w", "c3", "model_b")] * 3
    log = round_robin({"top": ["x", "y"], "core": ["c1", "c2", "c3"]}, wins + losses)
    table = leaderboard(log, method="both", bootstrap_rounds=20, seed=0)
    record = dict(zip(table["expert"], table["record"], strict=False))
    assert record == {
        "x": "undefeated-group",
        "y": "undefeated-group",
        "c1": None,
        "c2": None,
        "c3": None,
        "w": "winless",
    }
    top = table.filter(pl.col("expert").is_in(["x", "y"]))
    assert top["ci_upper"].to_list() == [math.inf] * 4
    assert table.filter(pl.col("expert") == "w")["ci_lower"].to_list() == [-math.inf] * 2
    messages = " ".join(record_warnings(table))
    assert "['x', 'y'] are undefeated-group" in messages and "Zermelo" in messages
    # A group below the core gets the mirror flag.
    below = round_robin(
        {"core": ["c1", "c2", "c3"], "low": ["u", "v"]},
        [(c, t, "model_a") for t in ("u", "v") for c in ("c1", "c2", "c3")],
    )
    flags = leaderboard(below, bootstrap_rounds=0)
    assert set(flags.filter(pl.col("record") == "winless-group")["expert"]) == {"u", "v"}


def test_groups_that_never_met_are_named_and_refused_unless_allowed() -> None:
    log = round_robin({"one": ["a", "b"], "two": ["c", "d", "e"]}, [])
    with pytest.raises(InputError, match=r"2 groups .* \{c, d, e\} and \{a, b\}"):
        leaderboard(log, bootstrap_rounds=0)
    table = leaderboard(log, bootstrap_rounds=0, allow_disconnected=True)
    assert set(table["expert"]) == {"a", "b", "c", "d", "e"}


def test_zero_or_overflowing_total_weight_is_an_error() -> None:
    zero = weighted([("x", "y", "model_a", 0.0), ("y", "x", "tie", 0.0)])
    for rate in (lambda f: leaderboard(f, bootstrap_rounds=0), fit_bradley_terry, online_elo):
        with pytest.raises(InputError, match="total weight is 0"):
            rate(zero)
    huge = weighted([("x", "y", "model_a", 1e308), ("y", "x", "model_a", 1e308)])
    with pytest.raises(InputError, match="total weight is not finite"):
        leaderboard(huge, bootstrap_rounds=0)


def test_null_optional_values_take_their_default() -> None:
    log = pl.DataFrame(
        {
            "model_a": ["x", "y", "x"],
            "model_b": ["y", "x", "y"],
            "winner": ["model_a", "model_a", "tie"],
            "weight": [None, 2.0, None],
            "instruction_id": ["i1", None, None],
        }
    )
    explicit = log.with_columns(pl.col("weight").fill_null(1.0))
    assert fit_bradley_terry(log) == pytest.approx(fit_bradley_terry(explicit))
    assert bootstrap_bradley_terry(log, rounds=5).equals(
        bootstrap_bradley_terry(explicit, rounds=5)
    )


def test_expert_names_must_be_strings() -> None:
    numbers = pl.DataFrame(
        {"model_a": [1.0, float("nan")], "model_b": [2.0, 3.0], "winner": ["tie", "tie"]}
    )
    with pytest.raises(InputError, match=r"model_a must hold expert names .*row 1: 1.0"):
        leaderboard(numbers, bootstrap_rounds=0)


def test_rank_ci_counts_experts_surely_better_and_ci_sets_the_level() -> None:
    truth = {"m1": 1300.0, "m2": 1000.0, "m3": 990.0, "m4": 700.0}
    log = synthetic_battles(truth, 3000, seed=21)
    table = leaderboard(log, method="bt", bootstrap_rounds=60, seed=1)
    rank = dict(zip(table["expert"], table["rank_ci"], strict=True))
    assert rank == {"m1": 1, "m2": 2, "m3": 2, "m4": 4}
    narrow = leaderboard(log, method="bt", bootstrap_rounds=60, seed=1, ci=0.5)
    width = lambda t: (t["ci_upper"] - t["ci_lower"]).mean()  # noqa: E731
    assert width(narrow) < 0.6 * width(table)
    assert leaderboard(log, bootstrap_rounds=0)["rank_ci"].is_null().all()
    with pytest.raises(InputError, match="ci must be in"):
        leaderboard(log, ci=1.5)


def test_counts_are_integers_and_weighted_totals_have_their_own_column() -> None:
    log = weighted([("a", "b", "model_a", 0.5)] * 4 + [("b", "a", "tie", 2.0)])
    row = leaderboard(log, bootstrap_rounds=0).filter(pl.col("expert") == "a").row(0, named=True)
    assert (row["games"], row["wins"], row["losses"], row["ties"]) == (5, 4, 0, 1)
    assert row["weighted_games"] == 4.0 and row["win_rate"] == pytest.approx(3 / 4)
    assert leaderboard(log, bootstrap_rounds=0).schema["games"] == pl.Int64


def test_compiled_and_numpy_elo_bootstraps_agree() -> None:
    from gpu_ops.arena import elo_replay, ratings

    if elo_replay.compiled_loop() is None:
        pytest.skip("numba is not installed")
    log = clustered_battles({"a": 1100.0, "b": 1000.0, "c": 900.0}, 80, 3, seed=2)
    votes = ratings._encode(ratings.validate_battles(log))
    runs = [
        ratings._elo_rounds(
            votes,
            range(7),
            5,
            k=40,
            initial=1000,
            alpha=math.log(10) / 400,
            compiled=compiled,
        )
        for compiled in (True, False)
    ]
    assert runs[0] == pytest.approx(runs[1], abs=1e-9)


def test_newton_and_lbfgs_fits_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_ops.arena import ratings

    log = synthetic_battles({"a": 1200, "b": 1050, "c": 1000, "d": 800}, 500, seed=12)
    newton = fit_bradley_terry(log)
    monkeypatch.setattr(ratings, "_NEWTON_MAX_EXPERTS", 0)
    assert fit_bradley_terry(log) == pytest.approx(newton, abs=1e-4)


def test_each_elo_round_is_computed_alone_from_its_own_stream() -> None:
    """Any subset of rounds, in any order, gives those rounds of the whole run exactly (what
    lets the rounds be split across Ray tasks: tests/cluster/test_ray_cluster.py)."""
    from gpu_ops.arena import ratings

    log = clustered_battles({"a": 1100.0, "b": 1000.0, "c": 900.0}, 80, 3, seed=2)
    votes = ratings._encode(ratings.validate_battles(log))
    settings = {"k": 40, "initial": 1000, "alpha": math.log(10) / 400}
    for compiled in {True, False} if ratings.elo_replay.compiled_loop() else {False}:
        whole = ratings._elo_rounds(votes, range(6), 9, compiled=compiled, **settings)
        parts = ratings._elo_rounds(votes, [4, 1], 9, compiled=compiled, **settings)
        assert np.array_equal(parts, whole[[4, 1]])
        assert not np.array_equal(whole[0], whole[1])  # the rounds do differ
