"""Export the winning (instruction, response) pairs as a chat SFT dataset with a dataset card.

Writes three files into one folder, each atomically (temp file + os.replace, all temp files are
written before any is swapped in):
  sft_dataset.jsonl    one {"messages": [...], "instruction_id", "winner", "miner"} per line
  sft_dataset.parquet  the same columns (messages as list<struct<role, content>>), in the
                       standard Arrow types (string, list: not large_string / large_list), so
                       it concatenates with ordinary chat datasets without a cast
  README.md            a Hugging Face style dataset card (license, counts, experts, judges,
                       decontamination, row-quality filter, settings)
Both data files load with `datasets.load_dataset("json" | "parquet", data_files=...)`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from gpu_ops.errors import InputError

REQUIRED_COLUMNS = ("instruction_id", "instruction", "response", "winner", "miner")
JSONL_NAME = "sft_dataset.jsonl"
PARQUET_NAME = "sft_dataset.parquet"
CARD_NAME = "README.md"
# The Parquet schema: Arrow's standard (32-bit offset) string and list types, the ones
# `datasets` uses for ordinary chat data.
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
PARQUET_SCHEMA = pa.schema(
    [
        ("messages", pa.list_(MESSAGE)),
        ("instruction_id", pa.string()),
        ("winner", pa.string()),
        ("miner", pa.string()),
    ]
)


def to_chat_messages(
    instruction: str, response: str, system: str | None = None
) -> list[dict[str, str]]:
    """[system?], user = instruction, assistant = response: the shape TRL's SFT trainer reads."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise InputError("instruction must be a non-empty string")
    if not isinstance(response, str) or not response.strip():
        raise InputError("response must be a non-empty string")
    messages = [] if not system else [{"role": "system", "content": system}]
    messages.append({"role": "user", "content": instruction})
    messages.append({"role": "assistant", "content": response})
    return messages


def _records(rows: pl.DataFrame, system: str | None) -> list[dict[str, Any]]:
    return [
        {
            "messages": to_chat_messages(row["instruction"], row["response"], system),
            "instruction_id": str(row["instruction_id"]),
            "winner": str(row["winner"]),
            "miner": str(row["miner"]),
        }
        for row in rows.iter_rows(named=True)
    ]


def _counts(rows: pl.DataFrame, column: str) -> list[tuple[str, int]]:
    table = rows.group_by(column).len().sort(["len", column], descending=[True, False])
    return [(str(name), int(count)) for name, count in table.iter_rows()]


def _format_value(value: Any, depth: int = 0) -> str:
    if isinstance(value, Mapping):
        indent = "  " * depth
        lead = "\n" if depth else ""
        return lead + "\n".join(
            f"{indent}- {key}: {_format_value(item, depth + 1)}" for key, item in value.items()
        )
    if isinstance(value, list | tuple | set):
        return ", ".join(str(item) for item in value) or "(none)"
    return str(value)


def render_dataset_card(rows: pl.DataFrame, card_info: Mapping[str, Any]) -> str:
    """Markdown dataset card: YAML header for the Hub, then counts and the run's settings.

    Known card_info keys: title, description, license (the Hub license id, default "other"),
    experts, judges, settings (mapping), decontamination (mapping, e.g. benchmarks / ngram_size
    / dropped; "not run" when absent), row_quality (mapping of counts); other keys are listed.
    """
    title = card_info.get("title", "WarriorCoder Arena SFT data")
    experts = card_info.get("experts") or sorted(
        set(rows["winner"].to_list()) | set(rows["miner"].to_list())
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
        "- warriorcoder",
        "---",
        "",
        f"# {title}",
        "",
        card_info.get(
            "description",
            "Instructions mined by code experts, answered by every competitor, judged by "
            "uninvolved experts; each row keeps the winning response (WarriorCoder, ACL 2025).",
        ),
        "",
        "## Contents",
        "",
        f"- rows: {rows.height}",
        f"- files: `{JSONL_NAME}` (chat `messages`), `{PARQUET_NAME}` (same columns)",
        f"- experts: {_format_value(list(experts))}",
        f"- judges: {_format_value(list(card_info.get('judges', [])))}",
        "",
        "## Winning responses per expert",
        "",
        "| expert | rows |",
        "| --- | --- |",
        *(f"| {name} | {count} |" for name, count in _counts(rows, "winner")),
        "",
        "## Instructions per miner",
        "",
        "| miner | rows |",
        "| --- | --- |",
        *(f"| {name} | {count} |" for name, count in _counts(rows, "miner")),
        "",
        "## Decontamination",
        "",
        _format_value(card_info.get("decontamination", "not run")),
        "",
        "## Row quality",
        "",
        _format_value(card_info.get("row_quality", "not checked")),
        "",
        "## Settings",
        "",
        _format_value(card_info.get("settings") or "(none given)"),
        "",
    ]
    known = {
        "title",
        "description",
        "license",
        "experts",
        "judges",
        "settings",
        "decontamination",
        "row_quality",
    }
    extra = {key: value for key, value in card_info.items() if key not in known}
    if extra:
        lines += ["## Other", "", _format_value(extra), ""]
    return "\n".join(lines)


def _temp_path(out_dir: Path, name: str) -> Path:
    handle, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
    os.close(handle)
    return Path(path)


def export_sft_dataset(
    rows: Any,
    out_dir: str | Path,
    *,
    card_info: Mapping[str, Any],
    system: str | None = None,
) -> dict[str, Path]:
    """Write the SFT dataset (JSONL, Parquet, card) into out_dir; returns their paths.

    rows: instruction_id, instruction, response, winner, miner (more columns are ignored).
    Keys of the result: "jsonl", "parquet", "card".
    """
    if not isinstance(rows, pl.DataFrame):
        if type(rows).__module__.startswith("pandas"):
            rows = pl.from_pandas(rows)
        else:
            raise InputError(
                f"rows must be a polars or pandas DataFrame, got {type(rows).__name__}"
            )
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise InputError(f"SFT rows are missing column(s) {missing}; they have {rows.columns}")
    duplicated = rows.filter(pl.col("instruction_id").is_duplicated())
    if duplicated.height:
        raise InputError(
            f"SFT rows repeat instruction ids: {duplicated['instruction_id'].unique().to_list()[:5]}"
        )
    return write_dataset_files(
        Path(out_dir),
        _records(rows, system),
        PARQUET_SCHEMA,
        render_dataset_card(rows, card_info),
        names=(JSONL_NAME, PARQUET_NAME, CARD_NAME),
    )


def write_dataset_files(
    out_dir: Path,
    records: list[dict[str, Any]],
    schema: pa.Schema,
    card: str,
    *,
    names: tuple[str, str, str],
) -> dict[str, Path]:
    """Write records as JSONL and Parquet plus the card (file names: jsonl, parquet, card), each
    atomically (temp file + rename), so a crash never leaves a torn dataset. Keys of the result:
    "jsonl", "parquet", "card"."""
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {
        key: out_dir / name for key, name in zip(("jsonl", "parquet", "card"), names, strict=True)
    }
    temps = {key: _temp_path(out_dir, path.name) for key, path in targets.items()}
    try:
        with temps["jsonl"].open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        pq.write_table(pa.Table.from_pylist(records, schema=schema), temps["parquet"])
        temps["card"].write_text(card, encoding="utf-8")
        for key, path in targets.items():
            os.chmod(temps[key], 0o644)  # mkstemp files are private; the dataset is not
            os.replace(temps[key], path)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    return targets
