"""Demo experts: complementary by construction, judging data labelled by tests, cached builds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from wc_demo import world
from wc_demo.experts import (
    BUNDLE_DIR,
    DEMO_EXPERTS,
    DEMO_JUDGE,
    JUDGING,
    build_demo_experts,
    build_demo_judge,
    build_demo_target,
    build_info,
    judging_group,
    judging_tasks,
    model_cache_dir,
    write_rows,
)
from wc_demo.independence import judge_independence, judged_families
from wc_demo.judging_phase import JudgingRecipe


def test_each_expert_writes_one_family_mostly_and_none_is_best_everywhere() -> None:
    assert {e.focus for e in DEMO_EXPERTS} == set(world.ARENA_FAMILIES)
    assert {e.judging_group for e in DEMO_EXPERTS} == set(range(len(DEMO_EXPERTS)))
    for expert in DEMO_EXPERTS:
        tasks = [world.parse_instruction(r["messages"][0]["content"]) for r in write_rows(expert)]
        families = [family for family, _ in tasks if family in world.ARENA_FAMILIES]
        own = families.count(expert.focus) / len(families)
        assert 0.85 < own < 0.99, (expert.slug, own)
        assert {family for family, _ in tasks} == set(world.FAMILY_BY_NAME)  # some of everything
        # the judging-only family: its own third in full, a little of the other two
        groups = [
            judging_group(world.Task(family, steps, (), ""))
            for family, steps in tasks
            if family in world.JUDGING_FAMILIES
        ]
        mine = groups.count(expert.judging_group) / len(groups)
        assert 0.85 < mine < 0.99, (expert.slug, mine)
    # 64-wide heads: vLLM's CPU attention rejects small ones (head_dim 16 fails).
    assert {e.head_dim for e in DEMO_EXPERTS} == {64}


def test_judging_tasks_come_only_from_the_judging_only_families() -> None:
    """The judges never learn to judge on a family the arena battles or the benchmark holds."""
    assert JUDGING.families == world.JUDGING_FAMILIES
    tasks = judging_tasks(JUDGING)
    assert len(tasks) == JUDGING.tasks
    assert {t.family for t in tasks} == set(world.JUDGING_FAMILIES)
    assert all(world.reserved_reason(t.instruction) for t in tasks)  # kept out of the arena
    with pytest.raises(InputError, match=r"JudgingRecipe\.families"):
        JudgingRecipe(families=("nowhere",))


def test_no_expert_ever_sees_a_benchmark_composition() -> None:
    for expert in (*DEMO_EXPERTS, DEMO_JUDGE):
        for row in write_rows(expert):
            assert not world.is_benchmark_instruction(row["messages"][0]["content"])
    for task in judging_tasks(JUDGING):
        assert not world.is_heldout(task.family, task.steps)


@pytest.mark.slow
def test_quick_build_is_cached_in_the_home_and_across_homes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WC_MODEL_CACHE", str(tmp_path / "cache"))
    assert model_cache_dir() == tmp_path / "cache"
    paths = build_demo_experts(tmp_path / "home1", quick=True)
    assert list(paths) == [e.slug for e in DEMO_EXPERTS]
    for expert in DEMO_EXPERTS:
        info = build_info(paths[expert.slug])
        assert info["expert"]["focus"] == expert.focus
        assert info["kind"] == "expert"
        assert info["train"]["write"]["steps"] >= 1
        # phase 2: two rounds of verdicts, each on the answers of the models the round before made
        rounds = info["train"]["judge_rounds"]
        assert [r["steps"] for r in rounds] == [3, 2]
        assert all(r["prompts"] == 4 * 3 * 2 for r in rounds)  # tasks x pairs x orders
        # both rounds replay the writer's own answers to (at most) 8 of its writing instructions
        assert all(0 < r["replay_rows"] <= 8 for r in rounds)
        assert len({r["replay_rows"] for r in rounds}) == 1
        config = json.loads((paths[expert.slug] / "config.json").read_text())
        assert config["head_dim"] == 64
    # they learned to judge on the judging-only family alone, so the arena's battles and the
    # benchmark are not their training ground (demo_effect's judges_trained_on_benchmark_families)
    battled = [t.instruction for t in world.training_tasks() if t.family != "words"][::50]
    keys = judge_independence(
        paths,
        benchmark_instructions=[p["instruction"] for p in world.benchmark_problems(30)],
        battled_instructions=battled,
    )
    assert keys["judges_trained_on_benchmark_families"] is False
    assert keys["judging_families"] == {slug: ["words"] for slug in paths}
    mtimes = {slug: os.stat(p / "config.json").st_mtime_ns for slug, p in paths.items()}
    assert build_demo_experts(tmp_path / "home1", quick=True) == paths  # reused as is
    assert {s: os.stat(p / "config.json").st_mtime_ns for s, p in paths.items()} == mtimes
    # a fresh home copies the cached build instead of training (the training summary travels)
    again = build_demo_experts(tmp_path / "home2", quick=True)
    for slug, path in again.items():
        assert build_info(path)["train"] == build_info(paths[slug])["train"]
    # the general judge: a writer of every family that never learned to judge
    judge = build_demo_judge(tmp_path / "home1", quick=True)
    info = build_info(judge)
    assert info["kind"] == "judge" and info["expert"]["other_share"] == 1.0
    assert "judge_rounds" not in info["train"] and info["train"]["write"]["steps"] >= 1
    assert judged_families(judge) == []
    assert build_demo_judge(tmp_path / "home2", quick=True) != judge  # another home, from cache
    assert build_info(tmp_path / "home2" / "demo_quick" / judge.name)["train"] == info["train"]
    target = build_demo_target(tmp_path / "home1", quick=True)
    assert (target / "config.json").is_file()
    assert build_info(target)["kind"] == "target" and build_info(target)["train"]["steps"] == 4
    with pytest.raises(Exception, match="not a built demo expert"):
        build_info(tmp_path)


@pytest.mark.slow
def test_a_fresh_machine_installs_the_bundled_experts_without_training(
    tmp_path: Path, monkeypatch
) -> None:
    """The bundle is the current recipe's build: change the recipe (the world, the experts, the
    judging phase, the tokenizer corpus) and this fails until `scripts/bundle_demo_experts.py`
    has rebuilt it."""
    import wc_demo.experts as experts

    monkeypatch.setenv("WC_MODEL_CACHE", str(tmp_path / "empty-cache"))

    def no_training(*args, **kwargs):
        raise AssertionError("the bundle does not match the recipe: the build would train")

    monkeypatch.setattr(experts, "_build_writer", no_training)
    paths = build_demo_experts(tmp_path / "models")
    for expert in DEMO_EXPERTS:
        info = build_info(paths[expert.slug])
        assert info["kind"] == "expert" and info["expert"]["slug"] == expert.slug
        assert [r["steps"] for r in info["train"]["judge_rounds"]] == list(JUDGING.rounds)
        assert (paths[expert.slug] / "model.safetensors").is_file()
        assert (BUNDLE_DIR / expert.slug / "model.safetensors").is_file()
    judge = build_demo_judge(tmp_path / "models")
    assert build_info(judge)["kind"] == "judge" and (BUNDLE_DIR / judge.name).is_dir()
    # installed once, it is also in this machine's cache for the next home
    assert any((tmp_path / "empty-cache").iterdir())


@pytest.mark.slow
def test_a_fresh_machine_installs_the_sweep_writers_without_training(
    tmp_path: Path, monkeypatch
) -> None:
    """Every share of `demo-sweep` has its writers in the bundle, built by the current recipe:
    a fresh clone's sweep trains no writer. Fails after a recipe change until
    `scripts/bundle_demo_experts.py --writers-only` has rebuilt them."""
    import wc_demo.experts as experts
    from wc_demo.sweep_arenas import share_writers
    from wc_demo.sweeps import SHARES

    monkeypatch.setenv("WC_MODEL_CACHE", str(tmp_path / "empty-cache"))

    def no_training(*args, **kwargs):
        raise AssertionError("a sweep writer is not in the bundle: the sweep would train it")

    monkeypatch.setattr(experts, "build_tiny_model", no_training)
    for share in SHARES:
        writers = share_writers(tmp_path / "models", share)
        assert sorted(writers) == sorted(e.slug for e in DEMO_EXPERTS)
        for slug, path in writers.items():
            info = build_info(path)
            assert info["kind"] == "writer" and info["expert"]["slug"] == slug
            assert info["expert"]["other_share"] == share
            assert (path / "model.safetensors").is_file()
    with pytest.raises(AssertionError, match="not in the bundle"):
        share_writers(tmp_path / "models", 0.07)  # a share the bundle does not hold trains


def test_sampled_data_is_kept_and_computed_once(tmp_path: Path) -> None:
    """The judging answers and the replay are kept in the build's _work: a crash or a rerun
    (a change of the training steps) samples nothing twice."""
    from wc_demo.experts import _kept_jsonl

    calls = []

    def compute() -> list[dict]:
        calls.append(1)
        return [{"a": 1}, {"b": [2, 3]}]

    path = tmp_path / "_work" / "replay-x-0123"
    assert _kept_jsonl(path, compute) == [{"a": 1}, {"b": [2, 3]}]
    assert _kept_jsonl(path, compute) == [{"a": 1}, {"b": [2, 3]}]
    assert len(calls) == 1
    assert [p.name for p in path.parent.iterdir()] == ["replay-x-0123.jsonl"]  # no temp left
