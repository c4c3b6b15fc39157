"""The overhead of Ray: the same stage on local processes, a 1-node and a 2-node Ray cluster.

Two stages, each checked to give the same result everywhere:
- the execution judge (`score_responses`) on responses with tests: two sandbox runs each, local
  with `run_many(workers=2)`, on Ray one task per program;
- the Bradley-Terry bootstrap (`bootstrap_bradley_terry`) on synthetic battles: local one refit
  per round in the driver, on Ray one task of contiguous rounds per cluster CPU;
- the Elo bootstrap (`bootstrap_online_elo`) on 1,000,000 synthetic votes (rounds/4 replays):
  local every round in the driver, on Ray one task of contiguous rounds per cluster CPU (the
  votes travel to each node once per call, through Ray's object store).
The clusters run on this machine (`gpu_ops.cluster.local`): 1 node with 2 CPUs, then 2 nodes
with 1 CPU each. On 2 cores the ratios (cluster over local, same process), not the speed, are
the result: they price the task round trips a real cluster pays too.

    python -m bench.bench_cluster            # 48 responses, 400 rounds, 3 repeats (~5 min)
    python -m bench.bench_cluster --quick    # 16 responses, 100 rounds, 2 repeats
    python -m bench.bench_cluster --quick --only elo_bootstrap
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from gpu_ops.arena.execution_judge import score_responses
from gpu_ops.arena.ratings import bootstrap_bradley_terry, bootstrap_online_elo
from gpu_ops.cluster import RAY_ADDRESS_ENV, shutdown
from gpu_ops.cluster.executor import connect
from gpu_ops.cluster.local import LocalCluster

FENCE = "```"


def _responses(count: int) -> pl.DataFrame:
    instruction = "Write add(a, b).\nassert add(1, 2) == 3\n>>> add(20, 22)\n42\n"
    bodies = ["return a + b", "return a - b", "return b + a", "return 0"]
    return pl.DataFrame(
        {
            "instruction_id": [f"i{i // 4}" for i in range(count)],
            "expert": [f"e{i % 4}" for i in range(count)],
            "instruction": [instruction] * count,
            "response": [
                f"{FENCE}python\ndef add(a, b):\n    {bodies[i % 4]}  # {i}\n\n"
                f"assert add(2, 2) == 4\n{FENCE}"
                for i in range(count)
            ],
        }
    )


def _battles(votes: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    experts = [f"m{i}" for i in range(6)]
    a = rng.integers(0, 6, votes)
    b = (a + rng.integers(1, 6, votes)) % 6
    winner = rng.choice(["model_a", "model_b", "tie"], votes, p=[0.45, 0.4, 0.15])
    return pl.DataFrame(
        {
            "instruction_id": [f"q{i // 6}" for i in range(votes)],
            "model_a": [experts[i] for i in a],
            "model_b": [experts[i] for i in b],
            "winner": winner,
            "weight": np.ones(votes),
        }
    )


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def run(quick: bool = False, smoke: bool = False, only: str | None = None) -> dict[str, Any]:
    """Per place: join once, one cold call (Ray starts the job's workers), then the timed
    repeats. Ray workers belong to one driver job, so joining anew per repeat would time worker
    starts, not the stage; a `warriorcoder run` joins once for all its steps. Local is measured
    first and last, so a load drift shows in the local spread."""
    responses, rounds, repeats = (8, 20, 1) if smoke else (16, 100, 2) if quick else (48, 400, 3)
    rows, battles = _responses(responses), _battles(6000)
    many = _battles(20_000 if smoke else 1_000_000)
    stages: dict[str, Callable[[], Any]] = {
        "execution_judge": lambda: score_responses(rows, timeout_s=10, memory_mb=256, workers=2),
        "bt_bootstrap": lambda: bootstrap_bradley_terry(battles, rounds=rounds, seed=1),
        "elo_bootstrap": lambda: bootstrap_online_elo(many, rounds=rounds // 4, seed=1),
    }
    if only is not None:
        stages = {only: stages[only]}
    os.environ.pop(RAY_ADDRESS_ENV, None)
    clusters = {"ray_1node": LocalCluster(), "ray_2nodes": LocalCluster()}
    seconds: dict[str, dict[str, list[float]]] = {stage: {} for stage in stages}
    cold: dict[str, dict[str, float]] = {stage: {} for stage in stages}
    values: dict[str, dict[str, Any]] = {stage: {} for stage in stages}
    try:
        clusters["ray_1node"].start(nodes=1, num_cpus=2)
        clusters["ray_2nodes"].start(nodes=2, num_cpus=1)
        places = [("local", None), *((n, c.address) for n, c in clusters.items()), ("local", None)]
        for place, address in places:
            if address is None:
                os.environ.pop(RAY_ADDRESS_ENV, None)
            else:
                os.environ[RAY_ADDRESS_ENV] = address
                connect(address)  # joining is not part of the stage's time
            for stage, fn in stages.items():
                value, taken = _timed(fn)
                values[stage].setdefault(place, value)
                cold[stage].setdefault(place, taken)
                for _ in range(repeats):
                    value, taken = _timed(fn)
                    seconds[stage].setdefault(place, []).append(taken)
                    values[stage][f"{place}-again"] = value
    finally:
        os.environ.pop(RAY_ADDRESS_ENV, None)
        shutdown()
        for cluster in clusters.values():
            cluster.stop()
    result: dict[str, Any] = {
        "responses": responses,
        "bootstrap_rounds": rounds,
        "repeats": repeats,
    }
    for stage in stages:
        for place, value in values[stage].items():
            if not value.equals(values[stage]["local"]):
                raise RuntimeError(f"{stage} on {place} differs from the local result")
        median = {place: statistics.median(times) for place, times in seconds[stage].items()}
        result[stage] = {
            "local_s": round(median["local"], 3),
            "local_spread_s": [
                round(min(seconds[stage]["local"]), 3),
                round(max(seconds[stage]["local"]), 3),
            ],
            "ray_1node_s": round(median["ray_1node"], 3),
            "ray_2nodes_s": round(median["ray_2nodes"], 3),
            "ratio_1node_vs_local": round(median["ray_1node"] / median["local"], 2),
            "ratio_2nodes_vs_local": round(median["ray_2nodes"] / median["local"], 2),
            "cold_first_call_s": {place: round(t, 3) for place, t in cold[stage].items()},
            "same_result_everywhere": True,
        }
    return result


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    rows = []
    if "execution_judge" in result:
        judge = result["execution_judge"]
        rows.append(
            (
                "Ray overhead (`bench_cluster`)",
                f"execution judge on {result['responses']} responses, wall seconds on a 1-node "
                "(2 CPUs) and a 2-node (1 CPU each) Ray cluster over local processes (2 workers), "
                "same machine, same verdicts",
                f"1 node **{judge['ratio_1node_vs_local']}x**, 2 nodes "
                f"**{judge['ratio_2nodes_vs_local']}x** ({judge['local_s']} s local)",
                "report",
            )
        )
    if "bt_bootstrap" in result:
        boot = result["bt_bootstrap"]
        rows.append(
            (
                "Ray overhead, BT bootstrap",
                f"{result['bootstrap_rounds']} rounds on 6,000 votes, same comparison, same ratings",
                f"1 node **{boot['ratio_1node_vs_local']}x**, 2 nodes "
                f"**{boot['ratio_2nodes_vs_local']}x** ({boot['local_s']} s local)",
                "report",
            )
        )
    if "elo_bootstrap" in result:
        elo = result["elo_bootstrap"]
        rows.append(
            (
                "Ray overhead, Elo bootstrap",
                f"{result['bootstrap_rounds'] // 4} rounds on 1,000,000 votes, same comparison, "
                "same ratings",
                f"1 node **{elo['ratio_1node_vs_local']}x**, 2 nodes "
                f"**{elo['ratio_2nodes_vs_local']}x** ({elo['local_s']} s local)",
                "report",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 responses, 100 rounds")
    parser.add_argument("--only", help="one stage: execution_judge, bt_bootstrap, elo_bootstrap")
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick, only=args.only), indent=2))


if __name__ == "__main__":
    main()
