"""`battles.schedule: adaptive` through the pipeline: a fourth expert joins the small arena.

Why: the scheduler is tested as pure functions (tests/gpu_ops/test_scheduling.py); this checks
the judging stage wires it: the judges run in order and vote on what the race gives them, the
lake counts the calls against what `full` needs, battle_votes weighs the adaptive votes to full's
mass, and a re-run asks no judge anything new.
"""

import shutil

import dagster as dg
import polars as pl
import pytest

from dagster_wc.runner import run_pipeline
from tests.small_arena import EXPERTS, UP_TO_SFT, arena_yaml, calls_made
from warriorcoder.storage import Home, read_lake_table
from warriorcoder.warehouse import query

pytestmark = pytest.mark.slow


def test_a_newcomer_under_the_adaptive_schedule(tmp_path, demo_models_dir, small_arena_reference):
    _, reference = small_arena_reference
    shutil.copytree(reference.root, tmp_path / "home")  # the 3-expert arena, judged in full
    home = Home.resolve(tmp_path / "home")
    config = tmp_path / "arena.yaml"
    experts = [*EXPERTS, ("newcomer", "expert-numbers", True)]
    config.write_text(arena_yaml(demo_models_dir, experts) + "battles: {schedule: adaptive}\n")
    run_pipeline(config, home, stages=UP_TO_SFT)

    counts = read_lake_table(home, "judging_schedule")
    assert set(counts["schedule"]) == {"adaptive"}
    assert (counts["calls_spent"] <= counts["calls_full"]).all()
    assert counts["calls_spent"].sum() < counts["calls_full"].sum()  # the race saved calls
    votes = read_lake_table(home, "judgments")
    battles = votes.select("instruction_id", "model_a", "model_b").unique()
    assert battles.height == counts["battles_full"].sum() // 2  # every battle got a judge
    # the weights: a battle asked of 1 of its 2 judges weighs 2 per vote in battle_votes
    weights = query(
        home,
        "select weight, count(*) as n from battle_votes where judge_kind = 'llm' group by 1",
    )
    assert set(weights["weight"].to_list()) <= {1.0, 2.0}
    assert query(home, "select count(*) as n from sft_winners")["n"][0] > 0

    again = run_pipeline(config, home, stages=["arena"])
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    assert sum(calls_made(instance, "judgments", set(again.run_ids)).values()) == 0
    assert read_lake_table(home, "judgments").sort(pl.all()).equals(votes.sort(pl.all()))
