"""`vllm serve` behind backend openai: two real servers on 127.0.0.1 (vLLM env), started once per
test session; the OpenAI backend runs the stages against them and survives losing one."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from gpu_ops.llm import CallCache, ModelSpec, SamplingParams, load_model
from tests.vllm_engine.engine import REPO, START_TIMEOUT_S, Server, engine_environ, vllm_cli
from tests.vllm_engine.stages import SCORE_CHOICES, SCORED_PROMPTS, run_stages

pytestmark = [pytest.mark.vllm_engine, pytest.mark.slow]


def served_spec(servers: list[Server], model_dir: Path, **kwargs: object) -> ModelSpec:
    defaults = {"max_retries": 4, "retry_backoff_s": 0.2, "request_timeout_s": 60.0}
    return ModelSpec(
        slug="tiny64",
        model="tiny64",  # the --served-model-name
        backend="openai",
        endpoints=tuple(s.url for s in servers),
        tokenizer=str(model_dir),  # local tokenizer: pre-query template and token-id scoring
        **{**defaults, **kwargs},
    )


def test_serve_flags_of_the_cluster_script_exist_in_the_real_cli() -> None:
    script = (REPO / "configs" / "cluster" / "vllm_serve.sh").read_text()
    flags = sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", script)))
    assert "--enable-prefix-caching" in flags and "--served-model-name" in flags
    help_text = subprocess.run(
        vllm_cli("serve", "--help=all"),
        env=engine_environ(), capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
    missing = [f for f in flags if f not in help_text]
    assert not missing, f"flags unknown to `vllm serve`: {missing}"


def test_openai_backend_runs_the_stages_on_real_servers(
    vllm_servers: list[Server], vllm_model_dir: Path
) -> None:
    """Completions with the pre-query template (mining), logprob verdicts and scores (token ids,
    logprob_token_ids), chat (responses, generate-mode judging) against `vllm serve`."""
    assert all(0 < s.start_seconds < START_TIMEOUT_S for s in vllm_servers)
    model = load_model(served_spec(vllm_servers, vllm_model_dir))
    result = run_stages(model)
    assert len(result["mined"]) == 2 and all(result["mining_prompt_tokens"])
    assert len(result["responses"]) == 6 and len(result["generated_verdict_replies"]) == 6
    same, again, other = result["seeded"]
    assert same == again != other
    reference = load_model(
        ModelSpec(slug="ref", model=str(vllm_model_dir), device="cpu", dtype="float32")
    ).choice_logprobs(SCORED_PROMPTS, SCORE_CHOICES)
    for got, want in zip(result["choice_logprobs"], reference, strict=True):
        assert [got[c] for c in SCORE_CHOICES] == pytest.approx(
            [want.logprobs[c] for c in SCORE_CHOICES], abs=2e-3
        )


def test_killing_one_server_mid_run_loses_nothing(
    vllm_servers: list[Server], vllm_model_dir: Path, tmp_path: Path
) -> None:
    """Runs last (it kills a server). Once two batches are committed to the call cache, the
    second server is killed (SIGKILL, with requests in flight); the run goes on through the
    survivor, and a rerun against the survivor alone serves every answer from the cache, equal
    to the first run's."""
    cache = CallCache(tmp_path / "calls.sqlite")
    model = load_model(served_spec(vllm_servers, vllm_model_dir, batch_size=4), cache=cache)
    # enough prompts that the run is far from done when the kill lands, even on loaded cores
    prompts = [f"{model.render_prequery(None)}Question {i}:" for i in range(192)]
    sampling = SamplingParams(temperature=0.0, max_new_tokens=48)
    killed_at: list[float] = []

    def kill_after_two_batches() -> None:
        deadline = time.perf_counter() + 120
        while len(cache) < 8 and time.perf_counter() < deadline:
            time.sleep(0.01)
        vllm_servers[1].kill()
        killed_at.append(time.perf_counter())  # the process is gone by now

    killer = threading.Thread(target=kill_after_two_batches)
    killer.start()
    first = model.generate(prompts, sampling)
    finished_at = time.perf_counter()
    killer.join()
    assert vllm_servers[1].proc.poll() is not None  # the second server is gone
    assert killed_at and killed_at[0] < finished_at, "the kill landed after the run"
    empty = [(i, g) for i, g in enumerate(first) if g.completion_tokens == 0]
    assert not empty, empty
    assert len(cache) == len(prompts)
    rerun = load_model(served_spec(vllm_servers[:1], vllm_model_dir, batch_size=4), cache=cache)
    assert rerun.generate(prompts, sampling) == first
    assert rerun.model_calls == 0 and rerun.hits == len(prompts)
