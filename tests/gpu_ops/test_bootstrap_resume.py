"""The rating bootstraps commit each finished part of their rounds to a row store, so a driver
killed mid-bootstrap (SIGKILL at the `bootstrap.committed` crash point) keeps them and the rerun
computes only the rest, with the very numbers of an uninterrupted run. On a Ray cluster with
the store in Postgres: tests/cluster/test_ray_resume.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gpu_ops.cluster.checkpoints import SqliteRowStore, content_key, decode, encode
from tests.cluster.bootstrap_driver import table
from tests.cluster.drivers import run_driver

ROUNDS = 20  # 10 parts of 2 rounds per method: BT's first, then Elo's


def drive(store: Path, out: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    return run_driver("tests.cluster.bootstrap_driver", store, ROUNDS, out, failpoint=failpoint)


@pytest.mark.slow  # two driver processes (~30 s on 2 busy cores)
def test_a_killed_driver_keeps_each_committed_part_of_the_rounds(tmp_path: Path) -> None:
    store, out = tmp_path / "bootstrap_rounds.sqlite", tmp_path / "leaderboard.parquet"
    killed = drive(store, out, "bootstrap.committed=13")  # BT's 10 parts, then 3 of Elo's
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not out.exists()
    rerun = drive(store, out)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == {
        "computed": ROUNDS - 3 * 2,  # Elo's unfinished rounds only
        "hits": ROUNDS + 3 * 2,  # all of BT's, and Elo's 3 committed parts
    }
    assert pl.read_parquet(out).equals(table(ROUNDS, None))  # == an uninterrupted run


def test_a_changed_input_finds_no_rounds(tmp_path: Path) -> None:
    from gpu_ops.arena.ratings import leaderboard
    from tests.cluster.bootstrap_driver import battles

    store = SqliteRowStore(tmp_path / "rows.sqlite")
    leaderboard(battles(), method="elo", bootstrap_rounds=4, seed=5, round_store=store)
    assert (store.computed, store.hits) == (4, 0)
    leaderboard(battles(), method="elo", bootstrap_rounds=4, seed=5, round_store=store)
    assert (store.computed, store.hits) == (4, 4)
    leaderboard(battles(), method="elo", bootstrap_rounds=4, seed=6, round_store=store)
    assert (store.computed, store.hits) == (8, 4)  # another seed: other rounds
    leaderboard(battles(), method="elo", k=20, bootstrap_rounds=4, seed=5, round_store=store)
    assert (store.computed, store.hits) == (12, 4)  # another K: other rounds
    store.close()


def test_rows_travel_without_pickle() -> None:
    row = np.array([1000.5, np.inf, -3.25])
    assert np.array_equal(decode(encode(row)), row)
    with pytest.raises(ValueError, match="pickle"):
        decode(encode(np.array([{"code": "run me"}], dtype=object)))
    assert content_key("a", np.arange(3)) != content_key("a", np.arange(3, dtype=np.int32))
