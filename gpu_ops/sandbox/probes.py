"""Ask sandboxed code for values, never for verdicts.

A ``Probe`` is one question to the code under test: call one of its functions with plain
arguments, or evaluate one expression on a copy of its globals (after optional setup statements).
The sandboxed runner answers each probe with plain data (``plain_codec``) on a descriptor saved
before the code loads; what the code prints goes to /dev/null. The parent decodes the answers
and decides, on its side (or in a referee run without the code), whether they are right: no
expected value is ever inside the sandbox, and neither the exit status nor anything printed
counts. Whatever the code does to the runner (patched builtins, replaced functions,
``os._exit``, hooks, tracers) can only change the answers it gives, which is what it could do by
returning them anyway.

Isolation between tests (issue 24): the code is loaded once, then every *group* of probes (one
test: its setup and its probes) runs in its own ``fork`` of that loaded state, so a setup line or
a probe that mutates module state cannot reach the next test. The fork cannot write on the answer
channel (it is closed there); it answers on its own pipe, which the runner reads with a cap of
``answer_bytes`` per probe: a group that sends more records than it has probes, or malformed
ones, gets "malformed answer" for all its probes. Each answer has its own budget
(``answer_bytes``): a larger one is the error ``AnswerTooLarge`` of that probe alone. Probe alarms
count CPU time (``ITIMER_PROF``) and the fork's RLIMIT_CPU ends a probe stuck in C code: either
is the final answer ``TimeoutError``; a group that only sleeps is killed on a wall deadline and
its probes get no answer (``Answers.provisional``: load could have caused it; asked again, never
cached). A value with further ``steps`` (``f(x).startswith('a')``: ``.startswith``, ``('a')``) is
answered as soon as it is plain data, or converts to a builtin that has the next step (a
subscript, or an attribute of that builtin: a ``str`` subclass's own ``startswith`` is not asked),
with the steps left (``rest``) for the referee; other steps (a ``Stack``'s ``pop``) run in the
sandbox, as the code's own API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gpu_ops.errors import InputError
from gpu_ops.sandbox import SandboxResult, run_many
from gpu_ops.sandbox.plain_codec import PlainDataError, decode, dumps, encode

CODEC_SOURCE = (Path(__file__).parent / "plain_codec.py").read_text(encoding="utf-8")
SOLUTION_FILE = "solution.py"
PROBES_FILE = "probes.json"
MAX_PROBE_SECONDS = 2.0
ANSWER_BYTES = 256 * 1024  # default budget of one encoded answer
MAX_RUN_OUTPUT = 256 * 1024 * 1024
_WALL_FACTOR = 4.0  # a group's wall deadline: this times its CPU budget, plus one second

RUNNER = """
import os as _os, select as _select, signal as _signal, resource as _resource, time as _time
_channel = _os.dup(1)
_null = _os.open(_os.devnull, _os.O_WRONLY)
_os.dup2(_null, 1)
def _write(fd, data):
    while data:
        data = data[_os.write(fd, data):]
def _emit(record):
    _write(_channel, (json.dumps(record, separators=(",", ":")) + "\\n").encode())
with open("probes.json", encoding="utf-8") as _f:
    _job = json.load(_f)
_groups, _SECONDS, _BUDGET = _job["groups"], _job["seconds_per_probe"], _job["answer_bytes"]
with open("solution.py", encoding="utf-8") as _f:
    _source = _f.read()
class _Cut:
    __slots__ = ("value", "rest")
    def __init__(self, value, rest):
        self.value, self.rest = value, rest
def _plain(value):
    try:
        encode(value)
        return True
    except PlainDataError:
        return False
def _builtin_step(value, step):
    if step.startswith("_wc_v["):
        return True
    name = step[6:] if step.startswith("_wc_v.") else ""
    for base in (str, bytes, int, float, list, tuple, dict, set, frozenset):
        if isinstance(value, base):
            return name.isidentifier() and hasattr(base, name)
    return False
def _wc_cut(value, steps, scope=None):
    rest = len(steps)
    for step in steps:
        if _plain(value):
            break
        try:
            encode_answer(value)
            if _builtin_step(value, step):
                break
        except BaseException:
            pass
        value = eval(compile(step, "probe", "eval"), scope if scope is not None else {}, {"_wc_v": value})
        rest -= 1
    return _Cut(value, rest)
