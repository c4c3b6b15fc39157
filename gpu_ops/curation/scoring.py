"""Difficulty / quality scoring: an LLM rates each instruction 1..10 with the paper's rubric.

Two modes:
- ``generate``: the scorer writes a short rationale and ``Rating: [[n]]``; the parser takes the
  rating or marks the row unparsed (score null, parsed false). Nothing is guessed.
- ``logprob``: the rubric conversation is rendered with the scorer's chat template and ends at
  ``Rating: [[``; the log-probabilities of ``1]]`` .. ``10]]`` give an expected score and the
  argmax score. No text is generated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.ids import derive_seed, prompt_hash, require_columns, require_unique
from gpu_ops.lake_schemas import LAKE_SCHEMAS
from gpu_ops.llm import ChatModel, SamplingParams
from gpu_ops.parsing import argmax_label, expected_score, normalized_probabilities, parse_score
from gpu_ops.prompts import (
    CHOICE_SUFFIX,
    SCORE_LABELS,
    SCORE_PREFIX,
    render_with_prefix,
    scoring_messages,
)

ScoreMode = Literal["generate", "logprob"]

SCORES_SCHEMA = LAKE_SCHEMAS["instruction_scores"]

DEFAULT_SCORING_SAMPLING = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=512)


def _instructions_to_score(instructions: pl.DataFrame, scorer: str, skip_own: bool) -> pl.DataFrame:
    columns = ["instruction_id", "instruction"] + (["miner"] if skip_own else [])
    require_columns(instructions, columns, "instructions")
    require_unique(instructions, ["instruction_id"], "instructions")
    if instructions["instruction"].null_count():
        raise InputError("instructions has null instruction texts")
    if skip_own:
        # A scorer never rates what it mined itself (no self-preference in the difficulty score).
        instructions = instructions.filter(pl.col("miner").is_null() | (pl.col("miner") != scorer))
    return instructions


def _score_generate(
    model: ChatModel,
    ids: list[str],
    texts: list[str],
    scorer: str,
    sampling: SamplingParams,
    seed: int,
) -> list[dict]:
    conversations = [scoring_messages(text, "generate") for text in texts]
    params = [sampling.with_seed(derive_seed("scoring", seed, scorer, i)) for i in ids]
    generations = model.chat(conversations, params)
    rows = []
    for instruction_id, messages, g in zip(ids, conversations, generations, strict=True):
        score = parse_score(g.text)
        rows.append(
            {
                "instruction_id": instruction_id,
                "score": score,
                "expected_score": None,
                "parsed": score is not None,
                "raw_reply": g.text,
                "prompt_hash": prompt_hash(messages),
                "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens,
            }
        )
    return rows


def _score_logprob(model: ChatModel, ids: list[str], texts: list[str]) -> list[dict]:
    prompts = [
        render_with_prefix(model, scoring_messages(text, "logprob"), SCORE_PREFIX) for text in texts
    ]
    choices = [label + CHOICE_SUFFIX for label in SCORE_LABELS]
    results = model.choice_logprobs(prompts, choices)
    rows = []
    for instruction_id, prompt, scored in zip(ids, prompts, results, strict=True):
        by_label = {label: scored.logprobs[label + CHOICE_SUFFIX] for label in SCORE_LABELS}
        probs = normalized_probabilities(by_label)
        rows.append(
            {
                "instruction_id": instruction_id,
                "score": int(argmax_label(probs, SCORE_LABELS)),
                "expected_score": expected_score(by_label),
                "parsed": True,
                "raw_reply": None,
                "prompt_hash": prompt_hash(prompt),
                "prompt_tokens": scored.prompt_tokens,
                "completion_tokens": None,
            }
        )
    return rows


def score_instructions(
    model: ChatModel,
    instructions: pl.DataFrame,
    *,
    scorer: str,
    mode: ScoreMode = "generate",
    sampling: SamplingParams | None = None,
    seed: int = 0,
    skip_own: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Rate each instruction (columns instruction_id, instruction, miner) with one batched call.

    Rows mined by ``scorer`` are skipped unless ``skip_own=False`` (then ``miner`` is optional).
    ``sampling`` applies to generate mode (default greedy, 512 tokens); each row's seed is
    derived from (seed, scorer, instruction_id). Logprob-mode rows have no reply and no
    completion tokens; their prompt_tokens is the rendered prompt's length. Returns the ``instruction_scores`` columns.
    """
    if not isinstance(scorer, str) or not scorer:
        raise InputError(f"scorer must be a non-empty slug, got {scorer!r}")
    if mode not in ("generate", "logprob"):
        raise InputError(f"scoring mode must be 'generate' or 'logprob', got {mode!r}")
    todo = _instructions_to_score(instructions, scorer, skip_own)
    ids, texts = todo["instruction_id"].to_list(), todo["instruction"].to_list()
    if progress:
        progress(0, len(ids))
    if not ids:
        rows = []
    elif mode == "generate":
        rows = _score_generate(
            model, ids, texts, scorer, sampling or DEFAULT_SCORING_SAMPLING, seed
        )
    else:
        rows = _score_logprob(model, ids, texts)
    if progress:
        progress(len(ids), len(ids))
    for row in rows:
        row["scorer"] = scorer
        row["mode"] = mode
    return pl.DataFrame(rows, schema=SCORES_SCHEMA)
