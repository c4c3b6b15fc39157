"""The storage contract: atomic lake writes, clear errors, read-only warehouse readers."""

import os
import threading

import duckdb
import polars as pl
import pytest

from tests.lake_rows import lake_frame
from wc_foundation.storage import (
    Home,
    StorageError,
    lake_partitions,
    read_lake_table,
    write_lake_table,
)
from wc_foundation.warehouse import connect_readonly, query, warehouse_build

TABLE = "instructions_selected"  # any declared lake table


def test_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("WC_HOME", str(tmp_path / "h"))
    assert Home.resolve().root == (tmp_path / "h").resolve()
    monkeypatch.delenv("WC_HOME")
    monkeypatch.chdir(tmp_path)
    assert Home.resolve().root == (tmp_path / ".warriorcoder").resolve()


def test_write_and_read_partitions(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    write_lake_table(
        home, "responses", lake_frame("responses", expert=["a"], seed=[1]), partition="a"
    )
    write_lake_table(
        home, "responses", lake_frame("responses", expert=["b"], seed=[2]), partition="b"
    )
    assert lake_partitions(home, "responses") == ["a", "b"]
    assert sorted(read_lake_table(home, "responses")["seed"].to_list()) == [1, 2]
    assert read_lake_table(home, "responses", partition="b")["seed"].to_list() == [2]
    assert not list(home.table_dir("responses").glob("*.tmp"))


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    home = Home.resolve(tmp_path).ensure()
    write_lake_table(home, TABLE, lake_frame(TABLE, selection_rank=[1, 2, 3]))

    def exploding_write(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", exploding_write)
    with pytest.raises(StorageError, match="No space left on device"):
        write_lake_table(home, TABLE, lake_frame(TABLE, selection_rank=[9]))
    monkeypatch.undo()
    assert read_lake_table(home, TABLE)["selection_rank"].to_list() == [1, 2, 3]
    assert [p.name for p in home.table_dir(TABLE).iterdir()] == ["all.parquet"]


def test_a_frame_off_its_declared_schema_is_refused(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    with pytest.raises(
        ValueError, match=r"missing columns .*'embedding_model'.*unexpected columns \['x'\]"
    ):
        write_lake_table(
            home,
            TABLE,
            pl.DataFrame(
                {"instruction_id": ["a"], "selection_rank": [1], "coverage_radius": [0.1], "x": [1]}
            ),
        )
    with pytest.raises(ValueError, match="does not fit its declared type"):
        write_lake_table(
            home,
            TABLE,
            lake_frame(TABLE, instruction_id=["a"]).with_columns(selection_rank=pl.lit("first")),
        )
    with pytest.raises(KeyError, match="no schema declared for lake table 'nonsense'"):
        write_lake_table(home, "nonsense", pl.DataFrame({"x": [1]}))
    assert not home.table_dir(TABLE).exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_home_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(StorageError, match="cannot"):
        Home.resolve(locked / "home").ensure()


def test_unwritable_lake_is_a_clear_error(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    (home.lake / TABLE).write_text("a file where a folder should be")
    with pytest.raises(StorageError, match=f"cannot write lake table '{TABLE}'"):
        write_lake_table(home, TABLE, lake_frame(TABLE, selection_rank=[1]))


def test_bad_partition_name(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    with pytest.raises(StorageError, match="not a valid slug"):
        write_lake_table(home, TABLE, lake_frame(TABLE, selection_rank=[1]), partition="../escape")


def test_readers_never_meet_the_writer_lock(tmp_path):
    """A read-only reader keeps working while a build writes the copy and swaps it in."""
    home = Home.resolve(tmp_path).ensure()
    with warehouse_build(home) as building, duckdb.connect(str(building)) as writer:
        writer.execute("create table t as select 1 as version")
    reader = connect_readonly(home)
    assert reader.execute("select version from t").fetchone() == (1,)
    with warehouse_build(home) as building, duckdb.connect(str(building)) as writer:
        writer.execute("create or replace table t as select 2 as version")
        # while the writer holds its file, new readers still open the live warehouse
        assert query(home, "select version from t")["version"].to_list() == [1]
    assert reader.execute("select version from t").fetchone() == (
        1,
    )  # old snapshot stays consistent
    reader.close()
    assert query(home, "select version from t")["version"].to_list() == [2]


def test_failed_build_leaves_live_warehouse_untouched(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    with warehouse_build(home) as building, duckdb.connect(str(building)) as writer:
        writer.execute("create table t as select 1 as version")
    with pytest.raises(RuntimeError), warehouse_build(home) as building:
        with duckdb.connect(str(building)) as writer:
            writer.execute("create or replace table t as select 99 as version")
        raise RuntimeError("dbt failed")
    assert query(home, "select version from t")["version"].to_list() == [1]
    assert not (home.root / "warehouse.building.duckdb").exists()


def test_concurrent_builds_serialize(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    with warehouse_build(home) as building, duckdb.connect(str(building)) as writer:
        writer.execute("create table counter as select 0 as n")

    def increment():
        with warehouse_build(home) as path, duckdb.connect(str(path)) as writer:
            writer.execute("update counter set n = n + 1")

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert query(home, "select n from counter")["n"].to_list() == [4]
