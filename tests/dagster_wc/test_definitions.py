"""The Dagster graph: definitions load, every stage is a group, lineage runs mining -> evaluation."""

from pathlib import Path

import dagster as dg
import pytest

from dagster_wc.definitions import build_definitions
from dagster_wc.defs.warehouse_dbt import dbt_vars, stage_of_model
from dagster_wc.runner import STAGE_NAMES, plan_steps
from warriorcoder.config import load_config

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "configs" / "paper.yaml"


@pytest.fixture(scope="module")
def definitions(tmp_path_factory) -> dg.Definitions:
    return build_definitions(PAPER, str(tmp_path_factory.mktemp("home")))


def test_definitions_load_with_every_stage_group(definitions):
    graph = definitions.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert set(STAGE_NAMES) <= groups
    allowed = {*STAGE_NAMES, "battles", "analytics"}
    assert groups <= allowed, f"unexpected groups {groups - allowed}"
    definitions.resolve_implicit_global_asset_job_def()


def test_every_dbt_model_sits_in_a_pipeline_stage(definitions):
    graph = definitions.resolve_asset_graph()
    analytics = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name == "analytics"
    }
    assert analytics == {"stage_token_costs"}


def test_lineage_runs_from_mining_to_evaluation(definitions):
    graph = definitions.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey("evaluation")).parent_keys
    seen, frontier = set(), list(upstream)
    while frontier:
        key = frontier.pop()
        if key not in seen:
            seen.add(key)
            frontier.extend(graph.get(key).parent_keys)
    for stage_asset in (
        "instructions_mined",
        "instructions_clean",
        "instruction_minhash",
        "dedup_groups",
        "instruction_scores",
        "instructions_kept",
        "instruction_embeddings",
        "instructions_selected",
        "responses",
        "judgments",
        "execution_results",
        "battle_votes",
        "rating_pair_counts",
        "expert_ratings",
        "sft_winners",
        "sft_dataset",
        "target_model_sft",
    ):
        assert dg.AssetKey(stage_asset) in seen, stage_asset


def test_partitioned_stages_use_the_expert_partitions(definitions):
    graph = definitions.resolve_asset_graph()
    for name in (
        "instructions_mined",
        "instruction_scores",
        "responses",
        "judgments",
        "execution_results",
    ):
        assert graph.get(dg.AssetKey(name)).partitions_def.name == "experts"
    assert graph.get(dg.AssetKey("instructions_selected")).partitions_def is None


def test_dbt_tests_become_asset_checks(definitions):
    graph = definitions.resolve_asset_graph()
    checks = {key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert {"battle_votes", "battles", "experts", "judgments", "sft_dataset"} <= checks


def test_stage_of_model_prefixes():
    assert stage_of_model("stg_instructions_mined") == "mining"
    assert stage_of_model("dedup_groups") == "dedup"
    assert stage_of_model("int_instruction_generations") == "dedup"
    assert stage_of_model("rating_pair_counts") == "battles"
    assert stage_of_model("leaderboard") == "ratings"


def test_dbt_vars_carry_the_config_thresholds(tmp_path):
    config = load_config(PAPER, home=tmp_path)
    variables = dbt_vars(config)
    assert '"dedup_threshold": 0.5' in variables and '"min_difficulty": 6' in variables


def test_plan_runs_each_partitioned_stage_per_expert(tmp_path, definitions):
    config = load_config(PAPER, home=tmp_path)
    steps = plan_steps(config, stages=["mining", "arena"])
    labels = [s.label for s in steps]
    assert labels[:5] == [f"instructions_mined[{e.slug}]" for e in config.experts]
    assert any(label.startswith("dbt: mining") for label in labels)
    judged = [s.partition_key for s in steps if s.label.startswith("judgments")]
    assert judged == [e.slug for e in config.experts]
    with pytest.raises(ValueError, match="unknown stage"):
        plan_steps(config, stages=["minning"])