def _encode_cut(cut):
    if type(cut) is not _Cut:
        raise PlainDataError("not a probe value")
    return [encode_answer(cut.value), cut.rest]
def _expired(signum, frame):
    raise TimeoutError("probe time limit")
def _run_group(group, out):
    _os.close(_channel)
    cpu = group["cpu_s"]
    if cpu:
        soft, hard = _resource.getrlimit(_resource.RLIMIT_CPU)
        limit = int(cpu) + 1 if hard < 0 else min(hard, int(cpu) + 1)
        _resource.setrlimit(_resource.RLIMIT_CPU, (limit, hard))
    _signal.signal(_signal.SIGPROF, _expired)
    scope = dict(_ns)
    scope["_wc_cut"] = _wc_cut
    if group["setup"]:
        try:
            if _SECONDS:
                _signal.setitimer(_signal.ITIMER_PROF, _SECONDS)
            exec(compile(group["setup"], "probe", "exec"), scope)
            _signal.setitimer(_signal.ITIMER_PROF, 0)
        except BaseException as error:
            _signal.setitimer(_signal.ITIMER_PROF, 0)
            for probe in group["probes"]:
                _write(out, (json.dumps({"i": probe["i"], "error": type(error).__name__[:60]}) + "\\n").encode())
            return
    for probe in group["probes"]:
        if _SECONDS:
            _signal.setitimer(_signal.ITIMER_PROF, _SECONDS)
        try:
            if probe["function"]:
                value = scope[probe["function"]](*loads(probe["args"]), **loads(probe["kwargs"]))
            else:
                value = eval(compile(probe["expression"], "probe", "eval"), scope)
            if probe["rows"]:
                record = {"i": probe["i"], "rows": [[_encode_cut(c) for c in row] for row in value]}
            else:
                cut = _wc_cut(value, probe["steps"], scope)
                record = {"i": probe["i"], "value": _encode_cut(cut)[0], "rest": cut.rest}
            data = json.dumps(record, separators=(",", ":"))
            if len(data) > _BUDGET:
                record = {"i": probe["i"], "error": "AnswerTooLarge"}
                data = json.dumps(record)
        except BaseException as error:
            data = json.dumps({"i": probe["i"], "error": type(error).__name__[:60]})
        _signal.setitimer(_signal.ITIMER_PROF, 0)
        _write(out, (data + "\\n").encode())
def _collect(pid, fd, group):
    wanted = {probe["i"] for probe in group["probes"]}
    cap = len(wanted) * (_BUDGET + 256) + 1024
    wall = group["wall_s"]
    deadline = _time.monotonic() + wall if wall else None
    data, killed = bytearray(), False
    while True:
        timeout = None if deadline is None else max(0.0, deadline - _time.monotonic())
        ready, _, _ = _select.select([fd], [], [], timeout)
        if not ready:
            _os.kill(pid, 9)
            killed = True
            break
        chunk = _os.read(fd, 65536)
        if not chunk:
            break
        data.extend(chunk)
        if len(data) > cap:
            _os.kill(pid, 9)
            data = None
            break
    _os.close(fd)
    _, status, usage = _os.wait4(pid, 0)
    signal_number = _os.WTERMSIG(status) if _os.WIFSIGNALED(status) else 0
    spent = usage.ru_utime + usage.ru_stime
    if killed and group["cpu_s"] and spent >= group["cpu_s"]:
        signal_number = _signal.SIGXCPU  # spent its CPU budget: final, whatever the clock says
    elif not killed and signal_number == _signal.SIGKILL and spent >= _RUN_CPU_LIMIT - 0.05:
        signal_number = _signal.SIGXCPU  # the run's RLIMIT_CPU (soft = hard) ends with SIGKILL
    records = {}
    for line in (bytes(data).split(b"\\n") if data is not None else [b"!"]):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        index = record.get("i") if type(record) is dict else None
        if type(index) is not int or index not in wanted or index in records:
            records = None
            break
        records[index] = record
    if records is None:
        return [{"i": i, "error": "malformed answer"} for i in sorted(wanted)]
    missing = [i for i in sorted(wanted) if i not in records]
    if signal_number == _signal.SIGXCPU:
        records.update({i: {"i": i, "error": "TimeoutError"} for i in missing})
    elif not killed:
        reason = "killed" if signal_number else "died"
        records.update({i: {"i": i, "error": reason} for i in missing})
    return [records[i] for i in sorted(records)]
