"""Every lake table's schema, declared once: the columns and types its Parquet files hold.

The Python stages build their frames from these schemas, `wc_foundation.storage.write_lake_table`
enforces them at write time (a missing or extra column, or a value that does not fit its type,
fails the write with the table and column named), and the dbt side is generated from them:
`scripts/generate_lake_sources.py` writes the sources (`dbt_project/models/_lake__sources.yml`,
with each table's and column's description from here) and the staging views' casts (`stg_*.sql`);
a test fails when the committed files differ from what it would write.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# When a row first reached the lake (UTC). Tables that declare it are stamped by
# `write_lake_table`: a row identical to one already in the partition file keeps its time, new or
# changed rows get the write's time. Incremental marts read only rows newer than their last build.
FIRST_SEEN = "first_seen_at"
FIRST_SEEN_TYPE = pl.Datetime("us")


@dataclass(frozen=True)
class Column:
    """One lake column: its type and what it holds (the dbt source's description)."""

    dtype: pl.DataType
    description: str


@dataclass(frozen=True)
class LakeTable:
    """One lake table: what a row is, and its columns in order."""

    description: str
    columns: dict[str, Column]


# The quality flags of a response (definitions: gpu_ops.curation.output_quality).
FLAG_PREFIX = "Quality flag (gpu_ops.curation.output_quality): "
RESPONSE_FLAG_DESCRIPTIONS: dict[str, str] = {
    "empty": "Only whitespace or nothing.",
    "enormous": "More than MAX_RESPONSE_CHARS code points.",
    "truncated": "The backend stopped at max_new_tokens (finish_reason length).",
    "nul_bytes": "Contains U+0000.",
    "replacement_chars": "Contains U+FFFD (undecodable bytes) or had a lone surrogate.",
    "control_chars": (
        "C0/C1 control characters other than tab, newline, carriage return (ANSI escapes count)."
    ),
    "injection_phrase": "Text addressed to the judge (an INJECTION_PATTERNS match).",
    "verdict_token": "A verdict token [[A]], [[B]] or [[Tie]] anywhere.",
    "verdict_in_code": "A verdict token inside a fenced code block.",
    "judge_injection": "injection_phrase or verdict_token.",
}

LAKE_TABLES: dict[str, LakeTable] = {
    "expert_registry": LakeTable(
        "One row per configured expert (from the config), enabled or not.",
        {
            "expert": Column(
                pl.String, "Expert slug (unique, no `/`); the partition key of per-expert tables."
            ),
            "model": Column(pl.String, "Model path or hub id the backend loads."),
            "backend": Column(pl.String, "Inference backend (transformers, vllm, openai)."),
            "family": Column(pl.String, "Model family (chat template family), e.g. llama, qwen."),
            "roles": Column(
                pl.List(pl.String),
                "Roles the expert plays (miner, scorer, competitor, judge).",
            ),
            "enabled": Column(
                pl.Boolean,
                "False keeps the expert's data but takes it out of battles, ratings and winners.",
            ),
            "config_hash": Column(pl.String, "Content hash of the expert's config entry."),
            "joined_generation": Column(
                pl.Int64,
                (
                    "The run in which the expert joined (0 = the first); new judges use it to tell "
                    "existing battles."
                ),
            ),
        },
    ),
    "instructions_mined": LakeTable(
        "Raw instructions mined Magpie-style, one file per miner expert.",
        {
            "mined_id": Column(
                pl.String, "Content hash of the mining call; becomes instruction_id."
            ),
            "expert": Column(pl.String, "Miner expert slug."),
            "language": Column(
                pl.String, "Programming language named in the mining system prompt."
            ),
            "setting_id": Column(
                pl.String, "Id of the sampling setting (temperature/top-p combination)."
            ),
            "temperature": Column(pl.Float64, "Sampling temperature."),
            "top_p": Column(pl.Float64, "Nucleus sampling top-p."),
            "max_new_tokens": Column(pl.Int64, "Generation length limit."),
            "seed": Column(pl.Int64, "Sampling seed."),
            "sample_index": Column(pl.Int64, "Index of the sample within the setting."),
            "model_id": Column(pl.String, "Identity of the model that generated the text."),
            "prompt_hash": Column(pl.String, "Hash of the pre-query prompt."),
            "raw_text": Column(pl.String, "Generated text, unstripped."),
            "prompt_tokens": Column(pl.Int64, "Prompt tokens of the call."),
            "completion_tokens": Column(pl.Int64, "Completion tokens of the call."),
            "finish_reason": Column(
                pl.String, "`stop` (end of turn) or `length` (hit max_new_tokens)."
            ),
            "reserved_reason": Column(
                pl.String,
                "Why a world of mining.reserved_worlds keeps the text out of the arena "
                "(`<world>: <reason>`, e.g. the judges' training data); null otherwise.",
            ),
        },
    ),
    # gpu_ops.curation.dedup.survivors_table: the dedup groups, computed once, in Python
    "instruction_survivors": LakeTable(
        (
            "Each clean instruction mapped to the instruction that survives deduplication for it "
            "(itself when it survives), computed by the dedup stage in Python "
            "(gpu_ops.curation.dedup.find_duplicate_groups): exact copies and MinHash-LSH near "
            "duplicates, grouped by connected components, an earlier generation never displaced."
        ),
        {
            "instruction_id": Column(
                pl.String, "Instruction id (instructions_clean.instruction_id)."
            ),
            "survivor_id": Column(
                pl.String, "The instruction kept for this one's group (itself when it survives)."
            ),
            "reason": Column(
                pl.String,
                "`survivor`, `exact` (same normalized text as its survivor) or `near` (MinHash).",
            ),
            "estimated_jaccard": Column(
                pl.Float64, "Share of equal MinHash slots with its survivor (1 for survivors)."
            ),
            "generation": Column(
                pl.Int64, "Its miner's joined_generation (0 for the first run's experts)."
            ),
        },
    ),
    "instruction_scores": LakeTable(
        "Difficulty/quality scores, one file per scorer expert.",
        {
            "instruction_id": Column(pl.String, "Scored instruction."),
            "scorer": Column(pl.String, "Scorer expert slug."),
            "mode": Column(
                pl.String, "`generate` (parse [[n]]) or `logprob` (expected score over 1..10)."
            ),
            "score": Column(pl.Int64, "Parsed integer score 1..10, null when unparsed."),
            "expected_score": Column(
                pl.Float64, "Probability-weighted score (logprob mode), null otherwise."
            ),
            "parsed": Column(pl.Boolean, "Whether a score could be read from the reply."),
            "raw_reply": Column(pl.String, "The scorer's reply text."),
            "prompt_hash": Column(pl.String, "Hash of the scoring prompt."),
            "prompt_tokens": Column(pl.Int64, "Prompt tokens of the call."),
            "completion_tokens": Column(pl.Int64, "Completion tokens of the call."),
        },
    ),
    "instruction_embeddings": LakeTable(
        "Sentence embeddings of kept instructions.",
        {
            "instruction_id": Column(pl.String, "Embedded instruction."),
            "model": Column(pl.String, "Embedding model name."),
            "embedding": Column(pl.List(pl.Float32), "L2-normalized embedding (list<float32>)."),
        },
    ),
    "instructions_selected": LakeTable(
        "KCenterGreedy picks, in pick order.",
        {
            "instruction_id": Column(pl.String, "Selected instruction."),
            "selection_rank": Column(
                pl.Int64, "0-based pick order (a bigger budget only appends)."
            ),
            "coverage_radius": Column(
                pl.Float64,
                "Largest distance of any kept instruction to the picked set after this pick.",
            ),
            "embedding_model": Column(pl.String, "Embedding model used for the selection."),
        },
    ),
    "responses": LakeTable(
        "Every competitor's answer to each selected instruction, one file per competitor expert.",
        {
            "instruction_id": Column(pl.String, "Answered instruction."),
            "expert": Column(
                pl.String, "Competitor expert slug (the expert that wrote the response)."
            ),
            "response": Column(pl.String, "Response text."),
            "model_id": Column(pl.String, "Identity of the model that answered."),
            "temperature": Column(pl.Float64, "Sampling temperature."),
            "top_p": Column(pl.Float64, "Nucleus sampling top-p."),
            "seed": Column(pl.Int64, "Sampling seed."),
            "prompt_hash": Column(pl.String, "Hash of the response prompt."),
            "prompt_tokens": Column(pl.Int64, "Prompt tokens of the call."),
            "completion_tokens": Column(pl.Int64, "Completion tokens of the call."),
            "finish_reason": Column(pl.String, "`stop` or `length`."),
            # gpu_ops.curation.output_quality's flags, computed once when the response is written
            **{
                f"flag_{name}": Column(pl.Boolean, FLAG_PREFIX + text)
                for name, text in RESPONSE_FLAG_DESCRIPTIONS.items()
            },
        },
    ),
    "judgments": LakeTable(
        "Pairwise verdicts of uninvolved judges, both presentation orders, one file per judge.",
        {
            "instruction_id": Column(pl.String, "Instruction of the battle."),
            "judge": Column(pl.String, "Judge expert slug (neither model_a nor model_b)."),
            "model_a": Column(pl.String, "First competitor, model_a < model_b."),
            "model_b": Column(pl.String, "Second competitor."),
            "shown_first": Column(pl.String, "Competitor shown as assistant A."),
            "shown_second": Column(pl.String, "Competitor shown as assistant B."),
            "order": Column(pl.String, "`ab` (model_a shown first) or `ba`."),
            "mode": Column(pl.String, "`logprob`, `generate` or `likelihood`."),
            "verdict": Column(
                pl.String,
                "`first`, `second`, `tie` or `invalid` (position of the preferred response).",
            ),
            "p_first": Column(pl.Float64, "Probability of `first` (logprob mode)."),
            "p_second": Column(pl.Float64, "Probability of `second` (logprob mode)."),
            "p_tie": Column(pl.Float64, "Probability of `tie` (logprob mode)."),
            "raw_reply": Column(pl.String, "The judge's reply text."),
            "prompt_hash": Column(pl.String, "Hash of the judging prompt."),
            "prompt_tokens": Column(
                pl.Int64, "Prompt tokens the judge read (the rendered judge prompt, either mode)."
            ),
            "completion_tokens": Column(pl.Int64, "Completion tokens of the call."),
            FIRST_SEEN: Column(
                FIRST_SEEN_TYPE,
                (
                    "When this exact vote first reached the lake (UTC); a rewrite keeps it for "
                    "unchanged rows. battle_votes reads only votes newer than its last build."
                ),
            ),
        },
    ),
    "judging_schedule": LakeTable(
        "LLM judge calls per judge: spent, and what `battles.schedule: full` needs (written by "
        "the judgments asset beside `judgments`; `warriorcoder run` prints the totals).",
        {
            "judge": Column(pl.String, "Judge slug (one row and one file per judge)."),
            "schedule": Column(pl.String, "`full` or `adaptive` (battles.schedule of the run)."),
            "battles_full": Column(pl.Int64, "Battles the full schedule gives this judge."),
            "battles_judged": Column(pl.Int64, "Battles this judge voted on."),
            "calls_full": Column(
                pl.Int64, "LLM calls the full schedule needs (battles x presentation orders)."
            ),
            "calls_spent": Column(
                pl.Int64, "LLM calls of this judge's votes (a re-asked prompt is a cache hit)."
            ),
        },
    ),
    "battle_judges": LakeTable(
        "Under `battles.schedule: adaptive`, one row per battle a judge voted on, with the judges "
        "the full schedule asks for it: battle_votes weighs the battle's LLM votes by "
        "judges_full / judges asked (written by the judgments asset; empty under `full`).",
        {
            "instruction_id": Column(pl.String, "Instruction of the battle."),
            "model_a": Column(pl.String, "First competitor, model_a < model_b."),
            "model_b": Column(pl.String, "Second competitor."),
            "judge": Column(pl.String, "The judge that voted on the battle (one file per judge)."),
            "judges_full": Column(pl.Int64, "Judges the full schedule asks for this battle."),
            FIRST_SEEN: Column(
                FIRST_SEEN_TYPE,
                (
                    "When this row first reached the lake (UTC); a rewrite keeps it for unchanged "
                    "rows. battle_votes re-weighs the battles of rows newer than its last build."
                ),
            ),
        },
    ),
    "judge_reliability": LakeTable(
        "One row per LLM judge: its accuracy estimated from the judges' agreement alone "
        "(Dawid-Skene EM over the battles two or more judges voted on; "
        "gpu_ops.arena.judge_reliability) and the weight battle_votes gives its votes (written by "
        "the judge_reliability asset; the weight is 1 unless `judging.aggregate: reliability`).",
        {
            "judge": Column(pl.String, "Judge slug (an enabled LLM judge with votes)."),
            "battles": Column(pl.Int64, "Battles the judge gave a valid verdict on."),
            "shared_battles": Column(
                pl.Int64, "Of those, battles another judge also voted on (what EM learns from)."
            ),
            "estimated": Column(
                pl.Boolean,
                "False when the judge shares no battle with another judge: prior weight 1.",
            ),
            "accuracy": Column(
                pl.Float64,
                "Estimated P(its decisive verdict names the better response); null if not "
                "estimated. 0.5 is chance (e.g. always the first position).",
            ),
            "log_odds": Column(
                pl.Float64, "log(accuracy / (1 - accuracy)) clipped at 0; null if not estimated."
            ),
            "reliability_weight": Column(
                pl.Float64,
                "log_odds divided by its mean over the estimated judges (1 if not estimated, "
                "or if no judge is above chance).",
            ),
            "aggregate": Column(
                pl.String, "judging.aggregate of the run: `vote` or `reliability`."
            ),
            "weight": Column(
                pl.Float64,
                "What battle_votes multiplies the judge's LLM votes by: reliability_weight under "
                "`reliability`, 1 under `vote`.",
            ),
            "note": Column(pl.String, "How the weight was obtained, or why it is the prior."),
        },
    ),
    "execution_results": LakeTable(
        "Sandboxed execution of each response's code, one file per competitor expert.",
        {
            "instruction_id": Column(pl.String, "Instruction answered."),
            "expert": Column(
                pl.String, "Competitor expert slug (the expert that wrote the response)."
            ),
            "has_code": Column(pl.Boolean, "Whether the response contains a code block."),
            "parses": Column(pl.Boolean, "Whether the code parses."),
            "runs": Column(pl.Boolean, "Whether the code runs without error."),
            "tests_found": Column(pl.Int64, "Number of tests found."),
            "tests_passed": Column(pl.Int64, "Number of tests passed."),
            "exec_score": Column(
                pl.Float64, "Execution score in [0, 1]; null when there is nothing to execute."
            ),
            "error_kind": Column(pl.String, "Error class when it failed."),
            "isolation": Column(
                pl.String,
                (
                    "Sandbox isolation tier the code ran under (full unless weaker was allowed); "
                    "null when nothing ran."
                ),
            ),
            FIRST_SEEN: Column(
                FIRST_SEEN_TYPE,
                (
                    "When this exact result first reached the lake (UTC); a rewrite keeps it for "
                    "unchanged rows. battle_votes recomputes only execution votes newer than its "
                    "last build."
                ),
            ),
        },
    ),
    "expert_ratings": LakeTable(
        "Global ratings (Bradley-Terry with bootstrap CIs, and online Elo).",
        {
            "expert": Column(pl.String, "Rated expert."),
            "method": Column(pl.String, "`bt` or `elo`."),
            "rating": Column(pl.Float64, "Rating on the Elo scale."),
            "rating_online": Column(
                pl.Float64,
                (
                    "Elo only, the single online pass in battle order (the paper's script); rating "
                    "is the bootstrap median. Null for BT."
                ),
            ),
            "ci_lower": Column(pl.Float64, "Lower bound of the bootstrap confidence interval."),
            "ci_upper": Column(pl.Float64, "Upper bound of the bootstrap confidence interval."),
            "rank_ci": Column(
                pl.Int64,
                (
                    "1 + the number of experts (same method) whose lower bound exceeds this one's "
                    "upper bound; null without intervals."
                ),
            ),
            "games": Column(pl.Int64, "Votes the expert took part in (a count)."),
            "wins": Column(pl.Int64, "Votes won (a count)."),
            "losses": Column(pl.Int64, "Votes lost (a count)."),
            "ties": Column(pl.Int64, "Tied votes (a count)."),
            "weighted_games": Column(pl.Float64, "Total weight of the expert's votes."),
            "win_rate": Column(pl.Float64, "(wins + ties / 2) / games, by weight."),
            "record": Column(
                pl.String,
                (
                    "`undefeated` / `winless` (won or lost every vote it was in), "
                    "`undefeated-group` / `winless-group` / `unanchored-group` (outside the "
                    "strongly connected core of the won-or-tied graph): its rating is unbounded "
                    "on that side; null otherwise."
                ),
            ),
        },
    ),
    "sft_winners": LakeTable(
        "The winning response of each selected instruction (the SFT target).",
        {
            "instruction_id": Column(pl.String, "Instruction."),
            "instruction": Column(pl.String, "Instruction text."),
            "miner": Column(pl.String, "Expert that mined the instruction."),
            "winner": Column(pl.String, "Expert whose response won."),
            "response": Column(pl.String, "Winning response."),
            "winner_score": Column(pl.Float64, "e_i of the winner."),
            "runner_up": Column(pl.String, "Second best expert."),
            "runner_up_score": Column(pl.Float64, "e_i of the runner-up."),
            "global_component": Column(
                pl.Float64, "alpha-weighted global part of the winner's score."
            ),
            "local_component": Column(
                pl.Float64, "(1 - alpha)-weighted local part of the winner's score."
            ),
            "votes_for": Column(pl.Float64, "Votes the winner got on this instruction."),
            "votes_against": Column(pl.Float64, "Votes against the winner on this instruction."),
            "rating_method": Column(pl.String, "Rating used for P_global (bt or elo)."),
            "alpha": Column(pl.Float64, "Weight of the global score."),
        },
    ),
    "preference_pairs": LakeTable(
        "Decided battles as preference pairs: the winner's response chosen, the loser's rejected.",
        {
            "instruction_id": Column(pl.String, "Instruction (the prompt)."),
            "instruction": Column(pl.String, "Instruction text."),
            "chosen_model": Column(pl.String, "Expert whose response won the battle."),
            "rejected_model": Column(pl.String, "Expert whose response lost it."),
            "chosen": Column(pl.String, "Winning response."),
            "rejected": Column(pl.String, "Losing response."),
            "margin": Column(
                pl.Float64, "(votes for chosen - votes for rejected) / all votes, ties included."
            ),
            "votes_chosen": Column(pl.Float64, "Weighted votes for the chosen response."),
            "votes_rejected": Column(pl.Float64, "Weighted votes for the rejected response."),
            "ties": Column(pl.Float64, "Weighted tie votes."),
            "judges": Column(pl.List(pl.String), "Judges with a valid vote on the battle."),
            "exec_score_chosen": Column(
                pl.Float64, "Execution score of the chosen response; null without one."
            ),
            "exec_score_rejected": Column(
                pl.Float64, "Execution score of the rejected response; null without one."
            ),
        },
    ),
    "sft_decontamination": LakeTable(
        "N-gram overlaps of SFT rows with benchmark problems.",
        {
            "instruction_id": Column(pl.String, "Contaminated SFT row."),
            "field": Column(pl.String, "Field that overlaps (instruction or response)."),
            "benchmark": Column(pl.String, "Benchmark name."),
            "task_id": Column(pl.String, "Benchmark task id."),
            "overlapping_ngrams": Column(pl.Int64, "Number of shared n-grams."),
            "ngram_size": Column(pl.Int64, "n."),
        },
    ),
    "evaluation_results": LakeTable(
        "Per-sample benchmark results of evaluated models.",
        {
            "model_label": Column(pl.String, "Label of the evaluated model (e.g. base, sft)."),
            "model_path": Column(pl.String, "Path of the evaluated model."),
            "benchmark": Column(pl.String, "Benchmark name."),
            "task_id": Column(pl.String, "Benchmark task id."),
            "sample_index": Column(pl.Int64, "Sample index within the task."),
            "passed": Column(pl.Boolean, "Whether the sample passed all tests."),
            "error_kind": Column(pl.String, "Error class when it failed."),
            "isolation": Column(
                pl.String,
                "Sandbox isolation tier the completion ran under (full unless weaker was allowed).",
            ),
        },
    ),
}
RESPONSE_FLAGS: tuple[str, ...] = tuple(RESPONSE_FLAG_DESCRIPTIONS)

LAKE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    table: {name: column.dtype for name, column in declared.columns.items()}
    for table, declared in LAKE_TABLES.items()
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
