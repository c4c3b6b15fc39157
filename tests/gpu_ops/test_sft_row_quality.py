"""SFT rows with U+FFFD or Python code that does not parse are flagged and (by default) dropped,
with the counts the dataset card shows; the exported Parquet uses standard Arrow types."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpu_ops.sft_data.row_quality import filter_flagged, flag_rows, unparsable_code
from gpu_ops.sft_data.sft_export import export_sft_dataset, render_dataset_card

ROWS = pl.DataFrame(
    {
        "instruction_id": ["ok", "fffd", "broken", "pycon", "shell"],
        "instruction": ["Sum a list.", "Parse caf\ufffd menus.", "Sort it.", "Demo.", "Run."],
        "response": [
            "```python\ndef total(xs):\n    return sum(xs)\n```",
            "Use `str.split`.",
            "```python\ndef broken(:\n    pass\n```",
            "```pycon\n>>> 1 + 1\n2\n```",
            "```bash\nls -la | grep (\n```",
        ],
        "winner": ["a", "b", "a", "b", "a"],
        "miner": ["b", "a", "b", "a", "b"],
    }
)


def test_flags() -> None:
    assert unparsable_code("```py\nx = (\n```") is True
    assert unparsable_code("```python\nx = 1\n```\nand ```python\ny = 2\n```") is False
    assert unparsable_code("no code at all") is False
    flagged = flag_rows(ROWS)
    assert flagged["has_replacement_char"].to_list() == [False, True, False, False, False]
    # pycon prompts and shell blocks are not Python source: never parsed.
    assert flagged["code_unparsable"].to_list() == [False, False, True, False, False]


def test_filter_drops_by_default_and_counts_either_way() -> None:
    kept, counts = filter_flagged(ROWS, drop=True)
    assert kept["instruction_id"].to_list() == ["ok", "pycon", "shell"]
    assert kept.columns == ROWS.columns
    assert counts == {
        "rows checked": 5,
        "with U+FFFD (replacement character)": 1,
        "with Python code that does not parse": 1,
        "flagged rows": 2,
        "flagged rows dropped": 2,
    }
    everything, counts = filter_flagged(ROWS, drop=False)
    assert everything.height == 5 and counts["flagged rows dropped"] == 0


def test_parquet_uses_standard_arrow_types_and_concatenates(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    paths = export_sft_dataset(ROWS, tmp_path, card_info={})
    schema = pq.read_schema(paths["parquet"])
    assert schema.field("instruction_id").type == pa.string()
    messages = schema.field("messages").type
    assert messages == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    ours = datasets.load_dataset(
        "parquet", data_files=str(paths["parquet"]), split="train", cache_dir=str(tmp_path / "c")
    )
    ordinary = datasets.Dataset.from_dict(
        {
            "messages": [
                [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
            ],
            "instruction_id": ["x"],
            "winner": ["w"],
            "miner": ["m"],
        }
    )
    both = datasets.concatenate_datasets([ours, ordinary])  # no cast needed
    assert both.num_rows == 6


def test_card_has_license_decontamination_quality_and_settings() -> None:
    _, counts = filter_flagged(ROWS, drop=True)
    card = render_dataset_card(
        ROWS,
        {
            "license": "llama3.3",
            "decontamination": {"benchmarks": ["humaneval"], "ngram_size": 13},
            "row_quality": counts,
            "settings": {"alpha": 0.7},
        },
    )
    assert "license: llama3.3" in card.split("---")[1]
    assert "not run" not in card and "ngram_size: 13" in card
    assert "## Row quality" in card and "flagged rows dropped: 2" in card
    assert "alpha: 0.7" in card
    bare = render_dataset_card(ROWS, {})
    assert "license: other" in bare and "not run" in bare and "not checked" in bare
