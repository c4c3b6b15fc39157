"""The WarriorCoder arena as Dagster definitions: one asset group per stage, in pipeline order.

registry -> mining -> dedup -> scoring -> selection -> arena -> battles -> ratings -> sft_data
-> training -> evaluation. Python assets write Parquet to the lake; dbt models (built lazily from
the manifest) read it and are the only writer of the warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_wc.defs import (
    arena,
    dedup,
    evaluation,
    mining,
    ratings,
    registry,
    scoring,
    selection,
    sft_data,
    training,
)
from dagster_wc.defs.checks import asset_checks
from dagster_wc.defs.sensors import arena_update_job, expert_config_sensor
from dagster_wc.defs.warehouse_dbt import build_warehouse_dbt_assets, dbt_executable, dbt_project
from dagster_wc.resources import ArenaResource

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "demo.yaml"

PYTHON_STAGE_MODULES = (
    registry,
    mining,
    dedup,
    scoring,
    selection,
    arena,
    ratings,
    sft_data,
    training,
    evaluation,
)


def build_definitions(
    config_path: str | os.PathLike | None = None, home: str | None = None
) -> dg.Definitions:
    """All assets, checks, sensors and resources for one config file and home directory."""
    config_path = str(config_path or os.environ.get("WC_CONFIG") or DEFAULT_CONFIG)
    python_assets = dg.load_assets_from_modules(list(PYTHON_STAGE_MODULES))
    return dg.Definitions(
        assets=[*python_assets, build_warehouse_dbt_assets()],
        asset_checks=asset_checks,
        jobs=[arena_update_job],
        sensors=[expert_config_sensor],
        resources={
            "arena": ArenaResource(
                config_path=config_path, home_dir=home or os.environ.get("WC_HOME")
            ),
            "dbt": DbtCliResource(
                project_dir=dbt_project,
                profiles_dir=str(dbt_project.profiles_dir),
                dbt_executable=dbt_executable(),
            ),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Entry point for `dagster dev` / workspace.yaml (config from WC_CONFIG, home from WC_HOME)."""
    return build_definitions()
