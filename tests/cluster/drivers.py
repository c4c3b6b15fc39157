"""Runs a driver module of these tests (tests/cluster/*_driver.py) as a process of its own, as
the local resume tests do: a fresh process is what a crash point can SIGKILL without taking the
test with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_driver(
    module: str, *args: object, failpoint: str | None = None
) -> subprocess.CompletedProcess:
    """`python -m module args` on this machine: no Ray address or state URL from the caller's
    environment, this checkout first on PYTHONPATH, and only `failpoint` armed (WC_FAILPOINTS)."""
    env = {k: v for k, v in os.environ.items() if k not in ("WC_RAY_ADDRESS", "WC_STATE_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("WC_FAILPOINTS", None)
    if failpoint:
        env["WC_FAILPOINTS"] = failpoint
    command = [sys.executable, "-m", module, *(str(arg) for arg in args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
