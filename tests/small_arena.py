"""A small arena on the demo experts, shared by the incremental, crash and parallel tests.

Three experts, four mined samples each, k = 6 selected instructions, logprob scoring and
judging plus the execution judge, every stage up to the SFT dataset. One uninterrupted run of
it (the `small_arena_reference` session fixture) is the reference the other tests compare to.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg

K = 6
SAMPLES = 4
EXPERTS = (
    ("text", "expert-text", True),
    ("lists", "expert-lists", True),
    ("numbers", "expert-numbers", True),
)
UP_TO_SFT = ["registry", "mining", "dedup", "scoring", "selection", "arena", "ratings", "sft_data"]
LAKE_TABLES = (
    "expert_registry",
    "instructions_mined",
    "instruction_survivors",
    "instruction_scores",
    "instruction_embeddings",
    "instructions_selected",
    "responses",
    "judgments",
    "execution_results",
    "expert_ratings",
    "sft_winners",
)


def arena_yaml(models: Path, experts=EXPERTS) -> str:
    """The config text; experts are (slug, demo model name, enabled)."""
    lines = ["experts:"]
    for slug, model, enabled in experts:
        lines.append(
            f"  - {{slug: {slug}, model: '{models}/demo/{model}', family: {slug}, batch_size: 32,"
            f" max_model_len: 2048, enabled: {str(enabled).lower()}}}"
        )
    lines += [
        "mining: {languages: [python], sampling_grid: [{temperature: 0.7, top_p: 0.95}],",
        f"         samples_per_setting: {SAMPLES}, max_new_tokens: 64, system_prompt: none}}",
        # world instructions share most words: the demo's dedup settings (configs/demo.yaml)
        "dedup: {threshold: 0.7, shingle_size: 3}",
        "scoring: {mode: logprob, min_score: 1}",
        f"selection: {{k: {K}}}",
        "responses: {temperature: 0.7, top_p: 0.95, max_new_tokens: 80}",
        "judging: {mode: logprob, execution: {enabled: true, timeout_s: 5}}",
        "ratings: {bootstrap_rounds: 20}",
    ]
    return "\n".join(lines) + "\n"


def calls_made(instance: dg.DagsterInstance, asset: str, run_ids: set[str]) -> dict[str, int]:
    """llm_calls_made per partition from the materializations of the given runs."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    made: dict[str, int] = {}
    for record in records:
        if record.run_id in run_ids:
            materialization = record.asset_materialization
            made[materialization.partition] = int(materialization.metadata["llm_calls_made"].value)
    return made


def cached_call_keys(cache_path: Path) -> set[str]:
    """Every call the LLM call cache holds (its content-hash keys)."""
    with sqlite3.connect(cache_path) as connection:
        return {row[0] for row in connection.execute("select key from calls")}
