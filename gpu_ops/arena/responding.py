"""Responses: every competing expert answers each selected instruction."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from gpu_ops.curation.output_quality import with_quality_flags
from gpu_ops.errors import InputError
from gpu_ops.ids import derive_seed, prompt_hash, require_columns, require_unique
from gpu_ops.lake_schemas import LAKE_SCHEMAS
from gpu_ops.llm import ChatModel, SamplingParams

RESPONSES_SCHEMA = LAKE_SCHEMAS["responses"]

# Paper: responses sampled at T=1.0, top_p=0.95.
PAPER_RESPONSE_SAMPLING = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=2048)


def response_messages(instruction: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The conversation an expert answers: an optional system turn, then the instruction."""
    if not isinstance(instruction, str):
        raise InputError(f"instruction must be a string, got {type(instruction).__name__}")
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, {"role": "user", "content": instruction}]


def generate_responses(
    model: ChatModel,
    instructions: pl.DataFrame,
    *,
    expert: str,
    sampling: SamplingParams | None = None,
    seed: int = 0,
    system_prompt: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Answer each instruction (columns instruction_id, instruction) with one batched chat call.

    Each row's seed is derived from (seed, expert, instruction_id), so a rerun or a resumed run
    reproduces the same responses (and hits the call cache). Returns the ``responses`` columns.
    """
    if not isinstance(expert, str) or not expert:
        raise InputError(f"expert must be a non-empty slug, got {expert!r}")
    require_columns(instructions, ["instruction_id", "instruction"], "instructions")
    require_unique(instructions, ["instruction_id"], "instructions")
    if instructions["instruction"].null_count():
        raise InputError("instructions has null instruction texts")
    sampling = sampling or PAPER_RESPONSE_SAMPLING
    ids = instructions["instruction_id"].to_list()
    conversations = [response_messages(t, system_prompt) for t in instructions["instruction"]]
    seeds = [derive_seed("response", seed, expert, instruction_id) for instruction_id in ids]
    params = [sampling.with_seed(row_seed) for row_seed in seeds]
    if progress:
        progress(0, len(ids))
    generations = model.chat(conversations, params) if ids else []
    if progress:
        progress(len(ids), len(ids))
    model_id = model.identity
    rows = [
        {
            "instruction_id": instruction_id,
            "expert": expert,
            "response": g.text,
            "model_id": model_id,
            "temperature": float(sampling.temperature),
            "top_p": float(sampling.top_p),
            "seed": row_seed,
            "prompt_hash": prompt_hash(messages),
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens,
            "finish_reason": g.finish_reason,
        }
        for instruction_id, row_seed, messages, g in zip(
            ids, seeds, conversations, generations, strict=True
        )
    ]
    frame = pl.DataFrame(
        rows, schema={k: v for k, v in RESPONSES_SCHEMA.items() if not k.startswith("flag_")}
    )
    return with_quality_flags(frame).select(list(RESPONSES_SCHEMA))
