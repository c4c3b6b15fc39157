"""Task functions the cluster tests send to Ray workers (importable there as tests.cluster.tasks;
pytest imports the test modules themselves under names the workers cannot import)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from gpu_ops.sandbox import SandboxUnavailable


def square_after(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value * value


def plus_one(value: int) -> int:
    return value + 1


def refuse(value: int) -> int:
    raise SandboxUnavailable(f"sandbox isolation 'full' is not available (item {value})")


def marked_square(marks: Path, seconds: float, value: int) -> int:
    """Leaves one file per execution in `marks` (test instrumentation only)."""
    (marks / f"{value}-{os.getpid()}-{time.monotonic_ns()}").touch()
    return square_after(seconds, value)
