"""The dbt sources describe the lake exactly as the Python side declares and writes it."""

from pathlib import Path

import yaml

from gpu_ops.lake_schemas import LAKE_SCHEMAS, duckdb_type

SOURCES = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "_lake__sources.yml"


def test_every_lake_table_is_a_dbt_source_with_the_declared_columns_and_types():
    (lake,) = [s for s in yaml.safe_load(SOURCES.read_text())["sources"] if s["name"] == "lake"]
    sources = {table["name"]: table for table in lake["tables"]}
    assert set(sources) == set(LAKE_SCHEMAS)
    for name, schema in LAKE_SCHEMAS.items():
        columns = [(c["name"], c.get("data_type")) for c in sources[name]["columns"]]
        declared = [(column, duckdb_type(dtype)) for column, dtype in schema.items()]
        assert columns == declared, name
        assert all(c.get("description") for c in sources[name]["columns"]), name
