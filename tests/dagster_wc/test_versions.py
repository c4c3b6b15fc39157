"""Step versions: a step re-runs for the code it runs, the SQL it reads and the config it reads,
not for any edit anywhere (a copy of the source is edited; the checkout is left alone)."""

import ast
import shutil
from pathlib import Path

import dagster as dg
import pytest

from dagster_wc.definitions import stage_modules
from dagster_wc.orchestration.imports import PACKAGES
from dagster_wc.orchestration.plan import PipelineShape, Step
from dagster_wc.orchestration.versions import (
    PLACEMENT_SECTIONS,
    CodeVersions,
    StepVersions,
    config_version,
)
from wc_foundation.config import ArenaConfig, load_config

REPO = Path(__file__).resolve().parents[2]
MINED, CLEAN, SURVIVORS, EMBEDDINGS, RATINGS, WINNERS = (
    dg.AssetKey(name)
    for name in ("instructions_mined", "instructions_clean", "instruction_survivors", "e", "r", "w")
)
SHAPE = PipelineShape(
    order=(MINED, CLEAN, SURVIVORS, EMBEDDINGS, RATINGS, WINNERS),
    group={
        MINED: "mining",
        CLEAN: "mining",
        SURVIVORS: "dedup",
        EMBEDDINGS: "selection",
        RATINGS: "ratings",
        WINNERS: "sft_data",
    },
    parents={
        MINED: frozenset(),
        CLEAN: frozenset({MINED}),
        SURVIVORS: frozenset({CLEAN}),
        EMBEDDINGS: frozenset(),
        RATINGS: frozenset(),
        WINNERS: frozenset({RATINGS}),
    },
    dbt_keys=frozenset({CLEAN}),
    partition_role={MINED: "miner"},
    needs_target=frozenset(),
)
STEPS = {
    "mining": Step("mining", "instructions_mined[a]", (MINED,), "a"),
    "dbt": Step("mining", "dbt: mining models", (CLEAN,), kind="dbt"),
    "dedup": Step("dedup", "instruction_survivors", (SURVIVORS,)),
    "selection": Step("selection", "e", (EMBEDDINGS,)),
    "ratings": Step("ratings", "r", (RATINGS,)),
    "sft_data": Step("sft_data", "w", (WINNERS,)),
}
MODEL_FILES = {
    "instructions_clean": (
        "models/mining/instructions_clean.sql",
        "models/mining/instructions_clean.yml",
    )
}


@pytest.fixture
def source(tmp_path) -> Path:
    """The project's code and dbt project, copied (without weights, caches and dbt outputs)."""
    skip = shutil.ignore_patterns("__pycache__", "*.safetensors", "*.bin", "target", "logs")
    for package in PACKAGES:
        if (REPO / package).is_dir():
            shutil.copytree(REPO / package, tmp_path / package, ignore=skip)
    shutil.copytree(REPO / "dbt_project", tmp_path / "dbt_project", ignore=skip)
    return tmp_path


def versions(root: Path) -> dict[str, str]:
    code = CodeVersions(MODEL_FILES, root=root)
    return {name: code.step_version(step, SHAPE) for name, step in STEPS.items()}


def changed_after(root: Path, rel: str) -> set[str]:
    before = versions(root)
    path = root / rel
    path.write_text(path.read_text() + "\n# edited\n")
    after = versions(root)
    return {name for name in before if before[name] != after[name]}


def test_a_module_counts_for_the_stages_that_import_it(source):
    assert changed_after(source, "gpu_ops/curation/kcenter.py") == {"selection"}
    assert changed_after(source, "gpu_ops/curation/mining.py") == {"mining"}


def test_a_shared_module_counts_for_every_stage_that_imports_it(source):
    # the ratings: the ratings stage and the winners' P_global import them
    assert changed_after(source, "gpu_ops/arena/ratings.py") == {"ratings", "sft_data"}
    # the prompt builders: mining imports them (and every stage that may load a chat model)
    assert "mining" in changed_after(source, "gpu_ops/prompts.py")
    assert changed_after(source, "dagster_wc/resources.py") == set(STEPS)


