"""The battle scheduler (gpu_ops.arena.scheduling): which battles each judge votes on.

Why: `battles.schedule: adaptive` must spend judge calls only where an instruction's winner is
open, be deterministic (re-runs are call-cache hits), keep what was judged, give a newcomer only
the battles its arrival makes useful, and leave `full` (the paper) exactly as it is.
"""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from gpu_ops.arena.scheduling import (
    BATTLE_JUDGE_COLUMNS,
    BATTLE_KEY,
    VOTE_COLUMNS,
    RaceSettings,
    battle_estimates,
    competitors_of,
    execution_votes,
    full_judge_counts,
    llm_votes,
    mart_weights,
    plan_judge,
    remaining_judges,
    schedule_counts,
)
from gpu_ops.errors import InputError
from wc_foundation.config import ConfigError, parse_config

EXPERTS = ["a", "b", "c", "d"]


def battles(experts: list[str], instructions: list[str]) -> dict[str, pl.DataFrame]:
    """What `full` gives each judge: every battle of every instruction it is not part of."""
    pairs = list(itertools.combinations(sorted(experts), 2))
    out = {}
    for judge in experts:
        rows = [(i, a, b) for i in instructions for a, b in pairs if judge not in (a, b)]
        out[judge] = pl.DataFrame(rows, schema=BATTLE_KEY, orient="row")
    return out


def votes_for(rows: list[tuple[str, str, str, str, str]], orders: int = 2) -> pl.DataFrame:
    """(instruction, a, b, judge, winner) -> one vote per presentation order."""
    return pl.DataFrame(
        [(*r, 1.0) for r in rows for _ in range(orders)], schema=VOTE_COLUMNS, orient="row"
    )


def lopsided_votes(
    instruction: str, experts: list[str], judge: str, reverse: bool = False
) -> list[tuple]:
    """`judge`'s verdicts where the alphabetically first expert beats everyone (a > b > c ...),
    or the last one (`reverse`)."""
    return [
        (instruction, a, b, judge, "model_b" if reverse else "model_a")
        for a, b in itertools.combinations(sorted(experts), 2)
        if judge not in (a, b)
    ]


def test_the_first_judge_covers_every_battle_it_may_judge():
    full = battles(EXPERTS, ["i1", "i2"])
    plan = plan_judge(
        "a",
        EXPERTS,
        full,
        pl.DataFrame(schema=VOTE_COLUMNS),
        competitors_of(full.values()),
        RaceSettings(),
    )
    assert plan.sort(BATTLE_KEY).equals(full["a"].sort(BATTLE_KEY))


def test_a_settled_instruction_gets_no_more_judges_and_a_contested_one_does():
    experts = ["a", "b", "c", "d", "e", "f"]
    clear = ["clear1", "clear2", "clear3", "clear4"]  # a > b > ... twice, f > e > ... twice
    full = battles(experts, [*clear, "close"])
    earlier = []
    for judge in ("a", "b", "c", "d"):  # four judges before "e": clear is unanimous, close split
        earlier += [
            vote
            for k, i in enumerate(clear)
            for vote in lopsided_votes(i, experts, judge, reverse=k % 2 == 1)
            for _ in range(2)  # both orders
        ]
        close = full[judge].filter(pl.col("instruction_id") == "close").iter_rows()
        earlier += [(i, x, y, judge, w) for i, x, y in close for w in ("model_a", "model_b")]
    plan = plan_judge(
        "e",
        experts,
        full,
        votes_for(earlier, orders=1),  # on close every judge flips with the order
        competitors_of(full.values()),
        RaceSettings(alpha=0.3, z=1.0),
    )
    assert set(plan["instruction_id"].to_list()) == {"close"}
    # LUCB: only battles of the leader and of its challengers (2), so three experts touch them all
    everyone = full["e"].filter(pl.col("instruction_id") == "close")
    assert 0 < plan.height < everyone.height
    assert any(
        all({a, b} & set(racing) for _, a, b in plan.iter_rows())
        for racing in itertools.combinations(experts, RaceSettings().challengers + 1)
    )


