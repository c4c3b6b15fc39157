"""Ask sandboxed code for values, never for verdicts.

A ``Probe`` is one question to the code under test: call one of its functions with plain
arguments, or evaluate one expression on a copy of its globals (after optional setup statements).
The sandboxed runner answers each probe with plain data (``plain_codec``) on a descriptor saved
before the code loads; what the code prints goes to /dev/null; each probe has its own time limit.
The parent decodes the answers
and decides, on its side, whether they are right: no expected value is ever inside the sandbox,
and neither the exit status nor anything printed counts. Whatever the code does to the runner
(patched builtins, replaced functions, ``os._exit``, hooks, tracers) can only change the answers
it gives, which is what it could do by returning them anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gpu_ops.errors import InputError
from gpu_ops.sandbox import SandboxResult, run_many
from gpu_ops.sandbox.plain_codec import PlainDataError, decode, dumps, encode

CODEC_SOURCE = (Path(__file__).parent / "plain_codec.py").read_text(encoding="utf-8")
SOLUTION_FILE = "solution.py"
PROBES_FILE = "probes.json"
MAX_RECORDS = 10_000
MAX_PROBE_SECONDS = 2.0

RUNNER = """
import os as _os, sys as _sys
_channel = _os.dup(1)
_null = _os.open(_os.devnull, _os.O_WRONLY)
_os.dup2(_null, 1)
def _emit(record):
    data = (json.dumps(record, separators=(",", ":")) + "\\n").encode()
    while data:
        data = data[_os.write(_channel, data):]
with open("probes.json", encoding="utf-8") as _f:
    _job = json.load(_f)
_probes, _PROBE_SECONDS = _job["probes"], _job["seconds_per_probe"]
with open("solution.py", encoding="utf-8") as _f:
    _source = _f.read()
_ns = {"__name__": "solution", "__builtins__": __builtins__}
try:
    exec(compile(_source, "solution.py", "exec"), _ns)
except BaseException as _error:
    _emit({"load_error": type(_error).__name__[:60]})
    _os._exit(0)
_emit({"loaded": True})
import signal as _signal
def _expired(signum, frame):
    raise TimeoutError("probe time limit")
_signal.signal(_signal.SIGALRM, _expired)
for _index, _probe in enumerate(_probes):
    _globals = dict(_ns)
    if _PROBE_SECONDS:
        _signal.setitimer(_signal.ITIMER_REAL, _PROBE_SECONDS)
    try:
        if _probe["setup"]:
            exec(compile(_probe["setup"], "probe", "exec"), _globals)
        if _probe["function"]:
            _args, _kwargs = loads(_probe["args"]), loads(_probe["kwargs"])
            _value = _globals[_probe["function"]](*_args, **_kwargs)
        else:
            _value = eval(compile(_probe["expression"], "probe", "eval"), _globals)
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _emit({"i": _index, "value": encode(_value)})
    except BaseException as _error:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _emit({"i": _index, "error": type(_error).__name__[:60]})
    _signal.setitimer(_signal.ITIMER_REAL, 0)
_os._exit(0)
"""


@dataclass(frozen=True)
class Probe:
    """One value to ask for: ``function(*args, **kwargs)`` or ``expression`` after ``setup``."""

    function: str = ""
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expression: str = ""
    setup: str = ""

    def to_json(self) -> dict:
        return {
            "function": self.function,
            "args": dumps(tuple(self.args)),
            "kwargs": dumps(dict(self.kwargs)),
            "expression": self.expression,
            "setup": self.setup,
        }


@dataclass(frozen=True)
class Answers:
    """What one sandbox run answered. ``values``/``errors`` map probe index to the returned
    plain value / the exception type name; a probe in neither got no answer (e.g. timeout)."""

    loaded: bool
    load_error: str | None
    values: dict[int, object]
    errors: dict[int, str]
    result: SandboxResult


def runner_program() -> str:
    return CODEC_SOURCE + RUNNER


def _refuse(text: str) -> None:
    raise PlainDataError(f"bare JSON number {text[:20]}")  # floats travel tagged


def _record(line: str) -> dict | None:
    """One JSON record of the runner; None for anything else (a bare float spoils the line)."""
    try:
        record = json.loads(line, parse_float=_refuse, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def parse_answers(result: SandboxResult, count: int) -> Answers:
    """Decode a runner's stdout strictly; anything malformed is simply not an answer."""
    loaded, load_error = False, None
    values: dict[int, object] = {}
    errors: dict[int, str] = {}
    for line in result.stdout.splitlines()[:MAX_RECORDS]:
        record = _record(line)
        if record is None:
            continue
        if record.get("loaded") is True:
            loaded = True
        elif isinstance(record.get("load_error"), str):
            load_error = record["load_error"][:60]
        index = record.get("i")
        if type(index) is not int or not 0 <= index < count:
            continue
        if "value" in record:
            try:
                values[index] = decode(record["value"])
                errors.pop(index, None)
            except (PlainDataError, ValueError, RecursionError):
                errors[index] = "malformed answer"
        elif isinstance(record.get("error"), str):
            errors[index] = record["error"][:60]
            values.pop(index, None)
    return Answers(loaded and load_error is None, load_error, values, errors, result)


def per_probe_seconds(timeout_s: float) -> float:
    """Wall time one probe may take before it is abandoned (SIGALRM) and the next one asked:
    a probe that hangs costs only its own answer."""
    return round(min(MAX_PROBE_SECONDS, max(0.2, timeout_s / 4)), 3)


def _check_probes(probes: list[Probe]) -> None:
    for probe in probes:
        if bool(probe.function) == bool(probe.expression):
            raise InputError(f"a probe needs a function or an expression, not both: {probe}")
        try:
            encode(tuple(probe.args))
            encode(dict(probe.kwargs))
        except PlainDataError as error:
            raise InputError(f"probe arguments must be plain data: {error}") from None


def ask_many(
    jobs: list[tuple[str, list[Probe]]],
    *,
    workers: int | None = None,
    seconds_per_probe: float | None = None,
    **sandbox_kwargs,
) -> list[Answers]:
    """For each (solution source, probes): run the solution in its own sandbox and collect the
    answers. Jobs run concurrently; a job that fails in any way only fails its own answers.
    ``seconds_per_probe`` (None: no limit but the run's) abandons a probe that takes longer."""
    for _, probes in jobs:
        _check_probes(probes)
    runner = runner_program()
    seconds = 0.0 if seconds_per_probe is None else max(0.01, float(seconds_per_probe))
    files = [
        {
            SOLUTION_FILE: source,
            PROBES_FILE: json.dumps(
                {"seconds_per_probe": seconds, "probes": [p.to_json() for p in probes]}
            ),
        }
        for source, probes in jobs
    ]
    results = run_many([runner] * len(jobs), files_per_run=files, workers=workers, **sandbox_kwargs)
    return [
        parse_answers(result, len(probes))
        for result, (_, probes) in zip(results, jobs, strict=True)
    ]