_RUN_CPU_LIMIT = _resource.getrlimit(_resource.RLIMIT_CPU)[0]
_RUN_CPU_LIMIT = float("inf") if _RUN_CPU_LIMIT < 0 else _RUN_CPU_LIMIT
_ns = {"__name__": "solution", "__builtins__": __builtins__}
try:
    exec(compile(_source, "solution.py", "exec"), _ns)
except BaseException as _error:
    _emit({"load_error": type(_error).__name__[:60]})
    _os._exit(0)
_emit({"loaded": True})
for _group in _groups:
    _read, _out = _os.pipe()
    _pid = _os.fork()
    if _pid == 0:
        _os.close(_read)
        try:
            _run_group(_group, _out)
        finally:
            _os._exit(0)
    _os.close(_out)
    for _record in _collect(_pid, _read, _group):
        _emit(_record)
_os._exit(0)
"""


@dataclass(frozen=True)
class Probe:
    """One value to ask for: ``function(*args, **kwargs)`` or ``expression`` after ``setup``.

    ``steps``: expressions over ``_wc_v`` applied to the value only while it is not plain data
    (the rest are left to the referee); ``rows``: the expression is a comprehension collecting
    ``_wc_cut(...)`` tuples, one per iteration. Probes with equal ``group`` and ``setup`` next to
    each other share one fork (one test)."""

    function: str = ""
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expression: str = ""
    setup: str = ""
    steps: tuple[str, ...] = ()
    rows: bool = False
    group: str = ""

    def to_json(self) -> dict:
        record = {
            "function": self.function,
            "args": dumps(tuple(self.args)),
            "kwargs": dumps(dict(self.kwargs)),
            "expression": self.expression,
            "setup": self.setup,
        }
        if self.steps or self.rows:
            record |= {"steps": list(self.steps), "rows": self.rows}
        return record


@dataclass(frozen=True)
class Answers:
    """What one sandbox run answered. ``values``/``errors`` map probe index to the returned
    plain value / the exception type name; a probe in neither got no answer (e.g. the run was
    killed). ``encoded``: the answer as it travelled ({"value", "rest"} or {"rows"}), for the
    referee and the cache. ``provisional``: some probe lacks an answer for a reason load could
    cause (wall clock, sandbox error): ask again, cache nothing of it."""

    loaded: bool
    load_error: str | None
    values: dict[int, object]
    errors: dict[int, str]
    result: SandboxResult | None
    encoded: dict[int, dict] = field(default_factory=dict)
    provisional: bool = False


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


def _answer(record: dict) -> tuple[object, dict]:
    """(decoded value, travelled form) of one value or rows record; raises for malformed ones."""
    if "rows" in record:
        rows = record["rows"]
        if type(rows) is not list or not all(type(row) is list for row in rows):
            raise PlainDataError("malformed rows")
        for row in rows:
            for cell in row:
                if type(cell) is not list or len(cell) != 2 or type(cell[1]) is not int:
                    raise PlainDataError("malformed row cell")
                decode(cell[0])
        return rows, {"rows": rows}
    rest = record.get("rest", 0)
    if type(rest) is not int or rest < 0:
        raise PlainDataError("malformed rest")
    return decode(record["value"]), {"value": record["value"], "rest": rest}


def _discarded(result: SandboxResult, why: str) -> Answers:
    return Answers(False, why, {}, {}, result)


def parse_answers(result: SandboxResult, count: int) -> Answers:
    """Decode a runner's stdout strictly. A channel that carried anything but well-formed
    records, more than one record for a probe, or more records than probes is discarded whole
    (no answer at all); a value that fails to decode is that probe's "malformed answer"."""
    loaded, load_error = False, None
    values: dict[int, object] = {}
    errors: dict[int, str] = {}
    encoded: dict[int, dict] = {}
    lines = result.stdout.splitlines()
    if len(lines) > count + 2 or (lines and result.status == "output_limit"):
        return _discarded(result, "malformed channel")
    for line in lines:
        record = _record(line)
        if record is None:
            return _discarded(result, "malformed channel")
        if set(record) == {"loaded"} and record["loaded"] is True and not loaded:
            loaded = True
            continue
        if set(record) == {"load_error"} and isinstance(record["load_error"], str):
            load_error = record["load_error"][:60]
            continue
        index = record.get("i")
        if type(index) is not int or not 0 <= index < count or index in values or index in errors:
            return _discarded(result, "malformed channel")
        if "value" in record or "rows" in record:
            try:
                values[index], encoded[index] = _answer(record)
            except (PlainDataError, ValueError, TypeError, KeyError, RecursionError):
                errors[index] = "malformed answer"
        elif isinstance(record.get("error"), str):
            errors[index] = record["error"][:60]
        else:
            return _discarded(result, "malformed channel")
    complete = len(values) + len(errors) == count
    provisional = not complete and (
        (result.status == "timeout" and result.provisional)
        or result.status == "sandbox_error"
        or (loaded and result.status in ("ok", "killed"))
    )
    return Answers(
        loaded and load_error is None, load_error, values, errors, result, encoded, provisional
    )


