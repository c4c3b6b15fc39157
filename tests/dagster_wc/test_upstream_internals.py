"""The private upstream names behind `dagster_wc.upstream_internals`: this fails on an upgrade of
Dagster or dagster-dbt, so each one is checked again before `PINNED` is bumped."""

import inspect
from importlib.metadata import version
from pathlib import Path

import pytest

from dagster_wc import upstream_internals
from dagster_wc.orchestration.imports import PACKAGES
from dagster_wc.upstream_internals import PINNED

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", sorted(PINNED))
def test_the_installed_version_is_the_one_the_internals_were_checked_against(package):
    assert version(package) == PINNED[package], (
        f"{package} {version(package)} is installed; dagster_wc/upstream_internals.py was checked "
        f"against {PINNED[package]}: check each private name there again, then bump PINNED"
    )


def test_each_internal_keeps_the_shape_the_wrappers_call():
    from dagster._core.instance.ref import InstanceRef
    from dagster_dbt.asset_utils import get_subset_selection_for_context
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    storage = upstream_internals.sqlite_event_log_storage_class()
    assert callable(storage._connect) and callable(storage.path_for_shard)
    assert "overrides" in inspect.signature(InstanceRef.from_dir).parameters
    assert set(inspect.signature(get_subset_selection_for_context).parameters) == {
        "context",
        "manifest",
        "select",
        "exclude",
        "selector",
        "dagster_dbt_translator",
        "current_dbt_indirect_selection_env",
    }
    assert {"manifest", "dagster_dbt_translator", "context", "project"} <= set(
        inspect.signature(DbtCoreCliEventMessage.to_default_asset_events).parameters
    )


def test_no_other_module_imports_a_private_upstream_name():
    wrapper = REPO / "dagster_wc" / "upstream_internals.py"
    private = ("dagster._core", "dagster_dbt.asset_utils", "dagster_dbt.core", "._ENV")
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if path == wrapper:
                continue
            text = path.read_text()
            assert not any(name in text for name in private), path
