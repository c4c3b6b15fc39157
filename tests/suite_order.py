"""The order in which `make test`'s two xdist workers take the test files (`--dist loadfile`).

The run ends when the busier worker does, so the longest files start first, the way a greedy
longest-first schedule balances two workers: the demo arena alone is ~8 min, and started last (as
xdist's own order, by number of tests, had it) it ran on long after the other worker was done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# The files that take longest on 2 cores (seconds: the fresh-clone CI run's durations), longest
# first; every other file follows, most tests first (xdist's own order).
LONGEST_FILES = (
    "tests/test_demo_arena.py",  # ~470 s: the whole demo run
    "tests/test_demo_sweeps.py",  # ~115 s
    "tests/test_flywheel_pipeline.py",  # ~110 s
    "tests/test_crash_resume.py",  # ~95 s
    "tests/cluster/test_ray_cluster.py",  # ~90 s
    "tests/bench/test_bench_smoke.py",  # ~65 s
    "tests/dbt/test_dbt_marts.py",  # ~60 s
    "tests/gpu_ops/test_sft.py",  # ~60 s
    "tests/dagster_wc/test_parallel_partitions.py",  # ~50 s
    "tests/test_incremental_expert.py",  # ~50 s
    "tests/test_adaptive_schedule.py",  # ~40 s
)


def file_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def file_order(nodeids: Iterable[str]) -> dict[str, int]:
    """{test file: its place in the queue}: LONGEST_FILES first, then the others by number of
    tests; ties keep the collection order (a stable sort), so every worker gets the same order."""
    sizes = Counter(file_of(nodeid) for nodeid in nodeids)

    def rank(name: str) -> tuple[int, int]:
        first = LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)
        return first, -sizes[name]

    return {name: place for place, name in enumerate(sorted(sizes, key=rank))}
