"""Whether the home's dagster.yaml puts the instance in Postgres (configs/cluster/dagster_postgres.yaml).

Why: the local instance swaps in its own SQLite event log (dagster_wc.orchestration.instance); an instance whose
storage is Postgres must keep Dagster's own Postgres storages instead.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def uses_postgres(settings: Path) -> bool:
    """True when dagster.yaml names Postgres storage (`storage: postgres` or a dagster_postgres
    run, event log or schedule storage)."""
    try:
        data = yaml.safe_load(settings.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    if not isinstance(data, dict):
        return False
    if "postgres" in (data.get("storage") or {}):
        return True
    return any(
        isinstance(data.get(key), dict) and data[key].get("module") == "dagster_postgres"
        for key in ("run_storage", "event_log_storage", "schedule_storage")
    )
