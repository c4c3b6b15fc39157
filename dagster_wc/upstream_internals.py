"""The private Dagster and dagster-dbt names the project needs, each behind one function.

Everything else uses public API. These four have no public counterpart (checked against
Dagster 1.13, dagster-dbt 0.29 and dbt-core 1.11):
- a custom SQLite event log: Dagster documents `event_log_storage` classes in dagster.yaml, but
  exports neither `SqliteEventLogStorage` (to subclass) nor a way to override one storage of an
  instance without rewriting the user's dagster.yaml (`InstanceRef.from_dir(overrides=...)`);
- dbt in-process: the public path, `DbtCliResource.cli(args, context=...)`, runs dbt as a
  subprocess (about 3.4 s a build, `dagster_wc.dbt.inprocess` says why not). Running dbt's
  programmatic runner instead still needs dagster-dbt's selection for a step's subset of models
  and checks (`get_subset_selection_for_context`) and its conversion of dbt's result events into
  asset events (the public `DbtCliEventMessage` is abstract; dbt Core's subclass is not exported).
`PINNED` holds the versions these were checked against; tests/dagster_wc/test_upstream_internals.py
fails on an upgrade until each one is checked again and `PINNED` is bumped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

PINNED = {"dagster": "1.13.27", "dagster-dbt": "0.29.27"}

DBT_ASSETS_SELECT = "fqn:*"  # `@dbt_assets`' default selection (this project passes none)


def sqlite_event_log_storage_class() -> type:
    """Dagster's SQLite event log storage (the default one), to subclass."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    return SqliteEventLogStorage


def instance_with_event_log(dagster_dir: str, event_log: Mapping[str, Any]) -> dg.DagsterInstance:
    """The instance in `dagster_dir` (its dagster.yaml as written), with another event log
    storage (`{"module", "class", "config"}`, the dagster.yaml shape)."""
    from dagster._core.instance.ref import InstanceRef

    ref = InstanceRef.from_dir(dagster_dir, overrides={"event_log_storage": dict(event_log)})
    return dg.DagsterInstance.from_ref(ref)


def dbt_subset_selection(
    context: dg.AssetExecutionContext, manifest: Mapping[str, Any], translator: Any
) -> tuple[list[str], str | None]:
    """dagster-dbt's dbt arguments for the step's selected models and checks, and the
    `--indirect-selection` it needs (None: the environment's, `DBT_INDIRECT_SELECTION`)."""
    import os

    from dagster_dbt.asset_utils import get_subset_selection_for_context

    return get_subset_selection_for_context(
        context=context,
        manifest=manifest,
        select=DBT_ASSETS_SELECT,
        exclude=None,
        selector=None,
        dagster_dbt_translator=translator,
        current_dbt_indirect_selection_env=os.environ.get("DBT_INDIRECT_SELECTION"),
    )


def dbt_asset_events(
    raw_event: dict,
    *,
    manifest: Mapping[str, Any],
    translator: Any,
    context: dg.AssetExecutionContext,
    project: Any,
) -> list:
    """dagster-dbt's asset events (materializations, check results) for one dbt Core result
    event in dbt's JSON log shape."""
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    message = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
    return list(
        message.to_default_asset_events(
            manifest=manifest, dagster_dbt_translator=translator, context=context, project=project
        )
    )
