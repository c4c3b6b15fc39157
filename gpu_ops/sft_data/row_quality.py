"""Flags for SFT rows that should not train a model: text with U+FFFD (bytes that were not valid
UTF-8 somewhere upstream: the model would learn the replacement character) and responses whose
Python code blocks do not parse (a broken program taught as the answer).

Only blocks tagged as Python source (```python, ```py, ```python3, ```py3) are parsed: untagged
blocks may be shell or output, and ```pycon / ```ipython blocks hold prompts, not source.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from gpu_ops.code_extract import parses, tagged_blocks

REPLACEMENT_CHARACTER = "\ufffd"
PYTHON_SOURCE_TAGS = {"python", "py", "python3", "py3"}
FLAG_COLUMNS = ("has_replacement_char", "code_unparsable")


def unparsable_code(response: str) -> bool:
    """Whether any Python-tagged block of the response fails to parse."""
    return any(not parses(block) for block in tagged_blocks(response, PYTHON_SOURCE_TAGS))


def flag_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """`rows` (instruction, response) with the boolean FLAG_COLUMNS added."""
    return rows.with_columns(
        has_replacement_char=(
            pl.col("instruction").str.contains(REPLACEMENT_CHARACTER, literal=True)
            | pl.col("response").str.contains(REPLACEMENT_CHARACTER, literal=True)
        ).fill_null(False),
        code_unparsable=pl.col("response").map_elements(unparsable_code, return_dtype=pl.Boolean),
    )


def filter_flagged(rows: pl.DataFrame, *, drop: bool) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(rows to export, counts for the dataset card). With drop=False every row stays."""
    flagged = flag_rows(rows)
    counts: dict[str, Any] = {
        "rows checked": flagged.height,
        "with U+FFFD (replacement character)": int(flagged["has_replacement_char"].sum()),
        "with Python code that does not parse": int(flagged["code_unparsable"].sum()),
    }
    suspect = pl.col("has_replacement_char") | pl.col("code_unparsable")
    counts["flagged rows"] = int(flagged.select(suspect.sum()).item())
    counts["flagged rows dropped"] = counts["flagged rows"] if drop else 0
    kept = flagged.filter(~suspect) if drop else flagged
    return kept.drop(FLAG_COLUMNS), counts