def test_the_plan_is_deterministic_and_ignores_row_order():
    experts = ["a", "b", "c", "d", "e"]
    full = battles(experts, ["i1", "i2", "i3"])
    earlier = votes_for(
        [
            (i, x, y, "a", w)
            for (i, x, y), w in zip(
                full["a"].iter_rows(), itertools.cycle(["model_a", "model_b", "tie"])
            )
        ]
        + [
            (i, x, y, "b", "model_b")
            for i, x, y in full["b"].filter(pl.col("model_a") == "a").iter_rows()
        ]
    )
    competitors = competitors_of(full.values())
    first = plan_judge("c", experts, full, earlier, competitors, RaceSettings())
    again = plan_judge("c", experts, full, earlier, competitors, RaceSettings())
    shuffled = plan_judge(
        "c",
        experts,
        {j: f.sample(fraction=1.0, shuffle=True, seed=3) for j, f in full.items()},
        earlier.sample(fraction=1.0, shuffle=True, seed=4),
        competitors,
        RaceSettings(),
    )
    assert first.equals(again)
    assert first.sort(BATTLE_KEY).equals(shuffled.sort(BATTLE_KEY))


def test_later_judges_votes_do_not_change_an_earlier_judges_plan():
    """A re-run reads every judge's file; judge "c" must plan as it did the first time."""
    experts = ["a", "b", "c", "d", "e"]
    full = battles(experts, ["i1", "i2"])
    earlier = votes_for(lopsided_votes("i1", experts, "a") + lopsided_votes("i2", experts, "a"))
    later = votes_for(lopsided_votes("i1", experts, "e") + lopsided_votes("i2", experts, "d"))
    competitors = competitors_of(full.values())
    plan = plan_judge("c", experts, full, earlier, competitors, RaceSettings())
    rerun = plan_judge("c", experts, full, pl.concat([earlier, later]), competitors, RaceSettings())
    assert plan.equals(rerun)


def test_battles_judged_in_an_earlier_run_are_kept():
    experts = ["a", "b", "c", "d", "e"]
    full = battles(experts, ["i1"])
    earlier = votes_for(lopsided_votes("i1", experts, "a") + lopsided_votes("i1", experts, "b"))
    competitors = competitors_of(full.values())
    plan = plan_judge("c", experts, full, earlier, competitors, RaceSettings())
    mine = full["c"].filter(
        ~pl.struct(BATTLE_KEY).is_in(plan.select(pl.struct(BATTLE_KEY)).to_series().implode())
    )
    assert mine.height  # something this judge would skip now
    kept = plan_judge("c", experts, full, earlier, competitors, RaceSettings(), already_judged=mine)
    assert kept.height == plan.height + mine.height


def test_a_newcomer_schedules_its_own_battles_and_only_useful_old_ones():
    """The old arena was judged in full and is unanimous (a > b > c > d > e); the newcomer z
    loses every battle. Judges run in order: each new call is a battle of z's."""
    old, instructions = ["a", "b", "c", "d", "e"], ["i1", "i2", "i3", "i4"]
    before = battles(old, instructions)
    judged = {j: before[j] for j in old}
    votes = [v for j in old for i in instructions for v in lopsided_votes(i, old, j)]
    order = [*old, "z"]
    now = battles(order, instructions)
    competitors = competitors_of(now.values())
    new_calls = []
    for judge in order:
        plan = plan_judge(
            judge, order, now, votes_for(votes), competitors, RaceSettings(), judged.get(judge)
        )
        fresh = plan.join(judged[judge], on=BATTLE_KEY, how="anti") if judge in judged else plan
        new_calls.append(fresh)
        votes += [(i, a, b, judge, "model_a") for i, a, b in fresh.iter_rows()]  # z loses
    new = pl.concat(new_calls)
    assert new.height and new.filter(pl.col("model_b") != "z").is_empty()
    # every battle of z's got at least its coverage vote
    assert new.select(BATTLE_KEY).unique().height == len(instructions) * len(old)


def test_both_orders_are_counted_in_the_calls():
    both = schedule_counts("j", "adaptive", battles_full=10, battles_judged=4, orders=2)
    one = schedule_counts("j", "full", battles_full=10, battles_judged=10, orders=1)
    assert both.row(0, named=True) | {} == {
        "judge": "j",
        "schedule": "adaptive",
        "battles_full": 10,
        "battles_judged": 4,
        "calls_full": 20,
        "calls_spent": 8,
    }
    assert one["calls_spent"].item() == one["calls_full"].item() == 10


