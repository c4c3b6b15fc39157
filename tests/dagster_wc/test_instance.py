"""The runner's local instance: its event log is Dagster's SQLite files, written without a sync
per event, and Dagster's default storage (what `make ui` opens) reads them."""

import dagster as dg

from dagster_wc.orchestration.instance import (
    HELD_DATABASES,
    SyncOnCheckpointEventLogStorage,
    use_local_instance,
)
from wc_foundation.storage import Home


@dg.asset
def tiny() -> int:
    return 1


def test_event_log_keeps_recent_databases_open_and_the_default_storage_reads_it(tmp_path):
    home = Home.resolve(tmp_path / "home")
    with use_local_instance(home) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, SyncOnCheckpointEventLogStorage)
        for _ in range(4):
            assert dg.materialize([tiny], instance=instance).success
        assert len(storage._held) == HELD_DATABASES  # the index and the last runs; older closed
        assert "index" in storage._held
    assert not storage._held  # disposed with the instance
    default = dg.DagsterInstance.from_config(str(home.dagster))
    assert len(default.fetch_materializations(dg.AssetKey("tiny"), limit=10).records) == 4
    assert len(default.get_run_records()) == 4
