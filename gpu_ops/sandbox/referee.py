"""Decide tests on plain answers, in a sandbox run that holds no code under test.

The judge's parent never evaluates test text (issue 24: a condition that passed every size guard
ran quadratically in the parent, an expected value built 800 MB there). The referee is one
sandboxed run per batch: for each job (a test's condition and the travelled answers of its
probes) it forks, and the fork decodes the answers, applies the chain steps the sandbox left
(``rest``), and evaluates the condition with only ``trusted_eval.REFEREE_NAMES`` as builtins,
under its own CPU-time (``ITIMER_PROF``, then RLIMIT_CPU) and address-space limits. A job is:

- ``True`` / ``False``: the condition held / did not (an exception, an exhausted CPU budget or
  a MemoryError is ``False``, as a raising assert is a failed test);
- ``None``: no verdict (the fork died otherwise, or the run was killed on the wall clock twice):
  the test is *no test* for that answer, never an exception out of the judge.

A collecting probe's rows are taken one per item by ``_wc_next`` (see ``test_cases``); taking
more rows than the sandbox answered fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from gpu_ops.arena.trusted_eval import REFEREE_BUILTINS
from gpu_ops.sandbox import run_many
from gpu_ops.sandbox.probes import CODEC_SOURCE

JOBS_FILE = "referee.json"
CPU_SECONDS = 1.0  # per test
MEMORY_MB = 384  # per test (RLIMIT_AS of its fork)
JOBS_PER_RUN = 256

REFEREE = """
import os as _os, resource as _resource, select as _select, signal as _signal, time as _time
import builtins as _builtins
_channel = _os.dup(1)
_os.dup2(_os.open(_os.devnull, _os.O_WRONLY), 1)
with open("referee.json", encoding="utf-8") as _f:
    _spec = json.load(_f)
_SAFE = {name: getattr(_builtins, name) for name in _spec["builtins"]}
import math as _math
class _Exhausted(Exception):
    pass
def _apply(value, steps):
    for step in steps:
        value = eval(compile(step, "step", "eval"), {"__builtins__": _SAFE}, {"_wc_v": value})
    return value
def _finish(value, rest, steps):
    return _apply(decode(value), steps[len(steps) - rest:] if rest else [])
def _rows(probe):
    cuts = probe["cuts"]
    for row in probe["rows"]:
        if len(row) != len(cuts):
            raise ValueError("row width")
        yield tuple(_finish(cell[0], cell[1], cut) for cell, cut in zip(row, cuts))
def _next(rows):
    for row in rows:
        return row
    raise _Exhausted("more items than the code answered")
def _decide(job):
    scope = {"__builtins__": _SAFE, "math": _math, "_wc_next": _next}
    for name, probe in job["probes"].items():
        if "rows" in probe:
            scope[name] = _rows(probe)
        else:
            scope[name] = _finish(probe["value"], probe["rest"], probe["steps"])
    return bool(eval(compile(job["condition"], "test", "eval"), scope))
def _expired(signum, frame):
    raise TimeoutError("referee time limit")
_CPU, _MEMORY = _spec["cpu_s"], _spec["memory_bytes"]
for _index, _job in enumerate(_spec["jobs"]):
    _read, _write = _os.pipe()
    _pid = _os.fork()
    if _pid == 0:
        _answer = b"0"
        try:
            _os.close(_read)
            _os.close(_channel)
            _resource.setrlimit(_resource.RLIMIT_AS, (_MEMORY, _MEMORY))
            _hard = _resource.getrlimit(_resource.RLIMIT_CPU)[1]
            _soft = int(_CPU) + 1 if _hard < 0 else min(_hard, int(_CPU) + 1)
            _resource.setrlimit(_resource.RLIMIT_CPU, (_soft, _hard))
            _signal.signal(_signal.SIGPROF, _expired)
            _signal.setitimer(_signal.ITIMER_PROF, _CPU)
            _answer = b"1" if _decide(_job) else b"0"
        except BaseException:
            _answer = b"0"
        finally:
            try:
                _os.write(_write, _answer)
            finally:
                _os._exit(0)
    _os.close(_write)
    _ready, _, _ = _select.select([_read], [], [], _CPU * 4 + 1)
    _data = _os.read(_read, 4) if _ready else b""
    if not _ready:
        _os.kill(_pid, 9)
    _os.close(_read)
    _, _status, _usage = _os.wait4(_pid, 0)
    _cpu_out = _os.WIFSIGNALED(_status) and _os.WTERMSIG(_status) == _signal.SIGXCPU
    _cpu_out = _cpu_out or _usage.ru_utime + _usage.ru_stime >= _CPU
    _verdict = 1 if _data == b"1" else 0 if (_data == b"0" or _cpu_out) else None
    _wall = not _ready and not _cpu_out
    _line = json.dumps({"i": _index, "v": _verdict, "wall": _wall}) + "\\n"
    _os.write(_channel, _line.encode())
"""


def referee_program() -> str:
    return CODEC_SOURCE + REFEREE


def _parse(stdout: str, count: int) -> tuple[list[bool | None], set[int]]:
    """(verdicts, indices worth asking again): no line, or killed on the wall clock."""
    verdicts: list[bool | None] = [None] * count
    again = set(range(count))
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
            index, value = record["i"], record["v"]
        except (ValueError, KeyError, TypeError):
            continue
        if type(index) is int and 0 <= index < count and value in (0, 1, None):
            verdicts[index] = None if value is None else bool(value)
            if not record.get("wall"):
                again.discard(index)
    return verdicts, again


def _run(jobs: list[dict], workers: int | None, allow_weak_isolation: bool) -> tuple[list, set]:
    chunks = [jobs[i : i + JOBS_PER_RUN] for i in range(0, len(jobs), JOBS_PER_RUN)]
    spec = {"builtins": sorted(REFEREE_BUILTINS), "cpu_s": CPU_SECONDS}
    spec["memory_bytes"] = MEMORY_MB * 1024 * 1024
    results = run_many(
        [referee_program()] * len(chunks),
        files_per_run=[{JOBS_FILE: json.dumps(spec | {"jobs": chunk})} for chunk in chunks],
        workers=workers,
        timeout_s=len(max(chunks, key=len)) * (CPU_SECONDS * 4 + 1.5) + 5,
        memory_mb=MEMORY_MB + 128,
        max_output_bytes=64 * JOBS_PER_RUN + 4096,
        allow_weak_isolation=allow_weak_isolation,
    )
    verdicts: list[bool | None] = []
    again: set[int] = set()
    for offset, (chunk, result) in zip(
        range(0, len(jobs), JOBS_PER_RUN), zip(chunks, results, strict=True), strict=True
    ):
        found, retry = _parse(result.stdout, len(chunk))
        verdicts += found
        again |= {offset + i for i in retry}
    return verdicts, again


def decide(
    jobs: Sequence[dict], *, workers: int | None = None, allow_weak_isolation: bool = False
) -> list[bool | None]:
    """One verdict per job (see the module docstring); jobs without a verdict for a reason load
    could cause are asked once more, in a run of their own."""
    jobs = list(jobs)
    if not jobs:
        return []
    verdicts, again = _run(jobs, workers, allow_weak_isolation)
    if again:
        order = sorted(again)
        retried, _ = _run([jobs[i] for i in order], 1, allow_weak_isolation)
        for index, verdict in zip(order, retried, strict=True):
            verdicts[index] = verdict
    return verdicts