def test_judgments_become_votes_in_both_orders():
    judgments = pl.DataFrame(
        {
            "instruction_id": ["i", "i", "i", "i"],
            "judge": ["c"] * 4,
            "model_a": ["a"] * 4,
            "model_b": ["b"] * 4,
            "shown_first": ["a", "b", "a", "b"],
            "shown_second": ["b", "a", "b", "a"],
            "verdict": ["first", "first", "tie", "invalid"],
        }
    )
    assert llm_votes(judgments)["winner"].to_list() == ["model_a", "model_b", "tie", "invalid"]


def test_execution_votes_follow_the_scores():
    results = pl.DataFrame(
        {
            "instruction_id": ["i", "i", "i"],
            "expert": ["a", "b", "c"],
            "exec_score": [1.0, 0.5, 1.0],
        }
    )
    votes = execution_votes(results, 2.0).sort("model_a", "model_b")
    assert votes.select("model_a", "model_b", "winner", "weight").rows() == [
        ("a", "b", "model_a", 2.0),
        ("a", "c", "tie", 2.0),
        ("b", "c", "model_b", 2.0),
    ]
    assert execution_votes(results, 0.0).is_empty()


def test_estimates_shrink_to_certainty_when_no_judge_is_left():
    votes = votes_for([("i", "a", "b", "j1", "model_a"), ("i", "a", "b", "j2", "model_b")])
    none_left = pl.DataFrame(
        {"instruction_id": ["i"], "model_a": ["a"], "model_b": ["b"], "remaining": [0]}
    )
    many_left = none_left.with_columns(remaining=pl.lit(6))
    done = battle_estimates(votes, none_left, RaceSettings()).row(0, named=True)
    open_ = battle_estimates(votes, many_left, RaceSettings()).row(0, named=True)
    assert done["x_var"] == 0.0 and done["x_full"] == pytest.approx(0.5)
    assert open_["x_var"] > 0.0


def test_remaining_judges_count_the_judge_and_the_later_ones():
    full = battles(EXPERTS, ["i"])
    left = remaining_judges(full, EXPERTS, "c")
    by_pair = {(a, b): (n, total) for _, a, b, n, total in left.iter_rows()}
    assert by_pair[("a", "b")] == (2, 2)  # c and d, of c and d
    assert by_pair[("a", "c")] == (1, 2)  # d, of b and d
    assert by_pair[("c", "d")] == (0, 2)  # a and b have had their turn
    with pytest.raises(InputError, match="not in the judging order"):
        remaining_judges(full, EXPERTS, "zz")


def test_battle_judges_rows_weigh_a_battle_to_full_mass():
    full = battles(EXPERTS, ["i"])
    chosen = full["c"].filter(pl.col("model_a") == "a")
    rows = full_judge_counts(full, chosen, "c")
    assert rows.columns == list(BATTLE_JUDGE_COLUMNS)
    assert rows.select("model_a", "model_b", "judge", "judges_full").rows() == [
        ("a", "b", "c", 2),
        ("a", "d", "c", 2),
    ]
    assert full_judge_counts(full, chosen.clear(), "c").is_empty()


def test_the_race_reads_the_votes_as_the_mart_weighs_them():
    """One of two judges voted a > b; execution says b. Stopped now, battle_votes weighs the
    LLM votes 2 (judges_full / asked), so the local score is (2 * 2) / (2 * 2 + 1)."""
    votes = pl.concat(
        [
            votes_for([("i", "a", "b", "j1", "model_a")]),
            pl.DataFrame(
                [("i", "a", "b", "execution", "model_b", 1.0)], schema=VOTE_COLUMNS, orient="row"
            ),
        ]
    )
    left = pl.DataFrame(
        {"instruction_id": ["i"], "model_a": ["a"], "model_b": ["b"], "remaining": [1]}
    )
    weighed = battle_estimates(votes, left.with_columns(judges_full=pl.lit(2)), RaceSettings())
    plain = battle_estimates(votes, left, RaceSettings())
    assert weighed["x_seen"].item() == pytest.approx(4 / 5)
    assert plain["x_seen"].item() == pytest.approx(2 / 3)


