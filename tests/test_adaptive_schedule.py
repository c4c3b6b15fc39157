"""`battles.schedule: adaptive` through the pipeline: a fourth expert joins the small arena.

Why: the scheduler is tested as pure functions (tests/gpu_ops/test_scheduling.py); this checks
the judging stage wires it: the judges run in order and vote on what the race gives them, the
lake counts the calls against what `full` needs, and battle_votes weighs the adaptive votes to
full's mass.
"""

import shutil

import pytest

from dagster_wc.orchestration.runner import run_pipeline
from tests.small_arena import EXPERTS, UP_TO_SFT, arena_yaml
from wc_foundation.storage import Home, read_lake_table
from wc_foundation.warehouse import query

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
    spent = dict(zip(counts["judge"], counts["calls_spent"], strict=True))
    needed = dict(zip(counts["judge"], counts["calls_full"], strict=True))
    assert spent["text"] == needed["text"] > 0  # the first judge covers all it may judge
    votes = read_lake_table(home, "judgments")
    battles = votes.select("instruction_id", "model_a", "model_b").unique()
    # 4 experts: every battle has 2 eligible judges, and at least one voted on it
    assert battles.height == counts["battles_full"].sum() // 2
    # battle_votes weighs a battle asked of 1 of its 2 judges 2 per vote
    weighed = query(
        home,
        "select max(weight) as weight, count(distinct judge) as judges from battle_votes"
        " where judge_kind = 'llm' group by instruction_id, model_a, model_b",
    )
    assert set(weighed.unique().rows()) <= {(2.0, 1), (1.0, 2)}
    assert read_lake_table(home, "sft_winners").height > 0
