"""Input frames of the compute functions: one place that checks their type and columns.

Why one module: every stage takes tables from callers (the Dagster assets, the CLI, users'
notebooks) and must reject a wrong type or a missing column with the same clear message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from gpu_ops.errors import InputError


def as_polars(frame: Any, what: str) -> pl.DataFrame:
    """A polars DataFrame for `frame` (polars as is, pandas converted), else InputError."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.startswith("pandas"):
        return pl.from_pandas(frame)
    raise InputError(f"{what} must be a polars or pandas DataFrame, got {type(frame).__name__}")


def require_columns(frame: Any, columns: Iterable[str], what: str) -> None:
    """Raise InputError naming the missing columns (or a frame that is not a polars DataFrame)."""
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"{what} must be a polars DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} is missing column(s) {missing}; it has {frame.columns}")
