"""Preference pairs from the battles: the winner's response chosen, the loser's rejected.

SFT on the winners keeps one response per instruction and throws the battle's verdict away; a
preference pair keeps both sides and the evidence. Only decided battles become pairs:

- the LLM votes of each presentation order (`ab`: model_a shown first, `ba`: model_b first)
  name the same winner as all votes together (execution included): a verdict that flips with
  the order is position bias, not preference;
- the margin, (votes for the winner - votes for the loser) / all votes with ties, reaches
  `min_margin`.

The export is TRL's conversational preference format (`prompt`, `chosen`, `rejected` as chat
messages; extra columns are allowed), which `datasets.load_dataset("json")` and TRL's
`DPOTrainer` read as they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from gpu_ops.errors import InputError
from gpu_ops.frames import as_polars, require_columns
from gpu_ops.sft_data.sft_export import MESSAGE, _format_value, write_dataset_files

INPUT_COLUMNS = (
    "instruction_id",
    "model_a",
    "model_b",
    "votes_a",
    "votes_b",
    "ties",
    "ab_votes_a",
    "ab_votes_b",
    "ba_votes_a",
    "ba_votes_b",
    "judges",
    "exec_score_a",
    "exec_score_b",
)
PAIR_COLUMNS = (
    "instruction_id",
    "chosen_model",
    "rejected_model",
    "margin",
    "votes_chosen",
    "votes_rejected",
    "ties",
    "judges",
    "exec_score_chosen",
    "exec_score_rejected",
)
JSONL_NAME = "preference_pairs.jsonl"
PARQUET_NAME = "preference_pairs.parquet"
CARD_NAME = "preference_pairs.README.md"
PARQUET_SCHEMA = pa.schema(
    [
        ("prompt", pa.list_(MESSAGE)),
        ("chosen", pa.list_(MESSAGE)),
        ("rejected", pa.list_(MESSAGE)),
        ("instruction_id", pa.string()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("margin", pa.float64()),
        ("votes_chosen", pa.float64()),
        ("votes_rejected", pa.float64()),
        ("ties", pa.float64()),
        ("judges", pa.list_(pa.string())),
        ("exec_score_chosen", pa.float64()),
        ("exec_score_rejected", pa.float64()),
    ]
)
HISTOGRAM_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def decided_pairs(battles: Any, *, min_margin: float) -> pl.DataFrame:
    """The decided battles, oriented winner (chosen) over loser (rejected); PAIR_COLUMNS.

    battles: the `preference_inputs` mart (INPUT_COLUMNS; judges comma-separated).
    """
    if not 0.0 < min_margin <= 1.0:
        raise InputError(f"min_margin must be in (0, 1], got {min_margin}")
    frame = as_polars(battles, "battles")
    require_columns(frame, INPUT_COLUMNS, "battles")
    net = pl.col("votes_a") - pl.col("votes_b")
    total = pl.col("votes_a") + pl.col("votes_b") + pl.col("ties")
    sign = net.sign()
    a_wins = pl.col("votes_a") > pl.col("votes_b")
    frame = frame.with_columns(
        margin=pl.when(total > 0).then(net.abs() / total).otherwise(0.0),
        orders_agree=(sign != 0)
        & ((pl.col("ab_votes_a") - pl.col("ab_votes_b")).sign() == sign)
        & ((pl.col("ba_votes_a") - pl.col("ba_votes_b")).sign() == sign),
    )
    kept = frame.filter(pl.col("orders_agree") & (pl.col("margin") >= min_margin - 1e-12))

    def side(a: str, b: str, winner: bool) -> pl.Expr:
        return pl.when(a_wins == winner).then(pl.col(a)).otherwise(pl.col(b))

    return kept.select(
        pl.col("instruction_id").cast(pl.String),
        side("model_a", "model_b", True).cast(pl.String).alias("chosen_model"),
        side("model_a", "model_b", False).cast(pl.String).alias("rejected_model"),
        pl.col("margin").cast(pl.Float64),
        side("votes_a", "votes_b", True).cast(pl.Float64).alias("votes_chosen"),
        side("votes_a", "votes_b", False).cast(pl.Float64).alias("votes_rejected"),
        pl.col("ties").cast(pl.Float64),
        pl.col("judges")
        .cast(pl.String)
        .str.split(",")
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("judges"),
        side("exec_score_a", "exec_score_b", True).cast(pl.Float64).alias("exec_score_chosen"),
        side("exec_score_a", "exec_score_b", False).cast(pl.Float64).alias("exec_score_rejected"),
    ).sort("instruction_id", "chosen_model", "rejected_model")


def with_texts(pairs: pl.DataFrame, texts: pl.DataFrame, responses: pl.DataFrame) -> pl.DataFrame:
    """Pairs with the instruction and both responses (texts: instruction_id, instruction;
    responses: instruction_id, expert, response). A pair missing a text is an error: the
    battle was judged on responses the lake must still hold."""
    require_columns(texts, ("instruction_id", "instruction"), "texts")
    require_columns(responses, ("instruction_id", "expert", "response"), "responses")
    answers = responses.select("instruction_id", "expert", "response")
    frame = (
        pairs.join(texts.select("instruction_id", "instruction"), on="instruction_id", how="left")
        .join(
            answers.rename({"expert": "chosen_model", "response": "chosen"}),
            on=["instruction_id", "chosen_model"],
            how="left",
        )
        .join(
            answers.rename({"expert": "rejected_model", "response": "rejected"}),
            on=["instruction_id", "rejected_model"],
            how="left",
        )
    )
    missing = frame.filter(pl.any_horizontal(pl.col("instruction", "chosen", "rejected").is_null()))
    if missing.height:
        raise InputError(
            f"{missing.height} preference pair(s) lack an instruction or response text, e.g. "
            f"{missing['instruction_id'].head(3).to_list()}: the lake's responses are incomplete"
        )
    return frame.select(
        "instruction_id",
        "instruction",
        "chosen_model",
        "rejected_model",
        "chosen",
        "rejected",
        *PAIR_COLUMNS[3:],
    )


def margin_histogram(pairs: pl.DataFrame) -> dict[str, int]:
    """Pair counts per margin bin, [0, 0.2), ..., [0.8, 1.0] (for the asset's metadata)."""
    edges = HISTOGRAM_BINS
    counts: dict[str, int] = {}
    margins = pairs["margin"].to_list() if len(pairs) else []
    for low, high in itertools.pairwise(edges):
        last = high == edges[-1]
        label = f"[{low:.1f}, {high:.1f}{']' if last else ')'}"
        counts[label] = sum(1 for m in margins if low <= m < high or (last and m == high))
    return counts


def to_records(pairs: pl.DataFrame, system: str | None = None) -> list[dict[str, Any]]:
    """TRL's conversational preference rows: prompt (user turn), chosen and rejected
    (assistant turns), and the evidence columns."""
    records = []
    for row in pairs.iter_rows(named=True):
        prompt = [] if not system else [{"role": "system", "content": system}]
        prompt.append({"role": "user", "content": row["instruction"]})
        records.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": row["chosen"]}],
                "rejected": [{"role": "assistant", "content": row["rejected"]}],
                **{column: row[column] for column in PAIR_COLUMNS if column != "judges"},
                "judges": list(row["judges"] or []),
            }
        )
    return records


