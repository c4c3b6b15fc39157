"""A driver process for the bootstrap resume tests: the leaderboard (BT and Elo, both with
bootstrap CIs) of fixed battles, its rounds kept in a row store.

Run as `python -m tests.cluster.bootstrap_driver STORE ROUNDS OUT [METHOD]`, STORE a SQLite
path or a postgresql:// URL, OUT the Parquet file for the table, METHOD bt, elo or both (the
default). With `WC_RAY_ADDRESS` the rounds run as
Ray tasks; with `WC_FAILPOINTS=bootstrap.committed=K` the process SIGKILLs itself right after
the K-th committed part. The last stdout line is JSON: rounds computed and read back.
"""

from __future__ import annotations

import json
import sys

import polars as pl

from gpu_ops.arena.ratings import leaderboard
from gpu_ops.cluster.checkpoints import RowStore
from gpu_ops.state_db import open_row_store
from tests.gpu_ops.test_ratings import clustered_battles


def battles() -> pl.DataFrame:
    return clustered_battles({"a": 1100.0, "b": 1000.0, "c": 900.0, "d": 950.0}, 80, 3, seed=6)


def table(rounds: int, store: RowStore | None, method: str = "both") -> pl.DataFrame:
    return leaderboard(battles(), method=method, bootstrap_rounds=rounds, seed=5, round_store=store)  # type: ignore[arg-type]


def main(argv: list[str]) -> None:
    target, rounds, out = argv[0], int(argv[1]), argv[2]
    method = argv[3] if len(argv) > 3 else "both"
    store = open_row_store(target, target if target.startswith("postgres") else None)
    try:
        table(rounds, store, method).write_parquet(out)
        print(json.dumps({"computed": store.computed, "hits": store.hits}), flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
