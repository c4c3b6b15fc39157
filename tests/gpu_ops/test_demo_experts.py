"""Demo experts: complementary by construction, judging data labelled by tests, cached builds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gpu_ops.demo import world
from gpu_ops.demo.experts import (
    DEMO_EXPERTS,
    build_demo_experts,
    build_demo_target,
    build_info,
    judge_rows,
    model_cache_dir,
    write_rows,
)
from gpu_ops.prompts import VERDICT_PREFIX


def test_each_expert_writes_one_family_mostly_and_none_is_best_everywhere() -> None:
    assert {e.focus for e in DEMO_EXPERTS} == {f.name for f in world.FAMILIES}
    for expert in DEMO_EXPERTS:
        families = [
            world.parse_instruction(r["messages"][0]["content"])[0] for r in write_rows(expert)
        ]
        own = families.count(expert.focus) / len(families)
        assert 0.85 < own < 0.99, (expert.slug, own)
        assert set(families) == {f.name for f in world.FAMILIES}  # a little of everything
    # 64-wide heads: vLLM's CPU attention rejects small ones (head_dim 16 fails).
    assert {e.head_dim for e in DEMO_EXPERTS} == {64}


def test_no_expert_ever_sees_a_benchmark_composition() -> None:
    for expert in DEMO_EXPERTS:
        for row in write_rows(expert):
            assert not world.is_benchmark_instruction(row["messages"][0]["content"])
    for row in judge_rows(300, seed=5):
        user = row["messages"][-2]["content"]
        instruction = user.split(">>>\n", 1)[1].split("\n<<<END OF USER INSTRUCTION", 1)[0]
        assert world.parse_instruction(instruction) is not None
        assert not world.is_benchmark_instruction(instruction)


def test_judge_rows_are_labelled_by_the_hidden_tests_and_balanced_by_position() -> None:
    rows = judge_rows(400, seed=1)
    labels = [r["messages"][-1]["content"] for r in rows]
    assert set(labels) == {f"{VERDICT_PREFIX}{v}]]" for v in ("A", "B", "Tie")}
    share_a = labels.count(f"{VERDICT_PREFIX}A]]") / len(labels)
    share_b = labels.count(f"{VERDICT_PREFIX}B]]") / len(labels)
    assert 0.3 < share_a < 0.5 and 0.3 < share_b < 0.5 and abs(share_a - share_b) < 0.1
    # the labelled-correct answer is the one that passes the world's tests
    decided = [(r, label) for r, label in zip(rows, labels, strict=True) if "Tie" not in label]
    for row, label in decided[:50]:
        user = row["messages"][-2]["content"]
        blocks = [
            part.split(">>>\n", 1)[1].split("\n<<<END", 1)[0]
            for part in user.split("<<<START OF ")[1:]
        ]
        instruction, first, second = blocks
        correct = first if label.endswith("A]]") else second
        parsed = world.parse_instruction(instruction)
        assert correct == world.reference_response(
            *parsed,
            tuple(
                line.strip()[2:] for line in correct.splitlines() if line.strip().startswith("#")
            ),
        )


@pytest.mark.slow
def test_quick_build_is_cached_in_the_home_and_across_homes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WC_MODEL_CACHE", str(tmp_path / "cache"))
    assert model_cache_dir() == tmp_path / "cache"
    paths = build_demo_experts(tmp_path / "home1", quick=True)
    assert list(paths) == [e.slug for e in DEMO_EXPERTS]
    for expert in DEMO_EXPERTS:
        info = build_info(paths[expert.slug])
        assert info["expert"]["focus"] == expert.focus
        assert info["train"]["write"]["steps"] >= 1
        assert "judge" not in info["train"]  # phase 2 is off by default (see the module)
        config = json.loads((paths[expert.slug] / "config.json").read_text())
        assert config["head_dim"] == 64
    mtimes = {slug: os.stat(p / "config.json").st_mtime_ns for slug, p in paths.items()}
    assert build_demo_experts(tmp_path / "home1", quick=True) == paths  # reused as is
    assert {s: os.stat(p / "config.json").st_mtime_ns for s, p in paths.items()} == mtimes
    # a fresh home copies the cached build instead of training (the training summary travels)
    again = build_demo_experts(tmp_path / "home2", quick=True)
    for slug, path in again.items():
        assert build_info(path)["train"] == build_info(paths[slug])["train"]
    target = build_demo_target(tmp_path / "home1", quick=True)
    assert (target / "config.json").is_file()
    assert build_info(target)["kind"] == "target" and build_info(target)["train"]["steps"] == 4
    with pytest.raises(Exception, match="not a built demo expert"):
        build_info(tmp_path)
