"""Smoke tests of bench.bench_judging (a handful of prompts, tiny model) and the closed forms of
bench.bench_arena_scaling (the pipeline itself is not run here). Structure and sanity only,
never timings."""

from math import comb

import polars as pl
import pytest

from bench import bench_arena_scaling as scaling
from bench import bench_judging as judging
from gpu_ops.prompts import fence_tag
from wc_foundation.config import load_config

# --- arena scaling: closed forms ----------------------------------------------------------------


def test_full_run_formulas():
    calls = scaling.formula_calls(3, 4, mined_per_expert=12, survivors=30)
    assert calls == {"mining": 36, "scoring": 60, "responses": 12, "judging": 24}
    assert scaling.formula_calls(2, 4, mined_per_expert=12, survivors=20)["judging"] == 0
    assert scaling.formula_calls(5, 7000, mined_per_expert=1, survivors=1)["judging"] == 420_000


@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_incremental_judging_is_the_difference_of_full_runs(n):
    k = 6
    grown = scaling.formula_incremental_calls(
        n, k, mined_per_expert=12, old_survivors=20, new_survivors=5
    )
    before = scaling.formula_calls(n, k, mined_per_expert=12, survivors=20)
    after = scaling.formula_calls(n + 1, k, mined_per_expert=12, survivors=25)
    assert grown["judging"] == after["judging"] - before["judging"]
    assert grown["responses"] == after["responses"] - before["responses"] == k
    assert grown["mining"] == after["mining"] - before["mining"] == 12
    assert scaling.incremental_fraction(n, k) == pytest.approx(3 / (n + 1))


def test_incremental_formula_matches_the_incremental_test():
    # tests/test_incremental_expert.py: 2k N(N-1) new-pair votes + 2k C(N,2) by the newcomer
    grown = scaling.formula_incremental_calls(
        3, 6, mined_per_expert=4, old_survivors=10, new_survivors=2
    )
    assert grown["judging"] == 2 * 6 * 3 * 2 + 2 * 6 * comb(3, 2)
    assert grown["scoring"] == 3 * 2 + 10


def test_paper_extrapolation_is_the_capacity_of_the_presets():
    out = scaling.extrapolate()
    assert out["paper_battles"] == out["recommended_battles"] == 70_000
    assert out["paper_calls"]["judging"] == 7000 * 10 * 3  # one order, 3 uninvolved judges
    assert out["recommended_calls"]["judging"] == 2 * 7000 * 10 * 3  # both orders
    assert out["paper_calls"]["mining"] == 5 * 9 * 1700
    assert out["paper_calls"]["responses"] == 35_000
    assert out["paper_total_calls"] == sum(out["paper_calls"].values())
    assert all(isinstance(line, str) for line in out["paper_arithmetic"])
    # logprob verdicts decode nothing: twice the calls for about the same GPU-hours
    assert out["recommended_judging_gpu_hours"] < 1.1 * out["paper_judging_gpu_hours"]


def test_arena_yaml_is_a_valid_config(tmp_path):
    experts = [(f"e{i}", tmp_path / f"m{i}") for i in range(1, 4)]
    path = tmp_path / "arena.yaml"
    path.write_text(scaling.arena_yaml(experts, scaling.Arena(3, 4)))
    config = load_config(path, home=tmp_path)
    assert [e.slug for e in config.experts] == ["e1", "e2", "e3"]
    assert config.selection.k == 4 and config.judging.mode == "logprob"
    assert len(config.mining.sampling_grid) * config.mining.samples_per_setting == 12


