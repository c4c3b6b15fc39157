"""The demo arena end to end, and the ground-truth validity test.

The demo experts' quality order is known by construction (expert-strong > expert-mid >
expert-weak, see gpu_ops.demo.experts). An arena that measures something must recover it: the
Bradley-Terry ranking from the execution judge's votes matches the constructed order, and winner
selection picks the strong expert's response more often than the weak one's.
"""

import sqlite3
from pathlib import Path

import polars as pl
import pytest

from dagster_wc.runner import run_pipeline
from gpu_ops.arena.ratings import leaderboard
from gpu_ops.demo.experts import DEMO_EXPERTS
from warriorcoder.storage import Home
from warriorcoder.warehouse import query

REPO = Path(__file__).resolve().parents[1]
EXPECTED_ORDER = [e.slug for e in sorted(DEMO_EXPERTS, key=lambda e: e.expected_rank)]

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
    assert counts["instructions_for_battle"] <= 40
    reasons = query(home, "select drop_reason, count(*) as n from instructions_screened group by 1")
    assert (
        reasons["drop_reason"].null_count() == 1
    )  # the kept rows; every other row names its reason


def test_both_orders_and_uninvolved_judges(demo_run):
    _, home, _ = demo_run
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


def test_ground_truth_order_is_recovered_by_the_execution_judge(demo_run):
    _, home, _ = demo_run
    votes = query(
        home,
        "select model_a, model_b, winner from battle_votes where judge = 'execution' and winner != 'invalid'",
    )
    assert len(votes) >= 60
    board = leaderboard(votes, method="bt", bootstrap_rounds=50, seed=0)
    assert board["expert"].to_list() == EXPECTED_ORDER, board


def test_winner_selection_prefers_the_stronger_expert(demo_run):
    _, home, _ = demo_run
    winners = pl.read_parquet(home.lake / "sft_winners" / "all.parquet")
    wins = winners["winner"].value_counts()
    count = dict(zip(wins["winner"], wins["count"], strict=True))
    assert count.get("expert-strong", 0) > count.get("expert-weak", 0)


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