def per_probe_seconds(timeout_s: float) -> float:
    """CPU time one probe may take before it is abandoned (SIGPROF, then RLIMIT_CPU) and the
    next one asked: a probe that hangs costs only its own answer."""
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


def _groups(probes: list[Probe], seconds: float) -> list[dict]:
    """Consecutive probes with equal (group, setup), each group one fork in the runner."""
    groups: list[dict] = []
    for index, probe in enumerate(probes):
        key = (probe.group, probe.setup)
        if not groups or groups[-1]["key"] != key:
            groups.append({"key": key, "setup": probe.setup, "probes": []})
        groups[-1]["probes"].append(
            probe.to_json() | {"i": index, "steps": list(probe.steps), "rows": probe.rows}
        )
    for group in groups:
        cpu = seconds * (len(group["probes"]) + 1) if seconds else 0.0
        group["cpu_s"] = cpu
        group["wall_s"] = cpu * _WALL_FACTOR + 1.0 if seconds else 0.0
        del group["key"]
    return groups


def answer_budget(count: int, answer_bytes: int | None = None) -> int:
    """Bytes one encoded answer may take: the caller's, else 256 KiB (less when many probes
    would exceed the run's output cap)."""
    if answer_bytes is not None:
        return max(1024, int(answer_bytes))
    return max(16 * 1024, min(ANSWER_BYTES, MAX_RUN_OUTPUT // max(1, count)))


def ask_many(
    jobs: list[tuple[str, list[Probe]]],
    *,
    workers: int | None = None,
    seconds_per_probe: float | None = None,
    answer_bytes: int | None = None,
    on_result: Callable[[int, Answers], None] | None = None,
    **sandbox_kwargs,
) -> list[Answers]:
    """For each (solution source, probes): run the solution in its own sandbox and collect the
    answers. Jobs run concurrently; a job that fails in any way only fails its own answers.
    ``seconds_per_probe`` (None: no limit but the run's) is the CPU time a probe may take;
    ``answer_bytes`` the size one encoded answer may have (see ``answer_budget``).
    ``on_result(position, answers)`` is called in the caller's thread as each job finishes."""
    for _, probes in jobs:
        _check_probes(probes)
    runner = runner_program()
    seconds = 0.0 if seconds_per_probe is None else max(0.01, float(seconds_per_probe))
    files, caps = [], []
    for _, probes in jobs:
        budget = answer_budget(len(probes), answer_bytes)
        payload = {"seconds_per_probe": seconds, "answer_bytes": budget}
        files.append(
            {
                SOLUTION_FILE: "",
                PROBES_FILE: json.dumps(payload | {"groups": _groups(probes, seconds)}),
            }
        )
        caps.append(min(MAX_RUN_OUTPUT, len(probes) * (budget + 256) + 65536))
    for spec, (source, _) in zip(files, jobs, strict=True):
        spec[SOLUTION_FILE] = source
    cap = max(caps, default=65536)
    sandbox_kwargs.setdefault("max_output_bytes", cap)
    parsed: dict[int, Answers] = {}

    def reported(position: int, result: SandboxResult) -> None:
        parsed[position] = parse_answers(result, len(jobs[position][1]))
        if on_result is not None:
            on_result(position, parsed[position])

    run_many(
        [runner] * len(jobs),
        files_per_run=files,
        workers=workers,
        on_result=reported,
        **sandbox_kwargs,
    )
    return [parsed[position] for position in range(len(jobs))]