def test_a_module_no_step_runs_changes_no_version(source):
    assert changed_after(source, "warriorcoder/cli.py") == set()


def test_a_models_sql_counts_for_its_build_and_the_steps_that_read_it(source):
    assert changed_after(source, "dbt_project/models/mining/instructions_clean.sql") == {
        "dbt",
        "dedup",
    }
    # project-wide dbt files (macros) count for every step that builds or reads a model
    assert changed_after(source, "dbt_project/macros/lake_source.sql") == {"dbt", "dedup"}


def test_templates_beside_the_code_count(source):
    template = next((source / "gpu_ops/llm/templates").glob("*.jinja"))
    assert "mining" in changed_after(source, template.relative_to(source).as_posix())


def test_a_step_hashes_only_its_own_config_sections(tmp_path):
    config = load_config(REPO / "configs" / "paper.yaml", home=tmp_path)
    edited = config.model_copy(update={"ratings": config.ratings.model_copy(update={"elo_k": 8.0})})
    assert config_version(config, ["mining"]) == config_version(edited, ["mining"])
    assert config_version(config, ["ratings"]) != config_version(edited, ["ratings"])
    assert config_version(config) != config_version(edited)  # the whole config, by default

    code = CodeVersions(MODEL_FILES)
    before = StepVersions(config, SHAPE, code, dbt_vars="{}")
    after = StepVersions(edited, SHAPE, code, dbt_vars="{}")
    changed = {name for name, step in STEPS.items() if before.base(step) != after.base(step)}
    assert changed == {"ratings", "sft_data"}  # the stages that read `ratings`


# ArenaConfig's views and the sections they read
VIEWS = {
    "expert": {"experts"},
    "experts_with_role": {"experts"},
    "scorer_slugs": {"experts", "scoring"},
    "judge_models": {"experts", "judging"},
    "arena_model": {"experts", "judging"},
}


def config_reads(tree: ast.AST) -> set[str]:
    """The config sections a module reads: `config.X`, `<...>.arena_config.X`, and views."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id == "config") or (
            isinstance(owner, ast.Attribute) and owner.attr == "arena_config"
        ):
            found |= VIEWS.get(node.attr, {node.attr})
    return found & (set(ArenaConfig.model_fields) | {s for v in VIEWS.values() for s in v})


def test_each_stage_names_the_config_sections_it_reads():
    for module in stage_modules():
        tree = ast.parse(Path(module.__file__).read_text())
        read = config_reads(tree)
        assert read, module.__name__  # the scan sees the stage's reads
        # `compute` says where the work runs: read freely, hashed by no step (PLACEMENT_SECTIONS)
        assert read - PLACEMENT_SECTIONS <= set(module.CONFIG_SECTIONS), (module.__name__, read)
        assert not set(module.CONFIG_SECTIONS) & PLACEMENT_SECTIONS, module.__name__
        assert set(module.CONFIG_SECTIONS) <= set(ArenaConfig.model_fields), module.__name__


def test_a_plugins_asset_runs_the_plugins_module(source):
    """`demo_effect` sits in the evaluation group but is the demo plugin's code."""
    shape = PipelineShape(
        order=(dg.AssetKey("demo_effect"), dg.AssetKey("evaluation")),
        group={dg.AssetKey("demo_effect"): "evaluation", dg.AssetKey("evaluation"): "evaluation"},
        parents={dg.AssetKey("demo_effect"): frozenset(), dg.AssetKey("evaluation"): frozenset()},
        dbt_keys=frozenset(),
        partition_role={},
        needs_target=frozenset(),
    )
    code = CodeVersions(MODEL_FILES, root=source)
    assert code.module_of(dg.AssetKey("demo_effect"), shape) == "wc_demo.assets"
    assert code.module_of(dg.AssetKey("evaluation"), shape) == "dagster_wc.defs.evaluation"
    demo = Step("evaluation", "demo_effect", (dg.AssetKey("demo_effect"),))
    before = code.step_version(demo, shape)
    path = source / "wc_demo" / "assets.py"
    path.write_text(path.read_text() + "\n# edited\n")
    assert CodeVersions(MODEL_FILES, root=source).step_version(demo, shape) != before
