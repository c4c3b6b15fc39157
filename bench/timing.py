"""Shared timing and peak-memory helpers of the benchmarks.

Why one module: every benchmark times and measures memory the same way (median of repeats,
`time.perf_counter`, peak resident set size of one stage), so figures of different benchmarks
can be compared and each module stays short.

Peak memory of a stage run in this process: `PeakMemory` resets the kernel's high-water mark
(`/proc/self/clear_refs`, Linux) on entry and reads `VmHWM` on exit, so a stage's peak is not
hidden by an earlier, bigger stage of the same process. Where the reset is not possible it falls
back to `ru_maxrss` (the process lifetime peak) and says so (`reset=False`).

Peak memory of a command (`run_command`): `VmHWM` of the child polled from /proc while it runs.
Why not `os.wait4`'s `ru_maxrss`: Linux carries the parent's high-water mark over the child's
exec, so a child of a big benchmark process would report at least the parent's size.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
MIB = 2**20


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call fn once; return (its value, seconds)."""
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def median_timed(fn: Callable[[], T], repeats: int) -> tuple[T, float]:
    """Call fn `repeats` times; return (the last value, median seconds)."""
    times: list[float] = []
    value: T | None = None
    for _ in range(max(repeats, 1)):
        value, seconds = timed(fn)
        times.append(seconds)
    return value, statistics.median(times)  # type: ignore[return-value]


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` calls of fn."""
    return median_timed(fn, repeats)[1]


def _status_kib(pid: int | str, field: str) -> int | None:
    """A `VmXXX:` field (KiB) of /proc/<pid>/status, or None (not Linux, process gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def current_rss_bytes() -> int:
    """Resident set size of this process now (0 where /proc is missing)."""
    kib = _status_kib("self", "VmRSS")
    return (kib or 0) * 1024


def peak_rss_bytes() -> int:
    """High-water resident set size of this process since start or the last reset."""
    kib = _status_kib("self", "VmHWM")
    if kib is None:
        scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return kib * 1024


def reset_peak_rss() -> bool:
    """Reset this process's high-water RSS to its current RSS (Linux); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager: peak RSS of this process while the block ran.

    `peak_mib`: the high-water RSS during the block (the whole process: interpreter, imports
    and data already held included); `start_mib`: RSS at entry, so `peak_mib - start_mib` is
    what the block added at its peak. `reset` is False where the high-water mark could not be
    reset and `peak_mib` is the process lifetime peak.
    """

    def __init__(self) -> None:
        self.reset = False
        self.start_bytes = 0
        self.peak_bytes = 0

    def __enter__(self) -> PeakMemory:
        self.reset = reset_peak_rss()
        self.start_bytes = current_rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        # The kernel's RSS counters lag a little (per-thread batches), so VmHWM can read a few
        # pages below the RSS read at entry; the peak is at least what was resident then.
        self.peak_bytes = max(peak_rss_bytes(), current_rss_bytes(), self.start_bytes)

    @property
    def peak_mib(self) -> float:
        return round(self.peak_bytes / MIB, 1)

    @property
    def start_mib(self) -> float:
        return round(self.start_bytes / MIB, 1)

    def as_dict(self) -> dict[str, float | bool]:
        """The figures a result dict reports."""
        return {
            "peak_rss_mib": self.peak_mib,
            "start_rss_mib": self.start_mib,
            "added_mib": round((self.peak_bytes - self.start_bytes) / MIB, 1),
            "peak_reset": self.reset,
        }


@dataclass(frozen=True)
class CommandResult:
    """How a command ended: exit code, wall seconds, peak RSS of the process, its output."""

    returncode: int
    seconds: float
    peak_rss_bytes: int
    output: str

    @property
    def peak_rss_mib(self) -> float:
        return round(self.peak_rss_bytes / MIB, 1)


def run_command(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    poll_seconds: float = 0.02,
) -> CommandResult:
    """Run a command; time it and poll its peak RSS (`VmHWM`) until it exits.

    The peak is that of the command's own process (dbt runs DuckDB in-process); growth in the
    last poll interval before exit can be missed, which is small next to a query's peak.
    """
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        timer = threading.Timer(timeout, process.kill) if timeout else None
        if timer:
            timer.start()
        peak_kib = 0
        try:
            while process.poll() is None:
                peak_kib = max(peak_kib, _status_kib(process.pid, "VmHWM") or 0)
                time.sleep(poll_seconds)
        finally:
            if timer:
                timer.cancel()
        seconds = time.perf_counter() - started
        log.seek(0)
        output = log.read()
    return CommandResult(process.returncode, seconds, peak_kib * 1024, output)
