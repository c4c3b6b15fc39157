"""The first real flow: config -> expert_registry (Python, lake) -> experts (dbt, warehouse)."""

import polars as pl
import pytest

from dagster_wc.runner import run_pipeline
from warriorcoder.storage import Home, read_lake_table
from warriorcoder.warehouse import connect_readonly, query


@pytest.fixture()
def config_file(tmp_path, tiny_model_dir):
    path = tmp_path / "arena.yaml"
    path.write_text(
        f"""
experts:
  - {{slug: alpha, model: "{tiny_model_dir}", family: tiny}}
  - {{slug: beta, model: "{tiny_model_dir}", family: tiny}}
  - {{slug: gamma, model: "{tiny_model_dir}", enabled: false}}
"""
    )
    return path


def test_registry_flows_into_the_experts_mart(tmp_path, config_file):
    home = Home.resolve(tmp_path / "home")
    summary = run_pipeline(config_file, home, stages=["registry"])
    assert summary.steps_run == ["expert_registry", "dbt: registry models"]
    registry = read_lake_table(home, "expert_registry")
    assert registry.sort("expert")["expert"].to_list() == ["alpha", "beta", "gamma"]
    # dbt wrote the warehouse; nothing holds a write lock, so read-only readers work
    experts = query(home, "select expert from experts order by expert")
    assert experts["expert"].to_list() == [
        "alpha",
        "beta",
    ]  # gamma is disabled, its row kept in the lake
    with connect_readonly(home) as first, connect_readonly(home) as second:
        assert (
            first.execute("select count(*) from experts").fetchone()
            == second.execute("select count(*) from experts").fetchone()
        )
    assert not (home.root / "warehouse.building.duckdb").exists()
    # the runs landed on the persistent instance the UI opens
    assert (home.dagster / "dagster.yaml").exists()
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home.dagster))
    assert len(instance.get_run_records()) == 2
    assert set(instance.get_dynamic_partitions("experts")) == {"alpha", "beta", "gamma"}
    assert isinstance(registry, pl.DataFrame)