def test_scaling_summary_rows():
    run = {
        "n_experts": 3,
        "k": 4,
        "calls_match_formula": True,
        "wall_seconds": 100.0,
        "seconds": {"dbt": 60.0},
    }
    result = {
        "runs": [run],
        "incremental": {
            "from_n": 3,
            "to_n": 4,
            "k": 4,
            "calls_match_formula": True,
            "sandbox_runs": 16,
        },
        "incremental_fraction_of_full": 0.5,
        "incremental_fraction_by_stage": {"judging": 0.75},
        "incremental_judging_fraction_formula": 0.75,
        **scaling.extrapolate(),
    }
    rows = scaling.summary(result)
    assert rows and all(len(row) == 4 and row[0] == "arena_scaling" for row in rows)


# --- judging: prefix helpers --------------------------------------------------------------------


def test_prefix_sharing_helpers():
    prompts = [[1, 2, 3, 4], [1, 2, 9, 9], [1, 2, 3, 5]]
    assert judging.common_prefix(prompts[0], prompts[2]) == 3
    assert judging.shared_with_previous(prompts) == pytest.approx((2 + 2) / 12)
    assert judging.shared_with_any_earlier(prompts) == pytest.approx((2 + 3) / 12)
    assert judging.shared_with_previous([[1, 2]]) == 0


def test_stable_tag_keeps_the_texts_and_swaps_only_the_markers():
    shown = {"instruction": "Write f.", "first": "def f(): pass", "second": "print(1)"}
    tag = fence_tag("Write f.", "def f(): pass", "print(1)", "other answer")
    messages = judging.stable_tag_messages(shown, tag)
    user = messages[1]["content"]
    assert user.count(tag) == 6
    assert all(text in user for text in shown.values())


# --- judging: a handful of prompts on the tiny model --------------------------------------------


@pytest.mark.slow
def test_judging_bench_on_the_tiny_model(tiny_model_dir):
    instructions = pl.DataFrame(
        {
            "instruction_id": ["i1", "i2"],
            "instruction": ["Write a function that adds two numbers.", "Reverse a string."],
        }
    )
    result = judging.measure(
        n_battles=2,
        judge_max_new_tokens=4,
        response_max_new_tokens=6,
        single_battles=1,
        repeats=1,
        prefix_instructions=2,
        max_model_len=1024,
        dirs=dict.fromkeys(judging.DEMO_SLUGS, tiny_model_dir),
        instructions=instructions,
    )
    logprob, generate = result["logprob"], result["generate"]
    assert result["judgments_per_mode"] == 4 == logprob["judgments"] == generate["judgments"]
    assert logprob["generated_tokens_per_judgment"] == 0
    assert logprob["valid_rate"] == 1.0
    assert sum(logprob["verdicts"].values()) == 4
    assert 0 < generate["generated_tokens_per_judgment"] <= 4
    assert 0 <= generate["valid_rate"] <= 1
    assert logprob["prompt_tokens_per_judgment"] > 0
    # one pass per verdict: fed tokens ~ the prompt (plus the tails of multi-token choices)
    assert 1 <= logprob["tokens_fed_per_judgment"] / logprob["prompt_tokens_per_judgment"] < 1.1
    assert generate["tokens_fed_per_judgment"] >= generate["prompt_tokens_per_judgment"]
    before_after = result["choice_scoring_before_after"]
    assert before_after["one_pass"]["tokens_fed_over_prompt_tokens"] < 1.1
    assert before_after["per_choice_rows"]["tokens_fed_over_prompt_tokens"] > 3
    assert before_after["max_abs_logprob_difference"] < 1e-3
    sharing = result["prefix_sharing"]
    assert sharing["prompts"] == 2 * 6 * 2
    for variant in ("current_prompts", "stable_tag_prompts"):
        for figures in sharing[variant].values():
            assert 0 < figures["with_previous"] <= figures["with_any_earlier"] < 1
    # the instruction's own fence tag lets sorted prompts (the order judge_battles asks in)
    # share the instruction and the first answer
    current = sharing["current_prompts"]
    assert current["sorted"]["with_previous"] > current["shuffled"]["with_previous"]
    rows = judging.summary(result)
    assert rows and all(len(row) == 4 and row[0] == "judging" for row in rows)
