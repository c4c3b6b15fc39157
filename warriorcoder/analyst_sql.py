"""Named analyst queries: `dbt_project/analyses/<name>.sql` (dbt analyses: parsed and documented
by dbt, never built), each opening with a comment block that documents it."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from gpu_ops.errors import InputError
from wc_foundation.storage import Home
from wc_foundation.warehouse import query

ANALYSES_DIR = Path(__file__).resolve().parents[1] / "dbt_project" / "analyses"


def _header(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return lines


def query_title(path: Path) -> str:
    """The first line of the query's header comment (without a `title:` label)."""
    header = [line for line in _header(path.read_text(encoding="utf-8")) if line]
    return re.sub(r"^(title|name)\s*:\s*", "", header[0], flags=re.IGNORECASE) if header else ""


def list_named_queries(folder: Path = ANALYSES_DIR) -> list[tuple[str, str]]:
    return [(path.stem, query_title(path)) for path in sorted(folder.glob("*.sql"))]


def named_query_sql(name: str, folder: Path = ANALYSES_DIR) -> str:
    path = folder / f"{name}.sql"
    if not re.fullmatch(r"[a-z0-9_]+", name) or not path.is_file():
        known = ", ".join(n for n, _ in list_named_queries(folder))
        raise InputError(f"no named query {name!r}; known queries: {known}")
    return path.read_text(encoding="utf-8")


def run_named_query(home: Home, name: str, folder: Path = ANALYSES_DIR) -> pl.DataFrame:
    """Run a named query on a read-only connection (works while a run writes the lake)."""
    return query(home, named_query_sql(name, folder))