def test_the_config_knows_full_and_adaptive_and_names_a_bad_value():
    experts = [{"slug": "a", "model": "x"}, {"slug": "b", "model": "y"}]
    assert parse_config({"experts": experts}).battles.schedule == "full"
    assert (
        parse_config({"experts": experts, "battles": {"schedule": "adaptive"}}).battles.schedule
        == "adaptive"
    )
    with pytest.raises(ConfigError, match=r"battles\.schedule.*'full' or 'adaptive'"):
        parse_config({"experts": experts, "battles": {"schedule": "sometimes"}})
    with pytest.raises(ConfigError, match=r"battles\.z"):
        parse_config({"experts": experts, "battles": {"z": 0}})


def test_the_seen_estimate_is_uncertain_by_the_judges_it_has_not_heard():
    """x_full is the mart's estimate of a seen battle; its variance against full's local score
    shrinks as more of the battle's judges have voted (sampling without replacement) and is 0
    once all have, whether or not judges remain in the order."""
    pairs = [("model_a", "model_b")] * 4
    rows = [("i", "a", "b", f"j{k}", pairs[k % 4][k % 2]) for k in range(4)]
    left = pl.DataFrame(
        {"instruction_id": ["i"], "model_a": ["a"], "model_b": ["b"], "remaining": [2]}
    )

    def estimate(judges: int, judges_full: int) -> dict:
        votes = votes_for(rows[:judges])
        frame = left.with_columns(judges_full=pl.lit(judges_full))
        return battle_estimates(votes, frame, RaceSettings()).row(0, named=True)

    one, three, all_of_them = estimate(1, 8), estimate(3, 8), estimate(4, 4)
    assert one["x_full"] == pytest.approx(one["x_seen"])
    assert one["x_var"] > three["x_var"] > 0.0
    assert all_of_them["x_var"] == 0.0  # every judge full asks has voted: nothing to learn


def test_a_battle_no_judge_has_seen_starts_from_the_ratings():
    """Before its coverage judge votes, a battle is expected to go as the ratings say (here
    a far above b), not to be a coin flip."""
    seen = votes_for(
        [("i1", "a", "b", "j1", "model_a"), ("i1", "a", "c", "j1", "model_a")], orders=2
    )
    left = pl.DataFrame(
        {
            "instruction_id": ["i1", "i1", "i2"],
            "model_a": ["a", "a", "a"],
            "model_b": ["b", "c", "b"],
            "remaining": [1, 1, 2],
        }
    )
    ratings = {"a": 1400.0, "b": 1000.0, "c": 1000.0}
    unseen = battle_estimates(seen, left, RaceSettings(), ratings).filter(
        pl.col("instruction_id") == "i2"
    )
    plain = battle_estimates(seen, left, RaceSettings()).filter(pl.col("instruction_id") == "i2")
    assert unseen["x_full"].item() > 0.85 and unseen["x_seen"].item() == unseen["x_full"].item()
    assert plain["x_full"].item() == pytest.approx(0.5)


def test_the_race_rates_the_votes_as_the_mart_weighs_them():
    """A battle one of its two judges voted on weighs 2 per vote, as battle_votes weighs it;
    a battle both voted on weighs 1; execution votes keep their own weight."""
    votes = pl.concat(
        [
            votes_for([("i", "a", "b", "j1", "model_a"), ("i", "a", "c", "j1", "model_a")]),
            votes_for([("i", "a", "c", "j2", "model_b")]),
            pl.DataFrame(
                [("i", "a", "b", "execution", "tie", 0.5)], schema=VOTE_COLUMNS, orient="row"
            ),
        ]
    )
    full = pl.DataFrame(
        {
            "instruction_id": ["i", "i"],
            "model_a": ["a", "a"],
            "model_b": ["b", "c"],
            "remaining": [0, 0],
            "judges_full": [2, 2],
        }
    )
    weighed = mart_weights(votes, full)
    by = {(r["model_b"], r["judge"]): r["weight"] for r in weighed.iter_rows(named=True)}
    assert by[("b", "j1")] == 2.0 and by[("c", "j1")] == by[("c", "j2")] == 1.0
    assert by[("b", "execution")] == 0.5
    assert weighed.height == votes.height
