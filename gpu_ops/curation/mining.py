"""Magpie-style instruction mining: a chat model completes an empty user turn with a question.

The model gets only its own chat template's system turn plus the opening of a user turn
(``model.render_prequery``) and writes what a user would ask, stopping at its end-of-turn string.
Raw text is kept exactly as generated: cleaning and filtering happen later in SQL, where every
dropped row keeps its reason. The one judgement made here is a world's (`reserved_reason`: the
instruction is training data of the judges), since SQL cannot ask a world plugin; the cleaning
drops such rows with the reason `reserved`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.ids import content_id, derive_seed, prompt_hash
from gpu_ops.lake_schemas import LAKE_SCHEMAS
from gpu_ops.llm import ChatModel, SamplingParams
from gpu_ops.prompts import mining_system_prompt

MINED_SCHEMA = LAKE_SCHEMAS["instructions_mined"]


@dataclass(frozen=True)
class MiningSetting:
    """One point of the sampling grid (paper: T=1.0..1.2, top_p 0.99..1.0, up to 2048 tokens)."""

    setting_id: str
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 2048

    def __post_init__(self) -> None:
        if not isinstance(self.setting_id, str) or not self.setting_id:
            raise InputError(f"setting_id must be a non-empty string, got {self.setting_id!r}")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise InputError(f"{self.setting_id}: temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InputError(f"{self.setting_id}: top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise InputError(f"{self.setting_id}: max_new_tokens must be >= 1")


@dataclass(frozen=True)
class _Sample:
    language: str
    setting: MiningSetting
    sample_index: int
    seed: int
    mined_id: str
    prompt: str


def _plan(
    model: ChatModel,
    *,
    expert: str,
    languages: Sequence[str],
    sampling_grid: Sequence[MiningSetting],
    samples_per_setting: int,
    seed: int,
    system_prompts: Mapping[str, str | None] | None,
) -> list[_Sample]:
    prompts = {}
    for language in languages:
        system = (
            system_prompts[language]
            if system_prompts is not None and language in system_prompts
            else mining_system_prompt(language)
        )
        prompts[language] = model.render_prequery(system)
    samples = []
    for language in languages:
        for setting in sampling_grid:
            for index in range(samples_per_setting):
                key = (seed, expert, language, setting.setting_id, index)
                samples.append(
                    _Sample(
                        language=language,
                        setting=setting,
                        sample_index=index,
                        seed=derive_seed("mining", *key),
                        mined_id=content_id("mined", *key),
                        prompt=prompts[language],
                    )
                )
    return samples


def _validate(
    expert: str, languages: Sequence[str], grid: Sequence[MiningSetting], samples_per_setting: int
) -> None:
    if not isinstance(expert, str) or not expert:
        raise InputError(f"expert must be a non-empty slug, got {expert!r}")
    if isinstance(languages, str) or not languages:
        raise InputError(f"languages must be a non-empty list of names, got {languages!r}")
    if len(set(languages)) != len(languages):
        raise InputError(f"languages repeat: {list(languages)}")
    if not grid or not all(isinstance(s, MiningSetting) for s in grid):
        raise InputError("sampling_grid must be a non-empty sequence of MiningSetting")
    ids = [s.setting_id for s in grid]
    if len(set(ids)) != len(ids):
        raise InputError(f"setting ids repeat: {ids}")
    if not isinstance(samples_per_setting, int) or samples_per_setting < 1:
        raise InputError(f"samples_per_setting must be a positive int, got {samples_per_setting!r}")


def mine_instructions(
    model: ChatModel,
    *,
    expert: str,
    languages: Sequence[str],
    sampling_grid: Sequence[MiningSetting],
    samples_per_setting: int,
    seed: int = 0,
    system_prompts: Mapping[str, str | None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    reserved_reason: Callable[[str], str | None] | None = None,
) -> pl.DataFrame:
    """Mine ``len(languages) * len(sampling_grid) * samples_per_setting`` raw instructions.

    ``system_prompts`` overrides the paper's system prompt for the languages it names; None
    falls back to the model's default system prompt (some families, e.g. Qwen2.5, need theirs).
    One batched model call; each sample's seed is derived from
    (seed, expert, language, setting_id, sample_index)
    so reruns reproduce the same rows and the same call-cache keys.
    ``reserved_reason`` (``gpu_ops.worlds.reserved_reasons``) fills the ``reserved_reason``
    column: why a world keeps the text out of the arena, or null.
    """
    _validate(expert, languages, sampling_grid, samples_per_setting)
    samples = _plan(
        model,
        expert=expert,
        languages=languages,
        sampling_grid=sampling_grid,
        samples_per_setting=samples_per_setting,
        seed=seed,
        system_prompts=system_prompts,
    )
    stop = tuple(model.stop_strings)
    params = [
        SamplingParams(
            temperature=s.setting.temperature,
            top_p=s.setting.top_p,
            max_new_tokens=s.setting.max_new_tokens,
            stop=stop,
            seed=s.seed,
        )
        for s in samples
    ]
    if progress:
        progress(0, len(samples))
    generations = model.generate([s.prompt for s in samples], params)
    if len(generations) != len(samples):
        raise RuntimeError(
            f"model returned {len(generations)} generations for {len(samples)} prompts"
        )
    if progress:
        progress(len(samples), len(samples))
    model_id = model.identity
    hashes = {p: prompt_hash(p) for p in {s.prompt for s in samples}}
    rows = [
        {
            "mined_id": s.mined_id,
            "expert": expert,
            "language": s.language,
            "setting_id": s.setting.setting_id,
            "temperature": float(s.setting.temperature),
            "top_p": float(s.setting.top_p),
            "max_new_tokens": s.setting.max_new_tokens,
            "seed": s.seed,
            "sample_index": s.sample_index,
            "model_id": model_id,
            "prompt_hash": hashes[s.prompt],
            "raw_text": g.text,
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens,
            "finish_reason": g.finish_reason,
            "reserved_reason": reserved_reason(g.text) if reserved_reason else None,
        }
        for s, g in zip(samples, generations, strict=True)
    ]
    return pl.DataFrame(rows, schema=MINED_SCHEMA)
