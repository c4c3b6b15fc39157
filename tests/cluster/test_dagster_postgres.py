"""The Dagster instance on a real Postgres, from the documented configs/cluster/dagster_postgres.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dagster_wc.orchestration.instance import use_local_instance
from wc_foundation.storage import Home

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


@dg.asset
def forty_two() -> int:
    return 42


def test_runs_and_events_land_in_postgres_for_every_driver(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dagster_postgres")
    psycopg = pytest.importorskip("psycopg")
    # the psycopg2 driver, as the yaml says (SQLAlchemy 2.1 would pick psycopg 3)
    monkeypatch.setenv("WC_DAGSTER_PG_URL", postgres_url.replace("://", "+psycopg2://", 1))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    first, second = Home.resolve(tmp_path / "a").ensure(), Home.resolve(tmp_path / "b").ensure()
    for home in (first, second):  # two drivers, two homes, one instance database
        home.dagster.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "configs/cluster/dagster_postgres.yaml", home.dagster / "dagster.yaml")

    instance = use_local_instance(first)
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    result = dg.materialize([forty_two], instance=instance)
    assert result.success

    other = use_local_instance(second)
    assert other.get_run_by_id(result.run_id) is not None
    materialized = other.fetch_materializations(dg.AssetKey("forty_two"), limit=10).records
    assert [r.run_id for r in materialized] == [result.run_id]
    with psycopg.connect(postgres_url) as connection:
        stored = connection.execute("select run_id from runs").fetchall()
    assert (result.run_id,) in stored
    assert not (first.dagster / "history").exists()  # nothing went to the SQLite files
    instance.dispose()
    other.dispose()
