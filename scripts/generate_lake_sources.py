"""Write the dbt side of the lake from its one declaration, `gpu_ops/lake_schemas.py`.

    python scripts/generate_lake_sources.py          # rewrite the files
    python scripts/generate_lake_sources.py --check  # exit 1 naming the files that differ

It writes `dbt_project/models/_lake__sources.yml` (every lake table, its columns, DuckDB types and
descriptions) and each staging view `stg_<table>.sql` (a cast of every column to its declared
type, and the few renames below). The output is committed; a test fails when it differs from
what this script would write, so edit `lake_schemas.py` and rerun it instead of the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu_ops.lake_schemas import LAKE_TABLES, duckdb_type  # noqa: E402

MODELS = ROOT / "dbt_project" / "models"
SOURCES = MODELS / "_lake__sources.yml"
WIDTH = 100

# The Python asset that writes each table, where it is not the table's own name (the source's
# `meta.dagster.asset_key`, so Dagster draws one lineage graph).
WRITER_ASSET = {"sft_decontamination": "sft_dataset", "evaluation_results": "evaluation"}

# Staging renames for SQL (docs/ARCHITECTURE.md): the lake says `expert`, the marts say whose.
STAGING_RENAMES: dict[str, dict[str, str]] = {
    "instructions_mined": {"expert": "miner"},
    "instruction_scores": {"mode": "score_mode"},
    "instruction_embeddings": {"model": "embedding_model"},
    "responses": {"expert": "responder"},
    "execution_results": {"expert": "responder"},
    "judgments": {"order": "presentation_order", "mode": "judge_mode"},
}

# Tables a Python asset writes beside its own (each source needs its own asset key): their staging
# view depends on the writer's own staging view, so dbt builds it once the files exist (an earlier
# build would stand in an empty relation).
STAGING_AFTER: dict[str, str] = {
    "judging_schedule": "stg_judgments",
    "battle_judges": "stg_judgments",
}

SOURCES_HEADER = """\
version: 2

# Generated from gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
# The lake: Parquet files written by the Python assets, one folder per table under
# $WC_HOME/lake/, one file per partition (expert slug, or `all`). dbt-duckdb renders each source
# as the `external_location` expression ({name} is the table name), so a staging view reads the
# files directly. `meta.dagster.asset_key` gives each source the asset key of the Python asset that
# writes it, so Dagster draws one lineage graph. `data_type` of every column is also used by the
# `lake_source` macro to stand in an empty relation while a table has no files yet.
sources:
  - name: lake
    description: Parquet tables written by the Python stages (the storage contract in docs/ARCHITECTURE.md).
    config:
      external_location: "read_parquet('{{ env_var('WC_HOME', '../.warriorcoder') }}/lake/{name}/*.parquet', union_by_name=true)"
    tables:
"""

STAGING = """\
{{{{ config(materialized='view') }}}}

-- Typed view over the lake table `{table}` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
{after}with source as (
    {{{{ lake_source('{table}') }}}}
),

renamed as (
    select
{columns}
    from source
)

select * from renamed
"""


def description(indent: int, text: str) -> list[str]:
    """`description: text` at `indent`: plain when YAML reads it back as is, quoted when it fits
    one line, folded over several lines otherwise."""
    key = " " * indent + "description: "
    if len(key) + len(text) <= WIDTH and _reads_back_plain(text):
        return [key + text]
    if len(key) + len(json.dumps(text)) <= WIDTH:
        return [key + json.dumps(text)]
    lines, line = [], ""
    for word in text.split(" "):
        if line and indent + 2 + len(line) + 1 + len(word) > WIDTH:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [key + ">-", *(" " * (indent + 2) + part for part in [*lines, line])]


def _reads_back_plain(text: str) -> bool:
    try:
        return yaml.safe_load(f"description: {text}") == {"description": text}
    except yaml.YAMLError:
        return False


def sources_yml() -> str:
    lines = []
    for name, table in LAKE_TABLES.items():
        lines += [f"      - name: {name}", *description(8, table.description)]
        asset = WRITER_ASSET.get(name, name)
        lines += ["        config:", "          meta:", "            dagster:"]
        lines += [f'              asset_key: ["{asset}"]', "        columns:"]
        for column, declared in table.columns.items():
            lines += [f"          - name: {column}"]
            lines += [f"            data_type: {duckdb_type(declared.dtype)}"]
            lines += description(12, declared.description)
        lines.append("")
    return SOURCES_HEADER + "\n".join(lines[:-1]) + "\n"


@cache
def reserved_words() -> frozenset[str]:
    """DuckDB's reserved keywords: a column so named is quoted in SQL (`order`)."""
    rows = duckdb.sql(
        "select keyword_name from duckdb_keywords() where keyword_category = 'reserved'"
    ).fetchall()
    return frozenset(row[0] for row in rows)


def staging_sql(table: str) -> str:
    renames = STAGING_RENAMES.get(table, {})
    casts = []
    for column, declared in LAKE_TABLES[table].columns.items():
        quoted = f'"{column}"' if column in reserved_words() else column
        alias = renames.get(column, column)
        casts.append(f"        cast({quoted} as {duckdb_type(declared.dtype)}) as {alias}")
    after = STAGING_AFTER.get(table)
    depends = f"-- depends_on: {{{{ ref('{after}') }}}}\n" if after else ""
    return STAGING.format(table=table, columns=",\n".join(casts), after=depends)


def staging_path(table: str) -> Path:
    """Where the table's staging view lives: its stage's folder (found by its file)."""
    found = sorted(MODELS.glob(f"*/stg_{table}.sql"))
    if len(found) != 1:
        raise SystemExit(
            f"expected one dbt_project/models/<stage>/stg_{table}.sql, found {len(found)}: "
            "create it (empty) in the stage's folder once, then rerun"
        )
    return found[0]


def generated_files() -> dict[Path, str]:
    """Every file this script writes, with the text it writes."""
    files = {SOURCES: sources_yml()}
    for table in LAKE_TABLES:
        files[staging_path(table)] = staging_sql(table)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    files = generated_files()
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text("utf-8") != text]
    for path in stale:
        if args.check:
            print(f"out of date: {path.relative_to(ROOT)}")
        else:
            path.write_text(files[path], encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
