"""The WarriorCoder arena as Dagster definitions: one asset group per stage.

A stage's Python assets and their checks live in `dagster_wc/defs/<stage>.py`, its dbt models in
`dbt_project/models/<stage>/`; the module or folder name is the asset group, and the pipeline
order follows from the asset graph (`dagster_wc.orchestration.plan`). Python assets write Parquet to the
lake; dbt models (built lazily from the manifest) read it and are the only writer of the warehouse.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import dagster as dg

import dagster_wc.defs
from dagster_wc.dbt.assets import DBT_PROJECT_DIR, ArenaDbtResource, build_warehouse_dbt_assets
from dagster_wc.orchestration.sensor import expert_config_sensor
from dagster_wc.resources import ArenaResource

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "demo.yaml"

PLUGIN_GROUP = "warriorcoder.definitions"  # entry points of plugins' Dagster definitions


def stage_modules() -> list[ModuleType]:
    """Every module of dagster_wc/defs: each holds one stage's Python assets and their checks,
    and is named after the stage."""
    names = [info.name for info in pkgutil.iter_modules(dagster_wc.defs.__path__)]
    return [importlib.import_module(f"dagster_wc.defs.{name}") for name in sorted(names)]


def python_stage_assets() -> list:
    """Each stage module's assets, and the specs of the tables they write beside their own
    (module-level `AssetSpec`s, never materialized on their own), grouped under the module's
    name."""
    assets = []
    for module in stage_modules():
        group = module.__name__.rsplit(".")[-1]
        assets += dg.load_assets_from_modules([module], group_name=group)
        specs = [value for value in vars(module).values() if isinstance(value, dg.AssetSpec)]
        assets += [spec.replace_attributes(group_name=group) for spec in specs]
    return assets


def build_definitions(
    config_path: str | os.PathLike | None = None, home: str | None = None
) -> dg.Definitions:
    """All assets, checks, sensors and resources for one config file and home directory."""
    config_path = str(config_path or os.environ.get("WC_CONFIG") or DEFAULT_CONFIG)
    plugins = [entry.load() for entry in entry_points(group=PLUGIN_GROUP)]  # e.g. the demo's
    product = dg.Definitions(
        assets=[*python_stage_assets(), build_warehouse_dbt_assets()],
        asset_checks=dg.load_asset_checks_from_modules(stage_modules()),
        sensors=[expert_config_sensor],
        resources={
            "arena": ArenaResource(
                config_path=config_path, home_dir=home or os.environ.get("WC_HOME")
            ),
            "dbt": ArenaDbtResource(project_dir=str(DBT_PROJECT_DIR)),
        },
    )
    return dg.Definitions.merge(product, *plugins)


@dg.definitions
def defs() -> dg.Definitions:
    """Entry point for `dagster dev` / workspace.yaml (config from WC_CONFIG, home from WC_HOME)."""
    return build_definitions()
