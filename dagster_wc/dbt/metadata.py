"""Row counts and small previews for the dbt models a build materialized (UI metadata).

Read from the warehouse copy dbt just wrote, after dbt has closed it and before it is swapped in,
so the numbers are those of the build and no reader meets a lock. The previews are the marts that
explain a stage (why mined rows were dropped, what dedup and the difficulty filter kept, the
leaderboard); each model names its preview query in its yml (`config.meta.preview`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import duckdb

from dagster_wc.metadata import markdown_table


def build_metadata(
    warehouse: Path, models: list[str], previews: Mapping[str, str]
) -> dict[str, dict[str, dg.MetadataValue]]:
    """Per model name: its row count, and a preview for the models that name a preview query."""
    found: dict[str, dict[str, dg.MetadataValue]] = {}
    if not models or not warehouse.exists():
        return found
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        existing = {
            row[0]
            for row in connection.execute(
                "select table_name from information_schema.tables"
            ).fetchall()
        }
        for model in models:
            if model not in existing:
                continue
            rows = connection.execute(f'select count(*) from "{model}"').fetchall()[0][0]
            metadata: dict[str, dg.MetadataValue] = {
                "dagster/row_count": dg.MetadataValue.int(rows)
            }
            if model in previews:
                metadata["preview"] = markdown_table(connection.sql(previews[model]).pl())
            found[model] = metadata
    return found


def with_build_metadata(events: list, warehouse: Path, previews: Mapping[str, str]) -> list:
    """dagster-dbt's events, each materialization carrying its model's row count (and preview)."""
    names = [model_name(event) for event in events]
    extra = build_metadata(warehouse, [name for name in names if name], previews)
    out = []
    for event, name in zip(events, names, strict=True):
        if name in extra and isinstance(event, dg.Output | dg.AssetMaterialization):
            event = event.with_metadata({**event.metadata, **extra[name]})
        out.append(event)
    return out


def model_name(event) -> str | None:
    """The relation a dagster-dbt materialization event is about (its asset key's last part)."""
    if isinstance(event, dg.AssetMaterialization):
        return event.asset_key.path[-1]
    if isinstance(event, dg.Output):
        return event.output_name.split("__")[-1]
    return None
