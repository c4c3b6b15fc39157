"""Demo experts: quick-mode build, caching, metadata that encodes the expected ranking."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.demo.experts import (
    DEMO_EXPERTS,
    build_demo_experts,
    build_demo_target,
    build_info,
    code_quality,
    demo_examples,
    heldout_examples,
)


def test_metadata_encodes_a_strict_ranking_by_construction() -> None:
    ranks = [e.expected_rank for e in DEMO_EXPERTS]
    assert sorted(ranks) == list(range(1, len(DEMO_EXPERTS) + 1))
    assert 3 <= len(DEMO_EXPERTS) <= 5
    assert len({e.slug for e in DEMO_EXPERTS}) == len(DEMO_EXPERTS)
    by_rank = sorted(DEMO_EXPERTS, key=lambda e: e.expected_rank)
    # A better rank never has less capacity, fewer slices or a smaller budget.
    for better, worse in itertools.pairwise(by_rank):
        assert better.hidden_size * better.num_layers >= worse.hidden_size * worse.num_layers
        assert better.num_heads * better.head_dim >= worse.num_heads * worse.head_dim
        assert set(better.slices) >= set(worse.slices) or len(better.slices) > len(worse.slices)
        assert better.max_steps == -1 and (worse.max_steps > 0 or better.epochs > worse.epochs)
    # 64-wide heads: vLLM's CPU attention rejects small ones (head_dim 16 fails).
    assert {e.head_dim for e in DEMO_EXPERTS} == {64}


def test_heldout_examples_are_a_small_disjoint_share() -> None:
    examples = demo_examples()
    held = heldout_examples(examples)
    assert 0 < len(held) < 0.3 * len(examples)
    assert held["example_id"].is_in(examples["example_id"]).all()


@pytest.mark.slow
def test_quick_build_is_cached_and_loadable(tmp_path: Path) -> None:
    paths = build_demo_experts(tmp_path, quick=True)
    assert list(paths) == [e.slug for e in DEMO_EXPERTS]
    for expert in DEMO_EXPERTS:
        path = paths[expert.slug]
        assert path == tmp_path / "demo_quick" / expert.slug
        info = build_info(path)
        assert info["expert"]["slug"] == expert.slug and info["train"]["steps"] >= 1
        assert (path / "tokenizer.json").is_file() and (path / "config.json").is_file()
    mtimes = {slug: os.stat(p / "config.json").st_mtime_ns for slug, p in paths.items()}
    assert build_demo_experts(tmp_path, quick=True) == paths
    assert {slug: os.stat(p / "config.json").st_mtime_ns for slug, p in paths.items()} == mtimes
    target = build_demo_target(tmp_path, quick=True)
    assert (target / "config.json").is_file()

    instructions = heldout_examples()["instruction"].head(2).to_list()
    quality = code_quality(paths["expert-strong"], instructions, max_new_tokens=8)
    assert quality.columns == ["instruction", "response", "has_code", "parses"]
    assert quality.height == 2 and quality["parses"].dtype == pl.Boolean
