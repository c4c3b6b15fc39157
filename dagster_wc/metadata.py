"""Small helpers that turn frames and arrays into Dagster UI metadata."""

from __future__ import annotations

import base64
import io

import dagster as dg
import polars as pl


def markdown_table(frame: pl.DataFrame, max_rows: int = 30, digits: int = 3) -> dg.MetadataValue:
    """A markdown table of the first rows (floats rounded) for the asset's metadata panel."""
    shown = frame.head(max_rows).with_columns(pl.selectors.float().round(digits))
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    body = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |"
        for row in shown.iter_rows()
    ]
    more = [f"\n_{len(frame) - max_rows} more rows_"] if len(frame) > max_rows else []
    return dg.MetadataValue.md("\n".join([header, rule, *body, *more]))


def png_image(figure) -> dg.MetadataValue:
    """A matplotlib figure embedded as a markdown image (shown inline in the UI)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![plot](data:image/png;base64,{encoded})")


def value_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """Counts per value (None shown as 'null'), for drop reasons and buckets."""
    counts = frame.group_by(column).len().sort(column, nulls_last=True)
    return {("null" if k is None else str(k)): int(n) for k, n in counts.iter_rows()}


def cache_metadata(model: object | None) -> dict[str, int]:
    """LLM calls this materialization made (cache misses) and the ones the cache answered."""
    return {
        "llm_calls_made": int(getattr(model, "misses", 0)),
        "llm_cache_hits": int(getattr(model, "hits", 0)),
    }
