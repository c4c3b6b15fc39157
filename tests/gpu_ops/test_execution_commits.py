"""Each sandbox run's outcome is committed to the execution cache as the run returns, so a
driver killed mid-step (SIGKILL at the `execution.committed` crash point) keeps every finished
run, and the rerun runs only the rest. The same on a Ray cluster: tests/cluster/test_ray_resume.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from gpu_ops.sandbox.result_cache import ExecutionCache
from tests.cluster.drivers import run_driver
from tests.cluster.resume_driver import score

PROGRAMS = 6


def drive(cache: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    return run_driver("tests.cluster.resume_driver", cache, PROGRAMS, failpoint=failpoint)


def committed(cache: Path) -> int:
    with sqlite3.connect(cache) as connection:
        return connection.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]


def test_a_killed_driver_keeps_each_finished_run(tmp_path: Path) -> None:
    cache = tmp_path / "execution_results.sqlite"
    killed = drive(cache, "execution.committed=2")
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILLed mid-step
    assert committed(cache) == 2  # two runs had returned: both kept, before the step's end
    rerun = drive(cache)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert report["sandbox_runs"] == PROGRAMS - 2  # the finished runs were not run again
    assert report["scores"] == score(ExecutionCache(), PROGRAMS)  # == an uninterrupted run
    assert committed(cache) == PROGRAMS
