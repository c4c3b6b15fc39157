"""Every lake table's schema, declared once: the columns and types its Parquet files hold.

The Python stages build their frames from these schemas, `wc_foundation.storage.write_lake_table`
enforces them at write time (a missing or extra column, or a value that does not fit its type,
fails the write with the table and column named), and a test checks that the dbt sources
(`dbt_project/models/_lake__sources.yml`) list the same columns with the matching DuckDB types.
"""

from __future__ import annotations

import polars as pl

# When a row first reached the lake (UTC). Tables that declare it are stamped by
# `write_lake_table`: a row identical to one already in the partition file keeps its time, new or
# changed rows get the write's time. Incremental marts read only rows newer than their last build.
FIRST_SEEN = "first_seen_at"
FIRST_SEEN_TYPE = pl.Datetime("us")

# The quality flags of a response (definitions: gpu_ops.curation.output_quality).
RESPONSE_FLAGS: tuple[str, ...] = (
    "empty",
    "enormous",
    "truncated",
    "nul_bytes",
    "replacement_chars",
    "control_chars",
    "injection_phrase",
    "verdict_token",
    "verdict_in_code",
    "judge_injection",
)

LAKE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "expert_registry": {
        "expert": pl.String,
        "model": pl.String,
        "backend": pl.String,
        "family": pl.String,
        "roles": pl.List(pl.String),
        "enabled": pl.Boolean,
        "config_hash": pl.String,
        "joined_generation": pl.Int64,
    },
    "instructions_mined": {
        "mined_id": pl.String,
        "expert": pl.String,
        "language": pl.String,
        "setting_id": pl.String,
        "temperature": pl.Float64,
        "top_p": pl.Float64,
        "max_new_tokens": pl.Int64,
        "seed": pl.Int64,
        "sample_index": pl.Int64,
        "model_id": pl.String,
        "prompt_hash": pl.String,
        "raw_text": pl.String,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
        "finish_reason": pl.String,
    },
    # gpu_ops.curation.dedup.survivors_table: the dedup groups, computed once, in Python
    "instruction_survivors": {
        "instruction_id": pl.String,
        "survivor_id": pl.String,
        "reason": pl.String,
        "estimated_jaccard": pl.Float64,
        "generation": pl.Int64,
    },
    "instruction_scores": {
        "instruction_id": pl.String,
        "scorer": pl.String,
        "mode": pl.String,
        "score": pl.Int64,
        "expected_score": pl.Float64,
        "parsed": pl.Boolean,
        "raw_reply": pl.String,
        "prompt_hash": pl.String,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
    },
    "instruction_embeddings": {
        "instruction_id": pl.String,
        "model": pl.String,
        "embedding": pl.List(pl.Float32),
    },
    "instructions_selected": {
        "instruction_id": pl.String,
        "selection_rank": pl.Int64,
        "coverage_radius": pl.Float64,
        "embedding_model": pl.String,
    },
    "responses": {
        "instruction_id": pl.String,
        "expert": pl.String,
        "response": pl.String,
        "model_id": pl.String,
        "temperature": pl.Float64,
        "top_p": pl.Float64,
        "seed": pl.Int64,
        "prompt_hash": pl.String,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
        "finish_reason": pl.String,
        # gpu_ops.curation.output_quality's flags, computed once when the response is written
        **{f"flag_{name}": pl.Boolean for name in RESPONSE_FLAGS},
    },
    "judgments": {
        "instruction_id": pl.String,
        "judge": pl.String,
        "model_a": pl.String,
        "model_b": pl.String,
        "shown_first": pl.String,
        "shown_second": pl.String,
        "order": pl.String,
        "mode": pl.String,
        "verdict": pl.String,
        "p_first": pl.Float64,
        "p_second": pl.Float64,
        "p_tie": pl.Float64,
        "raw_reply": pl.String,
        "prompt_hash": pl.String,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
        FIRST_SEEN: FIRST_SEEN_TYPE,
    },
    "execution_results": {
        "instruction_id": pl.String,
        "expert": pl.String,
        "has_code": pl.Boolean,
        "parses": pl.Boolean,
        "runs": pl.Boolean,
        "tests_found": pl.Int64,
        "tests_passed": pl.Int64,
        "exec_score": pl.Float64,
        "error_kind": pl.String,
        "isolation": pl.String,
        FIRST_SEEN: FIRST_SEEN_TYPE,
    },
    "expert_ratings": {
        "expert": pl.String,
        "method": pl.String,
        "rating": pl.Float64,
        "rating_online": pl.Float64,
        "ci_lower": pl.Float64,
        "ci_upper": pl.Float64,
        "games": pl.Float64,
        "wins": pl.Float64,
        "losses": pl.Float64,
        "ties": pl.Float64,
        "win_rate": pl.Float64,
        "record": pl.String,
    },
    "sft_winners": {
        "instruction_id": pl.String,
        "instruction": pl.String,
        "miner": pl.String,
        "winner": pl.String,
        "response": pl.String,
        "winner_score": pl.Float64,
        "runner_up": pl.String,
        "runner_up_score": pl.Float64,
        "global_component": pl.Float64,
        "local_component": pl.Float64,
        "votes_for": pl.Float64,
        "votes_against": pl.Float64,
        "rating_method": pl.String,
        "alpha": pl.Float64,
    },
    "sft_decontamination": {
        "instruction_id": pl.String,
        "field": pl.String,
        "benchmark": pl.String,
        "task_id": pl.String,
        "overlapping_ngrams": pl.Int64,
        "ngram_size": pl.Int64,
    },
    "evaluation_results": {
        "model_label": pl.String,
        "model_path": pl.String,
        "benchmark": pl.String,
        "task_id": pl.String,
        "sample_index": pl.Int64,
        "passed": pl.Boolean,
        "error_kind": pl.String,
        "isolation": pl.String,
    },
}

