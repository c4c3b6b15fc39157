"""The two presets: configs/paper.yaml is the paper's method value by value (each value with its
source), configs/recommended.yaml holds this project's changes; both load and the stages read
the sampling keys from them."""

import re
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.arena.ratings import ratings_from_leaderboard
from gpu_ops.llm.chat_template import bundled_template, resolve_chat_template
from wc_foundation.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "configs" / "paper.yaml"
RECOMMENDED = REPO / "configs" / "recommended.yaml"


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    return load_config(PAPER, home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def recommended(tmp_path_factory):
    return load_config(RECOMMENDED, home=tmp_path_factory.mktemp("home"))


def test_paper_preset_is_the_papers_method(paper):
    grid = {(s.temperature, s.top_p) for s in paper.mining.sampling_grid}
    assert grid == {(t, p) for t in (1.0, 1.1, 1.2) for p in (0.99, 0.995, 1.0)}
    assert paper.mining.max_new_tokens == 2048
    assert "step-by-step guidance on python coding problems" in (
        paper.mining.system_prompts()["python"].lower()
    )
    assert (paper.dedup.threshold, paper.dedup.num_perm, paper.dedup.shingle_size) == (0.5, 128, 1)
    scoring = paper.scoring.sampling()
    assert (scoring.temperature, scoring.top_p, scoring.max_new_tokens) == (1.0, 0.95, 8192)
    assert paper.scoring.min_score == 6 and paper.selection.k == 7000
    responses = paper.responses.sampling()
    assert (responses.temperature, responses.top_p, responses.max_new_tokens) == (1.0, 0.95, 8192)
    assert paper.responses.system_prompt.startswith("You are an AI assistant designed")
    assert paper.responses.pairing == "all"
    judge = paper.judging.sampling()
    assert (judge.temperature, judge.top_p, judge.max_new_tokens) == (1.0, 0.995, 8192)
    assert paper.judging.mode == "generate" and paper.judging.both_orders is False
    assert paper.judging.execution.enabled is False
    assert paper.ratings.winner_rating == "elo" and paper.ratings.elo_k == 40
    assert paper.ratings.winner_method() == "elo_online"
    assert paper.winners.alpha == 0.7


def test_paper_sft_is_the_script_and_its_current_recipe(paper):
    """run_sft_warrior.py packs (SFTTrainer(packing=True)); config_sft_warrior.yaml as of
    9a67f98: 3 epochs, 2048 tokens, 8 per device x 16 accumulation on 8 GPUs."""
    target = paper.target
    assert target.model == "deepseek-ai/deepseek-coder-6.7b-base"
    sft = target.sft
    assert (sft.learning_rate, sft.warmup_ratio, sft.lr_scheduler) == (1e-5, 0.2, "cosine")
    assert (sft.epochs, sft.max_seq_len, sft.seed) == (3, 2048, 42)
    assert (sft.per_device_batch_size, sft.gradient_accumulation_steps, sft.num_processes) == (
        8,
        16,
        8,
    )
    assert sft.global_batch_size == 1024
    assert sft.packing is True and sft.validation_fraction == 0.0
    text = PAPER.read_text()
    packing_line = next(line for line in text.splitlines() if line.strip().startswith("packing:"))
    assert "run_sft_warrior.py" in packing_line and "packing=True" in packing_line
    assert "Conflicts between the sources" in text
    assert (REPO / sft.accelerate_config).is_file() and sft.precision == "auto"
    template = resolve_chat_template(target.chat_template)
    assert "### Instruction:" in template and "<|EOT|>" in template


def test_every_paper_value_names_its_source():
    """Each leaf setting line of paper.yaml carries a comment, or sits under one that does."""
    lines = PAPER.read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert any("Remaining deviations" in line for line in header)
    assert any("Pairing, settled" in line for line in header)
    operational = ("slug", "backend", "endpoints", "family", "tensor_parallel_size", "model")
    in_experts = False
    unsourced = []
    for number, line in enumerate(lines):
        stripped = line.strip().removeprefix("- ")
        in_experts = (in_experts or line.startswith("experts:")) and not line.startswith("mining:")
        key = stripped.split(":", 1)[0]
        if not re.match(r"^[a-z_]+: \S", stripped) or line.startswith("name:"):
            continue
        if key in operational or (in_experts and key == "default_system_prompt"):
            continue  # where a model is served, not what the method does
        previous = lines[number - 1].strip()
        if "#" not in line and not previous.startswith("#"):
            unsourced.append(f"line {number + 1}: {stripped}")
    assert not unsourced, unsourced


def test_recommended_preset_holds_the_projects_changes(recommended, paper):
    assert recommended.ratings.winner_rating == "bt" and recommended.ratings.winner_method() == "bt"
    assert recommended.judging.both_orders is True and recommended.judging.mode == "logprob"
    assert recommended.judging.execution.enabled is True
    assert recommended.ratings.bootstrap_unit == "instruction"
    # The rest is the paper's.
    for section in ("mining", "dedup", "selection", "responses", "winners", "embedding"):
        assert getattr(recommended, section) == getattr(paper, section), section
    assert (
        recommended.target.sft.model_copy(update={"validation_fraction": 0.0}) == paper.target.sft
    )


def test_sampling_keys_default_to_the_previous_constants():
    config = parse_config({"experts": [{"slug": "a", "model": "x"}, {"slug": "b", "model": "y"}]})
    assert (config.judging.sampling().temperature, config.judging.sampling().top_p) == (0.0, 1.0)
    assert config.scoring.sampling().top_p == 1.0
    assert config.responses.system_prompt is None
    with pytest.raises(ConfigError, match=r"judging\.top_p"):
        parse_config(
            {
                "experts": [{"slug": "a", "model": "x"}, {"slug": "b", "model": "y"}],
                "judging": {"top_p": 0},
            }
        )


def test_winner_rating_elo_online_reads_the_online_column():
    table = pl.DataFrame(
        {
            "expert": ["a", "b", "a", "b"],
            "method": ["bt", "bt", "elo", "elo"],
            "rating": [1100.0, 900.0, 1050.0, 950.0],
            "rating_online": [None, None, 1080.0, 920.0],
        }
    )
    assert ratings_from_leaderboard(table, "elo") == {"a": 1050.0, "b": 950.0}
    assert ratings_from_leaderboard(table, "elo_online") == {"a": 1080.0, "b": 920.0}


def test_bundled_deepseek_template_renders_and_marks_the_response(tiny_model_dir):
    from transformers import AutoTokenizer
    from trl.chat_template_utils import has_generation_markers

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tokenizer.chat_template = bundled_template("deepseek_coder")
    assert has_generation_markers(tokenizer.chat_template)
    chat = [{"role": "user", "content": "Add 1 and 2."}, {"role": "assistant", "content": "3"}]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    assert text.endswith("### Instruction:\nAdd 1 and 2.\n### Response:\n3\n<|EOT|>\n")
    assert "Deepseek Coder model" in text
    prompt = tokenizer.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("### Instruction:\nAdd 1 and 2.\n### Response:\n")
    with pytest.raises(Exception, match="no bundled template 'nope'"):
        resolve_chat_template("bundled:nope")


def test_sft_processes_and_machines_are_checked():
    experts = [{"slug": "a", "model": "x"}, {"slug": "b", "model": "y"}]
    target = {"slug": "t", "model": "/m/t", "sft": {"num_processes": 12, "num_machines": 8}}
    with pytest.raises(ConfigError, match="multiple of num_machines"):
        parse_config({"experts": experts, "target": target})
    target["sft"] = {"num_processes": 16, "num_machines": 2, "per_device_batch_size": 4}
    assert parse_config({"experts": experts, "target": target}).target.sft.global_batch_size == 64


def test_paper_evaluates_the_four_benchmarks_with_evalplus_settings(paper):
    evaluation = paper.evaluation
    assert evaluation.benchmarks == ("humaneval", "humaneval+", "mbpp", "mbpp+")
    assert evaluation.prompts == "evalplus" and evaluation.base_prompt_style == "completion"
    assert (evaluation.samples_per_problem, evaluation.temperature) == (1, 0.0)
    assert evaluation.max_new_tokens == 768


ABLATION = REPO / "configs" / "ablation"


def test_expert_count_ablation_configs(tmp_path, paper):
    """1, 2 and 5 experts: every arm is paper.yaml with the same miners, scorers and judges;
    only who competes changes (the 1-expert arm is experts-5's single-expert condition)."""
    five = load_config(ABLATION / "experts-5.yaml", home=tmp_path)
    two = load_config(ABLATION / "experts-2.yaml", home=tmp_path)
    assert (five.name, two.name) == ("ablation-experts-5", "ablation-experts-2")
    assert five.evaluation.compare_conditions and not paper.evaluation.compare_conditions
    assert five.model_copy(update={"name": paper.name, "evaluation": paper.evaluation}) == paper
    competitors = [e.slug for e in two.experts_with_role("competitor")]
    assert competitors == ["llama-3-3-70b", "qwen2-5-72b"]
    for role in ("miner", "scorer", "judge"):
        assert two.experts_with_role(role) == [
            e.model_copy(update={"roles": two.expert(e.slug).roles}) for e in paper.experts
        ]
    same = ("mining", "dedup", "scoring", "selection", "responses", "judging", "ratings")
    for section in (*same, "winners", "embedding", "target", "evaluation"):
        assert getattr(two, section) == getattr(paper, section), section


def test_the_demo_follows_the_paper_and_recommended_keeps_the_execution_judge(
    recommended, tmp_path
):
    """The demo's LLM judges decide (execution scores as the reference, with no vote) and its
    world's judging-only tasks never reach the arena; the recommended preset keeps execution
    voting (issue 26)."""
    demo = load_config(REPO / "configs" / "demo.yaml", home=tmp_path)
    assert demo.judging.execution.enabled and demo.judging.execution.weight == 0
    assert demo.judging.execution.hidden_tests == "demo-world"
    assert demo.mining.reserved_worlds == ("demo-world",)
    assert demo.mining.samples_per_setting == 160
    assert recommended.judging.execution.enabled and recommended.judging.execution.weight > 0
