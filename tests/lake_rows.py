"""Lake frames for tests: the given columns, every other declared column null."""

import polars as pl

from gpu_ops.lake_schemas import lake_schema


def lake_frame(table: str, **columns: list) -> pl.DataFrame:
    """A frame of `table`'s declared schema holding `columns`; the rest are nulls."""
    schema = lake_schema(table)
    rows = len(next(iter(columns.values())))
    return pl.DataFrame(
        {
            name: pl.Series(name, columns.get(name, [None] * rows), dtype=dtype, strict=False)
            for name, dtype in schema.items()
        }
    )
