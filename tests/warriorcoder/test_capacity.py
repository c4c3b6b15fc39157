"""One capacity table: computed from the config, committed in OPERATIONS.md as the script
renders it, and the other docs agree with it."""

from __future__ import annotations

import importlib.util
from math import comb
from pathlib import Path

import pytest

from warriorcoder.capacity import Rates, increment_calls, stage_calls, stage_costs
from wc_foundation.config import load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
OPERATIONS = REPO / "docs" / "OPERATIONS.md"
BENCHMARKS = REPO / "docs" / "BENCHMARKS.md"


def _script():
    spec = importlib.util.spec_from_file_location(
        "capacity_table", REPO / "scripts" / "capacity_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_table_is_the_scripts_output():
    script = _script()
    committed = script.committed_table(OPERATIONS.read_text(encoding="utf-8"))
    assert committed == script.render(Rates())


def test_docs_agree_with_the_table(tmp_path):
    paper = load_config(REPO / "configs" / "paper.yaml", home=tmp_path)
    total = sum(c.calls for c in stage_costs(paper, Rates()))
    benchmarks = BENCHMARKS.read_text(encoding="utf-8")
    for stale in ("710,000", "680,000", "117 GPU", "150 GPU"):
        assert stale not in benchmarks and stale not in OPERATIONS.read_text(encoding="utf-8")
    assert f"{total:,} /" in benchmarks  # the arena_scaling row: the same figure
    assert "capacity table of docs/OPERATIONS.md" in benchmarks


def test_operations_says_execution_results_are_cached():
    text = OPERATIONS.read_text(encoding="utf-8")
    assert "sandbox reruns every response" not in text
    assert "execution_results.sqlite" in text


def _arena(n: int, *, both_orders: bool, k: int = 4, **extra) -> dict:
    experts = [{"slug": f"e{i}", "model": f"/m/{i}"} for i in range(n)]
    return {
        "experts": experts,
        "selection": {"k": k},
        "mining": {
            "sampling_grid": [
                {"temperature": 1.0, "top_p": 1.0},
                {"temperature": 0.7, "top_p": 1.0},
            ]
        },
        "judging": {"both_orders": both_orders},
        **extra,
    }


def test_calls_follow_the_closed_forms():
    rates = Rates(survival=0.5)
    config = parse_config(_arena(4, both_orders=True, k=6))
    samples = config.mining.samples_per_setting
    mined = 4 * 1 * 2 * samples
    calls = stage_calls(config, rates)
    assert calls == {
        "mining": mined,
        "scoring": round(mined * 0.5) * 3,
        "responses": 4 * 6,
        "judging": 2 * 6 * comb(4, 2) * 2,
    }
    one_order = stage_calls(parse_config(_arena(4, both_orders=False, k=6)), rates)
    assert one_order["judging"] == calls["judging"] // 2
    grown = increment_calls(config, rates)
    assert grown["judging"] == 3 * 6 * 4 * 3  # 3kN(N-1) with both orders
    assert grown["responses"] == 6 and grown["mining"] == 2 * samples


def test_ablation_arm_with_two_competitors(tmp_path):
    two = load_config(REPO / "configs" / "ablation" / "experts-2.yaml", home=tmp_path)
    calls = stage_calls(two, Rates())
    assert calls["responses"] == 2 * 7000 and calls["judging"] == 7000 * 1 * 3
    assert calls["mining"] == 5 * 9 * 1700  # the five still mine


def test_measured_lengths_replace_the_assumed_ones():
    rates = Rates().measured({"judging": (900.0, None), "mining": (50.0, 80.0)}, "a run")
    assert rates.prompt_tokens["judging"] == 900.0 and rates.generated_tokens["judging"] == 300
    assert rates.generated_tokens["mining"] == 80.0 and "measured in a run" in rates.source
    config = parse_config(_arena(3, both_orders=False))
    faster = stage_costs(config, rates)[0].gpu_hours
    assert faster < stage_costs(config, Rates())[0].gpu_hours


def test_fractional_k_has_no_capacity():
    with pytest.raises(ValueError, match="absolute k"):
        stage_calls(parse_config(_arena(3, both_orders=False, k=0.5)), Rates())
