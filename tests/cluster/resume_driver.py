"""A driver process for the resume tests: scores a fixed set of programs with the arena's
execution scorer against one execution cache, and prints what it ran.

Run as `python -m tests.cluster.resume_driver CACHE N`, CACHE a SQLite path or a postgresql://
URL. With `WC_RAY_ADDRESS` set the programs run as Ray tasks; with `WC_FAILPOINTS=
execution.committed=K` the process SIGKILLs itself right after the K-th committed outcome (a
driver killed mid-step). The last stdout line is JSON: sandbox runs made and each row's score.
"""

from __future__ import annotations

import json
import sys

import polars as pl

from gpu_ops.arena.execution_judge import score_responses
from gpu_ops.sandbox.result_cache import ExecutionCache
from gpu_ops.state_db import open_execution_cache

SCORE_COLUMNS = ["instruction_id", "has_code", "parses", "runs", "exec_score", "error_kind"]


def rows(count: int) -> pl.DataFrame:
    """`count` one-expert instructions: programs that take a moment, every third one fails."""
    programs = [
        f"import time\ntime.sleep(0.3)\nprint({i})"
        + ("\nraise ValueError('no')" if i % 3 == 0 else "")
        for i in range(count)
    ]
    return pl.DataFrame(
        {
            "instruction_id": [f"task-{i:02d}" for i in range(count)],
            "expert": ["solo"] * count,
            "instruction": [f"Print the number {i}." for i in range(count)],
            "response": [f"```python\n{code}\n```" for code in programs],
        }
    )


def score(cache: ExecutionCache, count: int) -> list[dict]:
    """The rows' scores (the columns that do not depend on where the code ran)."""
    frame = score_responses(rows(count), timeout_s=10, memory_mb=256, cache=cache)
    return frame.select(SCORE_COLUMNS).sort("instruction_id").to_dicts()


def main(argv: list[str]) -> None:
    target, count = argv[0], int(argv[1])
    url = target if target.startswith("postgres") else None
    cache = open_execution_cache(target, url)
    try:
        scores = score(cache, count)
        print(json.dumps({"sandbox_runs": cache.sandbox_runs, "scores": scores}), flush=True)
    finally:
        cache.close()


if __name__ == "__main__":
    main(sys.argv[1:])
