"""The Dagster graph, checked without running it: a snapshot of every asset spec, the stage
groups (from the defs modules and the dbt folders), and the plan the graph implies.

The snapshot (asset_specs.json beside this file) holds each asset's group, parents, partitioning,
partition role and kinds. A change to the graph must change the snapshot in the same commit:
`WC_UPDATE_SNAPSHOTS=1 pytest tests/dagster_wc/test_definitions.py` rewrites it, and the diff
shows what moved.
"""

import ast
import json
import os
from pathlib import Path

import dagster as dg
import pytest

from dagster_wc.dbt.assets import (
    DBT_PROJECT_DIR,
    build_warehouse_dbt_assets,
    dbt_vars,
    manifest_check_parents,
    manifest_previews,
)
from dagster_wc.definitions import build_definitions, stage_modules
from dagster_wc.orchestration.partitions import PARTITION_ROLE_TAG
from dagster_wc.orchestration.plan import pipeline_shape, plan_steps
from dagster_wc.orchestration.versions import step_versions
from wc_foundation.config import load_config

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "configs" / "paper.yaml"
DEMO = REPO / "configs" / "demo.yaml"
SNAPSHOT = Path(__file__).with_name("asset_specs.json")


@pytest.fixture(scope="module")
def definitions(tmp_path_factory) -> dg.Definitions:
    return build_definitions(PAPER, str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def shape(definitions):
    return pipeline_shape(
        definitions.resolve_asset_graph(),
        build_warehouse_dbt_assets().keys,
        manifest_check_parents(),
    )


def asset_specs(definitions: dg.Definitions) -> dict[str, dict]:
    graph = definitions.resolve_asset_graph()
    specs = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if not node.is_materializable:
            continue
        specs[key.to_user_string()] = {
            "group": node.group_name,
            "parents": sorted(p.to_user_string() for p in node.parent_keys),
            "partitions": node.partitions_def.name if node.partitions_def else None,
            "partition_role": node.tags.get(PARTITION_ROLE_TAG),
            "kinds": sorted(node.kinds),
        }
    return specs


def test_asset_specs_match_the_snapshot(definitions):
    specs = asset_specs(definitions)
    if os.environ.get("WC_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(specs, indent=1, sort_keys=True) + "\n")
    assert specs == json.loads(SNAPSHOT.read_text())


def test_groups_are_the_stage_modules_and_dbt_folders(definitions):
    graph = definitions.resolve_asset_graph()
    groups = {
        graph.get(k).group_name
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_materializable
    }
    modules = {m.__name__.rsplit(".")[-1] for m in stage_modules()}
    folders = {p.name for p in (DBT_PROJECT_DIR / "models").iterdir() if p.is_dir()}
    assert groups == modules | folders
    for key in build_warehouse_dbt_assets().keys:
        model = key.path[-1]
        (source,) = [
            path
            for path in (DBT_PROJECT_DIR / "models").rglob(f"{model}.*")
            if path.suffix in (".sql", ".py")
        ]  # a SQL or a Python (dbt) model
        assert graph.get(key).group_name == source.parent.name, model


def test_lineage_runs_from_mining_to_evaluation(shape):
    upstream = {k.to_user_string() for k in shape.ancestors(dg.AssetKey("evaluation"))}
    assert {
        "instructions_mined",
        "instructions_clean",
        "instruction_survivors",
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
    } <= upstream


def test_dbt_tests_become_asset_checks(definitions):
    graph = definitions.resolve_asset_graph()
    checks = {key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert {"battle_votes", "battles", "experts", "judgments", "sft_dataset"} <= checks


def test_previews_are_meta_in_the_models_yml(definitions):
    previews = manifest_previews()
    assert set(previews) == {
        "instructions_screened",
        "instructions_dedup",
        "instruction_difficulty",
        "leaderboard",
        "pair_win_matrix",
    }
    assert previews["leaderboard"].startswith("select method, rank, expert, rating")


def test_each_stage_module_brings_its_own_checks(definitions):
    names = {
        key.name: key.asset_key.to_user_string()
        for key in definitions.resolve_asset_graph().asset_check_keys
    }
    assert names["judgments_have_both_orders"] == "judgments"
    assert names["judges_are_uninvolved"] == "judgments"
    assert names["ratings_inside_intervals"] == "expert_ratings"
    assert names["sft_dataset_is_well_formed"] == "sft_dataset"
    assert all(module.__name__.rsplit(".")[-1] != "checks" for module in stage_modules())


def test_dbt_vars_carry_the_config_thresholds(tmp_path):
    config = load_config(PAPER, home=tmp_path)
    variables = dbt_vars(config)
    assert '"min_instruction_chars": 16' in variables and '"min_score": 6' in variables
    assert "dedup" not in variables  # dedup groups are computed in Python, not in dbt


def test_plan_builds_dbt_just_before_the_python_step_that_reads_it(tmp_path, shape):
    config = load_config(DEMO, home=tmp_path)
    steps = plan_steps(shape, config)
    built: set = set()
    for step in steps:
        if step.kind == "dbt":
            built |= set(step.asset_keys)
            continue
        needed = {k for k in shape.ancestors(step.asset_keys[0]) if k in shape.dbt_keys}
        assert needed <= built, (step.label, needed - built)
    dbt_built = [k for s in steps if s.kind == "dbt" for k in s.asset_keys]
    assert sorted(dbt_built) == sorted(shape.dbt_keys) and len(set(dbt_built)) == len(dbt_built)
    # a dbt build only when a Python step needs one (taking all it can), plus one at the end
    dbt_indexes = [i for i, s in enumerate(steps) if s.kind == "dbt"]
    assert all(steps[i + 1].kind == "python" for i in dbt_indexes[:-1])
    assert dbt_indexes[-1] == len(steps) - 1 and len(dbt_indexes) <= 6
    # every dbt test runs somewhere: with its models' build, or with the last build
    last = steps[-1]
    assert last.label.endswith("+ tests across stages") and last.check_keys
    for check, parents in shape.check_parents.items():
        in_one_step = any(parents <= set(steps[i].asset_keys) for i in dbt_indexes)
        assert in_one_step or check in last.check_keys, check


def test_plan_runs_each_partitioned_stage_per_expert(tmp_path, shape):
    config = load_config(PAPER, home=tmp_path)
    steps = plan_steps(shape, config, stages=["mining", "arena"])
    labels = [s.label for s in steps]
    assert labels[:5] == [f"instructions_mined[{e.slug}]" for e in config.experts]
    assert any(label.startswith("dbt: mining") for label in labels)
    judged = [s.partition_key for s in steps if s.label.startswith("judgments")]
    assert judged == [e.slug for e in config.experts]
    with pytest.raises(ValueError, match="unknown stage"):
        plan_steps(shape, config, stages=["minning"])


def test_training_settings_leave_the_arena_as_it_is(tmp_path, shape):
    """Another SFT seed or learning rate retrains and re-evaluates the target; no battle is
    re-walked, since the arena's models are the experts and the judges, never the target."""
    config = load_config(DEMO, home=tmp_path)
    sft = config.target.sft.model_copy(update={"seed": 7, "learning_rate": 3e-5})
    edited = config.model_copy(update={"target": config.target.model_copy(update={"sft": sft})})
    before, after = step_versions(config, shape), step_versions(edited, shape)
    steps = plan_steps(shape, config)
    changed = {step.stage for step in steps if before.base(step) != after.base(step)}
    assert changed == {"training", "evaluation"}


def test_no_target_leaves_out_training_and_everything_after_it(tmp_path, shape):
    config = load_config(DEMO, home=tmp_path).model_copy(update={"target": None})
    labels = [s.label for s in plan_steps(shape, config)]
    assert "target_model_sft" not in labels and "evaluation" not in labels
    assert "sft_dataset" in labels  # the rest of the pipeline still runs


def warehouse_reads(module) -> dict[str, set[str]]:
    """Per asset of a stage module: the dbt models its function reads through `read_model`,
    directly or through the module's own helper functions; None for one that still runs SQL."""
    tree = ast.parse(Path(module.__file__).read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for name, function in functions.items():
        direct[name], calls[name] = set(), set()
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id == "read_model" and isinstance(node.args[1], ast.Constant):
                direct[name].add(node.args[1].value)
            elif node.func.id == "query":
                direct[name].add("<sql>")
            elif node.func.id in functions:
                calls[name].add(node.func.id)
    reads = {}
    for name, function in functions.items():
        if not any(ast.unparse(d).split("(")[0] == "dg.asset" for d in function.decorator_list):
            continue
        seen, frontier = set(), [name]
        while frontier:
            current = frontier.pop()
            if current not in seen:
                seen.add(current)
                frontier.extend(calls[current])
        reads[name] = set().union(*(direct[f] for f in seen))
    return reads


def test_each_step_depends_on_exactly_the_models_it_reads(definitions, shape):
    still_sql = set()
    for module in stage_modules():
        for asset, models in warehouse_reads(module).items():
            if "<sql>" in models:  # SQL in Python, left to the demo's own move (issue #25)
                still_sql.add(asset)
                continue
            parents = shape.parents[dg.AssetKey(asset)]
            declared = {key.to_user_string() for key in parents if key in shape.dbt_keys}
            assert declared == models, (asset, declared, models)
    assert still_sql <= {"demo_effect"}


def test_every_asset_check_has_a_description_and_metadata_the_ui_can_show(definitions):
    """dbt tests become asset checks: each says what it asserts (dbt's description, else one
    built from the generic test), and no metadata value is a Python object the UI can only show
    as "[DbtProject] (unserializable)"."""
    from dagster._core.definitions.metadata import normalize_metadata

    graph = definitions.resolve_asset_graph()
    specs = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    assert len(specs) > 100  # the dbt tests are there
    assert [s.key.to_user_string() for s in specs if not (s.description or "").strip()] == []
    described = {s.key.name: s.description for s in specs}
    assert described["not_null_battle_votes_model_a"] == "model_a is never null"
    assert "both" in described["assert_llm_battles_judged_in_both_orders"]
    shown = [(s.key.to_user_string(), s.metadata) for s in specs]
    shown += [(k.to_user_string(), graph.get(k).metadata) for k in graph.get_all_asset_keys()]
    unserializable = [
        (owner, name)
        for owner, metadata in shown
        for name, value in normalize_metadata(metadata, allow_invalid=True).items()
        if "(unserializable)" in str(getattr(value, "value", ""))
    ]
    assert unserializable == []