def render_card(pairs: pl.DataFrame, card_info: Mapping[str, Any]) -> str:
    """Markdown dataset card: the format, how pairs were chosen, counts and settings."""
    wins = (
        pairs.group_by("chosen_model").len().sort(["len", "chosen_model"], descending=[True, False])
        if len(pairs)
        else pl.DataFrame({"chosen_model": [], "len": []})
    )
    lines = [
        "---",
        f"license: {card_info.get('license', 'other')}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {JSONL_NAME}",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- code",
        "- dpo",
        "- preference",
        "- warriorcoder",
        "---",
        "",
        "# WarriorCoder Arena preference pairs",
        "",
        "Battles of the arena as preference pairs: for an instruction, the response of the",
        "battle's winner is `chosen` and the loser's is `rejected`.",
        "",
        "## Format",
        "",
        "TRL's conversational preference format: `prompt` is a list of chat messages ending with",
        "the user's instruction; `chosen` and `rejected` are one assistant message each. Load it",
        f'with `datasets.load_dataset("json", data_files="{JSONL_NAME}")` (or the Parquet file)',
        "and pass it to TRL's `DPOTrainer` as it is. Extra columns, kept as evidence:",
        "",
        "- `instruction_id`, `chosen_model`, `rejected_model`: the battle",
        "- `margin`: (votes for chosen - votes for rejected) / all votes, ties included",
        "- `votes_chosen`, `votes_rejected`, `ties`: weighted votes of all judges",
        "- `judges`: the judges with a valid vote (`execution` is the sandboxed execution judge)",
        "- `exec_score_chosen`, `exec_score_rejected`: execution scores (null: no code ran)",
        "",
        "## Selection",
        "",
        "Only decided battles: the LLM votes of both presentation orders name the same winner as",
        f"all votes together, and the margin is at least {card_info.get('min_margin')}.",
        "Instructions overlapping a benchmark are dropped (decontaminated as the SFT data).",
        "",
        "## Contents",
        "",
        f"- pairs: {pairs.height}",
        f"- instructions: {pairs['instruction_id'].n_unique() if len(pairs) else 0}",
        f"- battles considered: {card_info.get('battles', 'unknown')}",
        f"- margin histogram: {_format_value(margin_histogram(pairs))}",
        "",
        "| chosen expert | pairs |",
        "| --- | --- |",
        *(f"| {name} | {count} |" for name, count in wins.iter_rows()),
        "",
        "## Decontamination",
        "",
        _format_value(card_info.get("decontamination", "not run")),
        "",
        "## Settings",
        "",
        _format_value(card_info.get("settings") or "(none given)"),
        "",
    ]
    return "\n".join(lines)


def export_preferences(
    pairs: pl.DataFrame, out_dir: str | Path, *, card_info: Mapping[str, Any]
) -> dict[str, Path]:
    """Write preference_pairs.jsonl, .parquet and the card into out_dir (each atomically)."""
    require_columns(pairs, ("instruction", "chosen", "rejected", *PAIR_COLUMNS), "pairs")
    return write_dataset_files(
        Path(out_dir),
        to_records(pairs),
        PARQUET_SCHEMA,
        render_card(pairs, card_info),
        names=(JSONL_NAME, PARQUET_NAME, CARD_NAME),
    )
