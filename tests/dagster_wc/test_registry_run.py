"""The first real flow: config -> expert_registry (Python, lake) -> experts (dbt, warehouse).

dbt runs inside the step's process; a failing dbt test fails the step with the test named, and
the warehouse stays the last good one.
"""

import json

import dagster as dg
import polars as pl
import pytest

from dagster_wc import resources
from dagster_wc.orchestration import runner
from dagster_wc.orchestration.instance import use_local_instance
from dagster_wc.orchestration.runner import failure_message, load_pipeline, run_pipeline
from wc_foundation.storage import Home, read_lake_table, write_lake_table
from wc_foundation.warehouse import connect_readonly, query


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
    # the runs landed on the persistent instance the UI opens (Dagster's default storage reads
    # what the runner's event log wrote), the dbt model with its row count and its checks
    assert (home.dagster / "dagster.yaml").exists()
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    assert len(instance.get_run_records()) == 2
    assert set(instance.get_dynamic_partitions("experts")) == {"alpha", "beta", "gamma"}
    materialization = instance.get_latest_materialization_event(dg.AssetKey("experts"))
    assert materialization.asset_materialization.metadata["dagster/row_count"].value == 2
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("stg_expert_registry"), "unique_stg_expert_registry_expert")]
    )
    assert [execution.status.value for execution in check.values()] == ["SUCCEEDED"]


def test_a_run_loads_its_config_once(tmp_path, config_file, monkeypatch):
    loads = []
    real = runner.load_config

    def counted(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    def refused(*args, **kwargs):
        raise AssertionError("a step read the config file again")

    monkeypatch.setattr(runner, "load_config", counted)
    monkeypatch.setattr(resources, "load_config", refused)
    home = Home.resolve(tmp_path / "home")
    summary = run_pipeline(config_file, home, stages=["registry"])
    assert summary.steps_run == ["expert_registry", "dbt: registry models"]
    assert len(loads) == 1
    loads.clear()
    run_pipeline(config_file, home, config=real(config_file, home=home.root), stages=["registry"])
    assert loads == []  # the CLI hands over the config it validated


def test_a_failing_dbt_test_fails_the_step_and_names_the_test(tmp_path, config_file):
    home = Home.resolve(tmp_path / "home")
    run_pipeline(config_file, home, stages=["registry"])
    live = home.warehouse.stat().st_mtime_ns
    registry = read_lake_table(home, "expert_registry")  # one expert twice: `unique` fails
    write_lake_table(home, "expert_registry", pl.concat([registry, registry.head(1)]))
    pipeline = load_pipeline(config_file, home)
    job = pipeline.definitions.resolve_implicit_global_asset_job_def()
    with use_local_instance(home) as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("stg_expert_registry"), dg.AssetKey("experts")],
            raise_on_error=False,
        )
    assert not result.success
    message = failure_message(result)
    assert message.startswith("DbtBuildError:") and "dbt build failed:" in message, message
    assert "test unique_stg_expert_registry_expert" in message and "failing rows" in message
    assert home.warehouse.stat().st_mtime_ns == live  # the failed build's copy was discarded
    assert not (home.root / "warehouse.building.duckdb").exists()
    assert query(home, "select count(*) as n from experts")["n"].item() == 2


def test_homes_built_in_one_process_each_read_their_own_lake(
    tmp_path, config_file, tiny_model_dir, monkeypatch
):
    """One process builds two homes one after the other: the second reuses the parsed dbt
    project (no parse) and each warehouse holds its own home's rows, never the other's Parquet."""
    from dagster_wc.dbt import assets

    parses = []
    real_parse = assets.parse

    def counted(*args, **kwargs):
        parses.append(args)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(assets, "parse", counted)
    other_config = tmp_path / "other.yaml"
    other_config.write_text(
        "experts:\n"
        + "".join(f'  - {{slug: {slug}, model: "{tiny_model_dir}"}}\n' for slug in ("delta", "eta"))
    )
    first, second = Home.resolve(tmp_path / "first"), Home.resolve(tmp_path / "second")
    run_pipeline(config_file, first, stages=["registry"])
    assert len(parses) <= 1  # none when this process already parsed these vars
    parses.clear()
    run_pipeline(other_config, second, stages=["registry"])
    assert parses == []  # another home is no reason to parse again
    for home, registered, enabled in (
        (first, ["alpha", "beta", "gamma"], ["alpha", "beta"]),
        (second, ["delta", "eta"], ["delta", "eta"]),
    ):
        assert query(home, "select expert from experts order by 1")["expert"].to_list() == enabled
        # the staging view reads the lake whenever it is queried, at the location it was built with
        view = query(home, "select expert from stg_expert_registry order by 1")["expert"]
        assert view.to_list() == registered

    # another process's parse of other vars on disk: this process's own parse comes back
    other_parse = {**assets._stamp(None), "vars": "{}", "lake_home": "/elsewhere"}
    assets._write_atomically(assets._stamp_path(), json.dumps(other_parse))
    vars_json = assets.dbt_vars(runner.load_config(config_file, home=first.root))
    assets.prepare_manifest(first, vars_json)
    assert parses == []


def test_lake_sources_move_from_one_home_to_another():
    """What a build's pointing changes in a parsed manifest (manifest.json's shape here; dbt's
    objects take the same path): every lake location, nothing else; and a location outside the
    old home's lake is an error, never a silent read elsewhere."""
    from dagster_wc.dbt.assets import DbtBuildError, _point_lake_sources

    def source(home: str) -> dict:
        location = f"read_parquet('{home}/lake/{{name}}/*.parquet', union_by_name=true)"
        return {
            "config": {"external_location": location, "meta": {"x": "/old/home/lake/"}},
            "unrendered_config": {"external_location": location},
            "relation_name": location.replace("{name}", "responses"),
        }

    moved = source("/old/home")
    _point_lake_sources([moved, {"config": {}, "unrendered_config": {}}], "/old/home", "/new")
    assert moved == {
        **source("/new"),
        "config": {**source("/new")["config"], "meta": {"x": "/old/home/lake/"}},
    }
    with pytest.raises(DbtBuildError, match="does not read /elsewhere/lake/"):
        _point_lake_sources([source("/new")], "/elsewhere", "/other")
