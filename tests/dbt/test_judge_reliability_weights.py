"""`judging.aggregate` end to end on the fixture lake: the judge_reliability asset writes each
judge's weight, and battle_votes carries it into what the ratings (rating_pair_counts,
elo_battle_sequence) and the winners (winner_inputs) read; `vote` gives back today's numbers.

The fixture's judges (tests/fixtures/lake_fixture.py): alpha, beta and gamma name the stronger
model (model_a) in both orders; kappa always names the response shown first, so it agrees with
the others on one order and not the other, and its votes should weigh almost nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from dagster_wc.defs.arena import judge_reliability
from dagster_wc.resources import ArenaResource
from tests.dbt.dbt_runner import run_dbt
from tests.fixtures import lake_fixture as lake
from wc_foundation.storage import Home, read_lake_table

READS = ["battle_votes", "rating_pair_counts", "elo_battle_sequence", "winner_inputs"]


def query(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).pl()


def arena(tmp_path: Path, home: Path, aggregate: str, experts=lake.ALL_EXPERTS) -> ArenaResource:
    config = tmp_path / f"arena-{aggregate}-{len(experts)}.yaml"
    lines = [
        f"  - {{slug: {e}, model: /models/{e}, enabled: {str(e != lake.DISABLED_EXPERT).lower()}}}"
        for e in experts
    ]
    config.write_text("experts:\n" + "\n".join(lines) + f"\njudging: {{aggregate: {aggregate}}}\n")
    return ArenaResource(config_path=str(config), home_dir=str(home))


def materialize(resource: ArenaResource) -> dg.MaterializeResult:
    return judge_reliability(dg.build_asset_context(resources={"arena": resource}))


def test_the_asset_weighs_judges_only_under_reliability(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lake.write_lake(home)
    vote = materialize(arena(tmp_path, home, "vote"))
    table = read_lake_table(Home(home), "judge_reliability")
    assert table["judge"].to_list() == list(lake.ENABLED_EXPERTS)  # omega is disabled
    assert table["weight"].to_list() == [1.0] * 4 and table["estimated"].all()
    assert vote.metadata["judges_estimated"] == 4

    materialize(arena(tmp_path, home, "reliability"))
    weights = dict(
        read_lake_table(Home(home), "judge_reliability").select("judge", "weight").rows()
    )
    assert weights["kappa"] < 0.1 * max(weights.values())
    assert min(weights["alpha"], weights["beta"], weights["gamma"]) > 1.0


def test_three_experts_cannot_be_estimated_and_say_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lake.write_lake(home)
    result = materialize(arena(tmp_path, home, "reliability", ("alpha", "beta", "gamma")))
    table = read_lake_table(Home(home), "judge_reliability")
    assert table["weight"].to_list() == [1.0, 1.0, 1.0] and not table["estimated"].any()
    assert result.metadata["judges_at_prior_weight"] == ["alpha", "beta", "gamma"]
    assert "shares no battle with another judge" in table["note"][0]


@pytest.mark.slow
def test_reliability_weights_reach_the_ratings_and_winners_and_vote_restores_them(
    fixture_warehouse: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(fixture_warehouse.parent, home)
    warehouse = home / "warehouse.duckdb"
    before = {model: query(warehouse, f"select * from {model} order by all") for model in READS}

    def rebuild(aggregate: str) -> None:
        materialize(arena(tmp_path, home, aggregate))
        run_dbt(  # incremental: battle_votes re-reads the votes of judges whose weight changed
            ["run", "--select", "stg_judge_reliability", "stg_judgments", *READS, "battles"],
            wc_home=home,
            warehouse=warehouse,
            work_dir=tmp_path,
        )

    rebuild("reliability")
    weights = dict(
        read_lake_table(Home(home), "judge_reliability").select("judge", "weight").rows()
    )
    votes = query(
        warehouse,
        "select judge, min(weight) as low, max(weight) as high, min(judge_weight) as judge_weight"
        " from battle_votes group by judge order by judge",
    )
    for judge, low, high, judge_weight in votes.rows():
        if judge == "execution":  # keeps its configured weight
            assert low == high == before["battle_votes"].filter(judge="execution")["weight"][0]
            assert judge_weight is None
        else:
            assert low == high == judge_weight == pytest.approx(weights[judge])
    counts = query(warehouse, "select * from rating_pair_counts order by all")
    assert not counts.equals(before["rating_pair_counts"])
    # kappa's first-position votes no longer pull its battles toward 0.5: the stronger model's
    # local score rises where kappa judged, and stays where it did not
    local = query(warehouse, "select * from winner_inputs order by all").join(
        before["winner_inputs"], on=["instruction_id", "model_a", "model_b"], suffix="_vote"
    )
    judged_by_kappa = ~pl.lit("kappa").is_in(pl.concat_list("model_a", "model_b"))
    raised = local.filter(judged_by_kappa & (pl.col("local_score_a_vote") < 1.0))
    assert raised.height and (raised["local_score_a"] > raised["local_score_a_vote"]).all()
    kept = local.filter(~judged_by_kappa)  # kappa's own battles: its judges agree
    assert kept.height == 3 * len(lake.SELECTED)
    assert (kept["local_score_a"] - kept["local_score_a_vote"]).abs().max() < 1e-12

    rebuild("vote")
    for model in READS:
        after = query(warehouse, f"select * from {model} order by all")
        assert after.equals(before[model]), model