_DUCKDB_TYPES: dict[pl.DataType, str] = {
    pl.String: "varchar",
    pl.Boolean: "boolean",
    pl.Int64: "bigint",
    pl.UInt32: "uinteger",
    pl.UInt64: "ubigint",
    pl.Float32: "float",
    pl.Float64: "double",
    pl.Datetime("us"): "timestamp",
}


def duckdb_type(dtype: pl.DataType) -> str:
    """The DuckDB type a Parquet column of this polars type reads as (lists as `inner[]`)."""
    if isinstance(dtype, pl.List):
        return duckdb_type(dtype.inner) + "[]"
    return _DUCKDB_TYPES[dtype]


def lake_schema(table: str) -> dict[str, pl.DataType]:
    """The declared schema of one lake table; a clear error for an unknown table."""
    try:
        return LAKE_SCHEMAS[table]
    except KeyError:
        raise KeyError(
            f"no schema declared for lake table {table!r}; declared: {sorted(LAKE_SCHEMAS)}"
        ) from None


def content_schema(table: str) -> dict[str, pl.DataType]:
    """The declared columns a stage writes: all but the storage's own FIRST_SEEN stamp."""
    return {name: dtype for name, dtype in lake_schema(table).items() if name != FIRST_SEEN}


def conform(table: str, frame: pl.DataFrame, *, content_only: bool = False) -> pl.DataFrame:
    """`frame` with exactly the declared columns, in order, cast to the declared types.

    Raises ValueError naming the table and the columns that are missing, extra, or hold values
    that do not fit the declared type (a cast never silently turns a value into null).
    `content_only` checks the columns a stage writes (without the FIRST_SEEN stamp)."""
    schema = content_schema(table) if content_only else lake_schema(table)
    missing = [name for name in schema if name not in frame.columns]
    extra = [name for name in frame.columns if name not in schema]
    if missing or extra:
        raise ValueError(
            f"lake table {table!r} does not match its declared schema: "
            f"missing columns {missing}, unexpected columns {extra}"
        )
    try:
        return frame.select(
            [pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()]
        )
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as error:
        raise ValueError(
            f"lake table {table!r}: a column does not fit its declared type: {error}"
        ) from error
