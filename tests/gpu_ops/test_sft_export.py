"""SFT export: chat messages, JSONL + Parquet readable by `datasets`, dataset card."""

import json
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.errors import InputError
from gpu_ops.sft_data.sft_export import export_sft_dataset, to_chat_messages

ROWS = pl.DataFrame(
    {
        "instruction_id": ["id1", "id2", "id3"],
        "instruction": ["Reverse a list in Python.", "Explain `git rebase`.", "Fix: 1 +"],
        "response": ["Use `xs[::-1]`.", "It replays commits — ünïcode kept.", "`1 + 1`"],
        "winner": ["qwen", "llama", "qwen"],
        "miner": ["llama", "qwen", "qwen"],
        "winner_score": [1.2, 1.1, 0.9],
    }
)
CARD = {
    "judges": ["llama", "qwen", "deepseek"],
    "settings": {"alpha": 0.7, "rating_method": "bt"},
    "decontamination": {"benchmarks": ["humaneval"], "ngram_size": 13, "dropped": 4},
}


def test_to_chat_messages() -> None:
    assert to_chat_messages("q", "a") == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    assert to_chat_messages("q", "a", system="be brief")[0] == {
        "role": "system",
        "content": "be brief",
    }
    with pytest.raises(InputError, match="response"):
        to_chat_messages("q", "  ")


def test_export_reads_back_with_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    paths = export_sft_dataset(ROWS, tmp_path / "sft", card_info=CARD)
    assert set(paths) == {"jsonl", "parquet", "card"}
    assert sorted(p.name for p in (tmp_path / "sft").iterdir()) == [
        "README.md",
        "sft_dataset.jsonl",
        "sft_dataset.parquet",
    ]  # no temp files left behind
    first = json.loads(paths["jsonl"].read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"messages", "instruction_id", "winner", "miner"}
    for builder, key in (("json", "jsonl"), ("parquet", "parquet")):
        data = datasets.load_dataset(
            builder, data_files=str(paths[key]), split="train", cache_dir=str(tmp_path / "cache")
        )
        assert data.num_rows == 3
        row = data[1]
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["messages"][1]["content"] == "It replays commits — ünïcode kept."
        assert (row["instruction_id"], row["winner"], row["miner"]) == ("id2", "llama", "qwen")


def test_dataset_card_lists_counts_and_settings(tmp_path: Path) -> None:
    card = export_sft_dataset(ROWS, tmp_path, card_info=CARD)["card"].read_text(encoding="utf-8")
    assert "- rows: 3" in card
    assert "| qwen | 2 |" in card and "| llama | 1 |" in card
    assert "judges: llama, qwen, deepseek" in card
    assert "dropped: 4" in card and "ngram_size: 13" in card
    assert "alpha: 0.7" in card


def test_export_rejects_bad_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing column"):
        export_sft_dataset(ROWS.drop("miner"), tmp_path, card_info={})
    with pytest.raises(InputError, match="repeat instruction ids"):
        export_sft_dataset(pl.concat([ROWS, ROWS.head(1)]), tmp_path, card_info={})
    assert not list(tmp_path.iterdir())
