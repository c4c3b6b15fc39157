"""The arena's LLM stages on one model, as JSON-able figures: the same code runs on the
transformers backend (main env) and on backend vllm / openai (`vllm serve`), so tests compare them.

Import-light on purpose: it also runs inside the separate vLLM env (tests/vllm_engine/driver.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import polars as pl

from gpu_ops.arena.judging import build_battles, judge_battles
from gpu_ops.arena.responding import generate_responses
from gpu_ops.curation.mining import MiningSetting, mine_instructions
from gpu_ops.curation.scoring import score_instructions
from gpu_ops.llm import ChatModel, SamplingParams

INSTRUCTIONS = pl.DataFrame(
    {
        "instruction_id": ["i1", "i2", "i3"],
        "instruction": [
            "Write a Python function that reverses a list.",
            "Parse a CSV line into fields.",
            "Explain what a dict comprehension is.",
        ],
    }
)
# Fixed answers, so that judging sees the same battles on every backend (sampled responses
# differ between engines: each has its own random streams).
ANSWERS = pl.DataFrame(
    {
        "instruction_id": ["i1", "i1", "i2", "i2", "i3", "i3"],
        "expert": ["alpha", "beta"] * 3,
        "response": [
            "def rev(xs):\n    return xs[::-1]",
            "Use list.reverse().",
            "line.split(',')",
            "import csv\nnext(csv.reader([line]))",
            "A dict comprehension builds a dict: {k: v for k, v in pairs}.",
            "It is a loop.",
        ],
    }
)
SCORE_CHOICES = [f"{n}]]" for n in range(1, 11)]
SCORED_PROMPTS = ["Rating: [[", "<|bos|><|user|>\nRate this.<|end|>\n<|assistant|>\nRating: [["]


def run_stages(model: ChatModel) -> dict[str, Any]:
    """Mining, scoring, responses and judging (both modes) plus direct choice scores and seeded
    and greedy generations. Each stage's seconds, and tokens fed / served from a prefix cache
    where the backend counts them."""
    out: dict[str, Any] = {"seconds": {}, "tokens_fed": {}, "tokens_cached": {}}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        fed, cached = getattr(model, "tokens_fed", None), getattr(model, "tokens_cached", None)
        started = time.perf_counter()
        value = fn()
        out["seconds"][name] = round(time.perf_counter() - started, 3)
        if fed is not None:
            out["tokens_fed"][name] = model.tokens_fed - fed
        if cached is not None:
            out["tokens_cached"][name] = model.tokens_cached - cached
        return value

    mined = stage(
        "mining",
        lambda: mine_instructions(
            model,
            expert="x",
            languages=["Python"],
            sampling_grid=[MiningSetting("hot", temperature=1.0, top_p=1.0, max_new_tokens=12)],
            samples_per_setting=2,
            seed=0,
        ),
    )
    out["mined"] = mined["raw_text"].to_list()
    out["mining_prompt_tokens"] = mined["prompt_tokens"].to_list()
    scores = stage(
        "scoring_logprob",
        lambda: score_instructions(model, INSTRUCTIONS, scorer="s", mode="logprob", skip_own=False),
    )
    out["expected_scores"] = scores["expected_score"].to_list()
    out["scoring_prompt_tokens"] = scores["prompt_tokens"].to_list()
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    generated_scores = stage(
        "scoring_generate",
        lambda: score_instructions(
            model, INSTRUCTIONS, scorer="s", mode="generate", skip_own=False, sampling=greedy
        ),
    )
    out["generated_score_replies"] = generated_scores["raw_reply"].to_list()
    responses = stage(
        "responses",
        lambda: pl.concat(
            [
                generate_responses(
                    model,
                    INSTRUCTIONS,
                    expert=expert,
                    sampling=SamplingParams(temperature=0.8, top_p=0.95, max_new_tokens=12),
                    seed=seed,
                )
                for seed, expert in enumerate(("alpha", "beta"))
            ]
        ),
    )
    out["responses"] = responses["response"].to_list()
    battles = build_battles(INSTRUCTIONS, ANSWERS)
    logprob = stage(
        "judging_logprob", lambda: judge_battles(model, battles, judge="j", mode="logprob")
    )
    out["p_first"] = logprob["p_first"].to_list()
    out["judging_prompt_tokens"] = logprob["prompt_tokens"].to_list()
    generated = stage(
        "judging_generate",
        lambda: judge_battles(model, battles, judge="j", mode="generate", sampling=greedy),
    )
    out["generated_verdict_replies"] = generated["raw_reply"].to_list()
    out["choice_logprobs"] = [
        s.logprobs for s in model.choice_logprobs(SCORED_PROMPTS, SCORE_CHOICES)
    ]
    prompts = [model.render_prequery(None), model.render_prequery("Be brief.")]
    out["greedy"] = [g.text for g in model.generate(prompts, greedy)]
    seeded = [SamplingParams(temperature=1.0, max_new_tokens=10, seed=s) for s in (1, 1, 2)]
    out["seeded"] = [g.text for g in model.generate([prompts[0]] * 3, seeded)]
    return out


def throughput(model: ChatModel, n_prompts: int = 16, new_tokens: int = 64) -> dict[str, Any]:
    """Generated tokens per second, greedy, n prompts x new_tokens (one batched call)."""
    prompts = [f"{model.render_prequery(None)}Task {i}: " for i in range(n_prompts)]
    started = time.perf_counter()
    out = model.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=new_tokens))
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in out)
    return {
        "prompts": n_prompts,
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 1),
    }
