"""The demo arena end to end, and the ground-truth test of the arena's effect.

The demo experts are complementary by construction (wc_demo.experts): each writes one family
of the demo world well. A general model in no battle judges them by likelihood, never having
learned to judge or seen an execution label.
The run's report compares the target fine-tuned on the arena's winners with the target
fine-tuned on a single expert's or a random expert's answers, on held-out behaviours.
"""

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from dagster_wc.orchestration.runner import run_pipeline
from gpu_ops.evaluation.conditions import JUDGE_SHARES
from wc_demo.world import parse_instruction
from wc_foundation.storage import Home
from wc_foundation.warehouse import query

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def demo_config_for(models_dir: Path, out: Path) -> Path:
    """configs/demo.yaml with the experts read from the shared, cached models folder."""
    text = (REPO / "configs" / "demo.yaml").read_text()
    out.write_text(text.replace("${WC_HOME}/models/demo", str(models_dir / "demo")))
    return out


def llm_calls(home: Home) -> int:
    with sqlite3.connect(home.llm_cache) as connection:
        return connection.execute("select count(*) from calls").fetchone()[0]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, demo_models_dir):
    root = tmp_path_factory.mktemp("demo")
    config = demo_config_for(demo_models_dir, root / "demo.yaml")
    home = Home.resolve(root / "home")
    summary = run_pipeline(config, home)
    return config, home, summary


def test_every_stage_produced_rows(demo_run):
    _, home, summary = demo_run
    # the last build holds the evaluation models and runs the dbt tests across stages too
    assert summary.steps_run[-1].startswith("dbt:") and "evaluation" in summary.steps_run[-1]
    assert summary.steps_run[-1].endswith("+ tests across stages")
    counts = {
        table: query(home, f"select count(*) as n from {table}")["n"][0]
        for table in (
            "stg_instructions_mined",
            "instructions_clean",
            "instructions_dedup",
            "instructions_kept",
            "instructions_for_battle",
            "battle_votes",
            "battles",
            "leaderboard",
        )
    }
    assert all(n > 0 for n in counts.values()), counts
    assert counts["instructions_for_battle"] <= 400
    reasons = query(home, "select drop_reason, count(*) as n from instructions_screened group by 1")
    assert (
        reasons["drop_reason"].null_count() == 1
    )  # the kept rows; every other row names its reason


def test_both_orders_and_uninvolved_judges(demo_run):
    _, home, _ = demo_run
    judges = query(home, "select distinct judge from battle_votes where judge_kind = 'llm'")
    assert judges["judge"].to_list() == ["judge-general"]  # the experts compete, never judge
    self_judged = query(
        home, "select count(*) as n from battle_votes where judge in (model_a, model_b)"
    )
    assert self_judged["n"][0] == 0
    orders = query(
        home,
        """select count(*) as n from (
             select instruction_id, model_a, model_b, judge, count(distinct presentation_order) as orders
             from battle_votes where judge_kind = 'llm' group by all) where orders != 2""",
    )
    assert orders["n"][0] == 0


# The demo follows the paper (LLM judges decide, execution weight 0). Its judge is a general
# model that takes part in no battle and never learned to judge (issue 26): it judges by
# likelihood. Measured on the bundled build (docs/DEMO.md, section 4), one seed: arena 0.340
# against the best single expert's 0.227 and a random expert's 0.087; the judge agrees with
# execution on 0.93 of the battles execution decides. Asserted with margins below the spread
# over seeds: the arena beats the best single expert, and the judge has real skill.
ARENA_OVER_BEST_SINGLE = 0.03
JUDGE_RIGHT_ON_DECIDED = 0.8


def test_the_arena_beats_the_best_single_expert_with_an_independent_judge(demo_run):
    _, home, _ = demo_run
    report = json.loads((home.reports / "demo_effect.json").read_text())
    scores = report["pass_at_1"]
    assert report["n_tasks"] >= 50
    assert set(scores) == {"base", "best_single_expert", "random_expert", "arena"}
    assert scores["arena"] >= scores["best_single_expert"] + ARENA_OVER_BEST_SINGLE, report
    assert scores["arena"] > scores["random_expert"], report
    assert report["judges_trained_on_benchmark_families"] is False, report["judging_families"]
    assert report["judging_families"] == {"judge-general": []}
    assert report["judged_families"] == ["lists", "numbers", "text"]
    # per-task outcomes of the trained conditions, for paired intervals over tasks and seeds
    outcomes = report["task_outcomes"]
    assert set(outcomes) == {"arena", "best_single_expert", "random_expert"}
    for condition, rates in outcomes.items():
        assert len(rates) == report["n_tasks"]
        assert sum(rates.values()) / len(rates) == pytest.approx(scores[condition])
    # Every LLM judge is reported with its agreement, split by execution's verdict, next to the
    # no-skill floor, with its position bias and flip rate.
    judges = {row["judge"]: row for row in report["judges"]}
    assert set(judges) == {"judge-general"}
    (row,) = judges.values()
    for key in JUDGE_SHARES:
        assert 0.0 <= row[key] <= 1.0, row
    tie_share = row["no_skill_agreement"]  # the split adds up to the total
    assert row["agreement_with_execution"] == pytest.approx(
        tie_share * row["agreement_on_ties"] + (1 - tie_share) * row["agreement_on_decided"]
    )
    assert row["agreement_on_decided"] >= JUDGE_RIGHT_ON_DECIDED, row
    # a likelihood judge reads no order: both orders of a battle always agree
    assert row["flip_rate"] == 0.0 and row["first_pick_share"] == pytest.approx(0.5), row
    assert (home.reports / "demo_effect.png").stat().st_size > 1000


def test_no_battled_instruction_comes_from_the_judging_only_family(demo_run):
    _, home, _ = demo_run
    winners = pl.read_parquet(home.lake / "sft_winners" / "all.parquet")
    families = {parsed[0] for text in winners["instruction"] if (parsed := parse_instruction(text))}
    assert families and "words" not in families, families


def test_sft_dataset_and_evaluation(demo_run):
    _, home, _ = demo_run
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(home.sft / "sft_dataset.jsonl"), split="train")
    assert len(dataset) > 0 and [m["role"] for m in dataset[0]["messages"]][-1] == "assistant"
    summary = query(
        home, "select model_label, pass_at_1 from evaluation_summary order by model_label"
    )
    assert summary["model_label"].to_list() == ["base", "sft"]
    assert all(0.0 <= p <= 1.0 for p in summary["pass_at_1"])


def test_rerun_repeats_no_model_call(demo_run):
    config, home, _ = demo_run
    before = llm_calls(home)
    run_pipeline(config, home, stages=["mining", "scoring", "arena"])
    assert llm_calls(home) == before
