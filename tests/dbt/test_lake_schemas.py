"""The dbt sources and staging views describe the lake exactly as the Python side declares and
writes it: both are generated from `gpu_ops/lake_schemas.py` (scripts/generate_lake_sources.py)."""

import importlib.util
import re
from pathlib import Path

import yaml

from gpu_ops.lake_schemas import LAKE_SCHEMAS, duckdb_type

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "dbt_project" / "models" / "_lake__sources.yml"
CAST = re.compile(r'^\s*cast\("?(\w+)"? as ([\w\[\]]+)\) as (\w+),?$', re.MULTILINE)


def load_generator():
    path = REPO / "scripts" / "generate_lake_sources.py"
    spec = importlib.util.spec_from_file_location("generate_lake_sources", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_lake_table_is_a_dbt_source_with_the_declared_columns_and_types():
    (lake,) = [s for s in yaml.safe_load(SOURCES.read_text())["sources"] if s["name"] == "lake"]
    sources = {table["name"]: table for table in lake["tables"]}
    assert set(sources) == set(LAKE_SCHEMAS)
    for name, schema in LAKE_SCHEMAS.items():
        columns = [(c["name"], c.get("data_type")) for c in sources[name]["columns"]]
        declared = [(column, duckdb_type(dtype)) for column, dtype in schema.items()]
        assert columns == declared, name
        assert all(c.get("description") for c in sources[name]["columns"]), name
        # the lake says `expert` (roles: miner, scorer, competitor, judge); only staging renames
        texts = [
            sources[name]["description"],
            *(c["description"] for c in sources[name]["columns"]),
        ]
        assert not any("responder" in text.lower() for text in texts), name


def test_the_committed_sources_and_staging_views_are_what_the_generator_writes():
    stale = [
        str(path.relative_to(REPO))
        for path, text in load_generator().generated_files().items()
        if path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `python scripts/generate_lake_sources.py`; out of date: {stale}"


def test_staging_views_cast_every_column_to_its_declared_type():
    renames = load_generator().STAGING_RENAMES
    for table, schema in LAKE_SCHEMAS.items():
        (path,) = (REPO / "dbt_project" / "models").glob(f"*/stg_{table}.sql")
        casts = CAST.findall(path.read_text(encoding="utf-8"))
        assert [(column, cast) for column, cast, _ in casts] == [
            (column, duckdb_type(dtype)) for column, dtype in schema.items()
        ], table  # no bigint narrowed to integer, no column left out
        assert [alias for *_, alias in casts] == [
            renames.get(table, {}).get(column, column) for column in schema
        ], table


def test_the_cast_check_sees_a_narrowed_column():
    text = "        cast(tests_found as integer) as tests_found,\n"
    assert CAST.findall(text) == [("tests_found", "integer", "tests_found")]
    assert duckdb_type(LAKE_SCHEMAS["execution_results"]["tests_found"]) == "bigint"
