"""Execution-based judging of responses: does the code parse, run, and pass its stated tests?

Parsing uses ``ast`` in-process (safe: nothing is executed); running happens only in
``gpu_ops.sandbox``. Score, in [0, 1]:

    0.0   no code found
    0.1   code found, but it does not parse (an attempt beats no attempt)
    0.25  the code parses
    0.5   the code also runs as a script (exit 0, empty stdin, within the limits)
    + 0.5 * tests_passed / tests_found   when the instruction or response states tests

So a script that runs and passes every stated test scores 1.0; without tests the maximum is 0.5.
A parsing program that crashes as a script (e.g. it waits for input) still earns test credit
(0.25 + 0.5 * fraction), because the tests import its definitions without running ``__main__``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import polars as pl

from gpu_ops.code_extract import extract_code_blocks, extract_tests, parses
from gpu_ops.errors import InputError
from gpu_ops.sandbox import SandboxResult, run_many

EXECUTION_COLUMNS = {
    "instruction_id": pl.String,
    "expert": pl.String,
    "has_code": pl.Boolean,
    "parses": pl.Boolean,
    "runs": pl.Boolean,
    "tests_found": pl.Int64,
    "tests_passed": pl.Int64,
    "exec_score": pl.Float64,
    "error_kind": pl.String,
}
_SANDBOX_ERROR_KINDS = {
    "error": "runtime",
    "timeout": "timeout",
    "memory": "memory",
    "killed": "killed",
    "output_limit": "output_limit",
}

# The test harness: loads the solution as module `solution` (not __main__, so its main block does
# not run), then runs each test on a copy of the solution's globals. Results go straight to fd 1
# through a reference taken before the solution is loaded, tagged with a per-run nonce; the last
# tagged line per test wins, and os._exit stops atexit hooks or threads from adding more.
_HARNESS = """\
import os as _os, sys as _sys, types as _types
_write = _os.write
_tag = {tag!r}
def _report(index, ok):
    _write(1, ("\\n" + _tag + " " + str(index) + " " + ("pass" if ok else "fail") + "\\n").encode())
_solution = _types.ModuleType("solution")
_sys.modules["solution"] = _solution
try:
    exec(compile({solution!r}, "solution.py", "exec"), _solution.__dict__)
except BaseException:
    _write(1, ("\\n" + _tag + " load-failed\\n").encode())
    _os._exit(0)
for _index, _test in enumerate({tests!r}):
    _namespace = dict(_solution.__dict__)
    try:
        exec(compile(_test, "test_" + str(_index) + ".py", "exec"), _namespace)
        _report(_index, True)
    except BaseException:
        _report(_index, False)
_os._exit(0)
"""


@dataclass(frozen=True)
class ExecutionScore:
    """Execution evidence for one response (``error_kind`` is None when nothing went wrong)."""

    has_code: bool
    parses: bool
    runs: bool
    tests_found: int
    tests_passed: int
    exec_score: float
    error_kind: str | None


@dataclass(frozen=True)
class _Plan:
    code: str
    parses: bool
    tests: list[str]


def _plan(instruction: str, response: str) -> _Plan:
    blocks = extract_code_blocks(response)
    code = "\n\n".join(blocks)
    if blocks and not parses(code):  # blocks that only work apart: keep the longest that parses
        parsing = [block for block in blocks if parses(block)]
        code = max(parsing or blocks, key=len)
    return _Plan(
        code=code, parses=bool(code) and parses(code), tests=extract_tests(instruction, response)
    )


def harness_program(solution: str, tests: Sequence[str], tag: str) -> str:
    """The program that runs ``tests`` against ``solution`` and reports each under ``tag``."""
    return _HARNESS.format(tag=tag, solution=solution, tests=list(tests))


def count_passed(stdout: str, tag: str, found: int) -> int:
    """Passed tests from a harness run's stdout (a test that never reported counts as failed)."""
    outcome: dict[int, bool] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == tag and parts[1].isdigit() and int(parts[1]) < found:
            outcome[int(parts[1])] = parts[2] == "pass"
    return sum(outcome.values())


def exec_score(
    has_code: bool, parses: bool, runs: bool, tests_found: int, tests_passed: int
) -> float:
    """The documented score in [0, 1] (see the module docstring)."""
    if not has_code:
        return 0.0
    if not parses:
        return 0.1
    base = 0.5 if runs else 0.25
    return base + (0.5 * tests_passed / tests_found if tests_found else 0.0)


def _score(
    plan: _Plan, run: SandboxResult | None, tests: SandboxResult | None, tag: str
) -> ExecutionScore:
    has_code = bool(plan.code.strip())
    runs = run is not None and run.status == "ok"
    found = len(plan.tests) if plan.parses else 0
    passed = count_passed(tests.stdout, tag, found) if tests is not None else 0
    if not has_code:
        error_kind = "no_code"
    elif not plan.parses:
        error_kind = "syntax"
    elif not runs:
        error_kind = _SANDBOX_ERROR_KINDS.get(run.status if run else "error", "runtime")
    elif passed < found:
        error_kind = "test_failed"
    else:
        error_kind = None
    return ExecutionScore(
        has_code=has_code,
        parses=plan.parses,
        runs=runs,
        tests_found=found,
        tests_passed=passed,
        exec_score=exec_score(has_code, plan.parses, runs, found, passed),
        error_kind=error_kind,
    )


def _score_many(
    pairs: Sequence[tuple[str, str]], *, timeout_s: float, memory_mb: int, workers: int | None
) -> list[ExecutionScore]:
    plans = [_plan(instruction, response) for instruction, response in pairs]
    tag = "__wc_test_" + secrets.token_hex(8)
    runnable = [i for i, plan in enumerate(plans) if plan.parses]
    with_tests = [i for i in runnable if plans[i].tests]
    programs = [plans[i].code for i in runnable]
    programs += [harness_program(plans[i].code, plans[i].tests, tag) for i in with_tests]
    results = run_many(programs, workers=workers, timeout_s=timeout_s, memory_mb=memory_mb)
    runs = dict(zip(runnable, results[: len(runnable)], strict=True))
    tests = dict(zip(with_tests, results[len(runnable) :], strict=True))
    return [_score(plan, runs.get(i), tests.get(i), tag) for i, plan in enumerate(plans)]


def score_response(
    instruction: str, response: str, *, timeout_s: float = 10, memory_mb: int = 512
) -> ExecutionScore:
    """Extract, parse, run and test the code of one response (two sandbox runs at most)."""
    return _score_many(
        [(instruction, response)], timeout_s=timeout_s, memory_mb=memory_mb, workers=1
    )[0]


def score_responses(
    rows: pl.DataFrame, *, timeout_s: float = 10, memory_mb: int = 512, workers: int | None = None
) -> pl.DataFrame:
    """Score every (instruction, response) row; returns the ``execution_results`` columns."""
    needed = {"instruction_id", "expert", "instruction", "response"}
    missing = needed - set(rows.columns)
    if missing:
        raise InputError(
            f"score_responses needs columns {sorted(needed)}; missing {sorted(missing)}"
        )
    pairs = list(
        zip(
            rows["instruction"].fill_null("").to_list(),
            rows["response"].fill_null("").to_list(),
            strict=True,
        )
    )
    scores = _score_many(pairs, timeout_s=timeout_s, memory_mb=memory_mb, workers=workers)
    records = [
        {"instruction_id": iid, "expert": expert, **asdict(score)}
        for iid, expert, score in zip(
            rows["instruction_id"].to_list(), rows["expert"].to_list(), scores, strict=True
        )
    ]
    return pl.DataFrame(records, schema=EXECUTION_COLUMNS)


def execution_verdict(score_a: ExecutionScore | float, score_b: ExecutionScore | float) -> str:
    """'A' or 'B' for the higher exec_score, 'tie' when equal."""
    a = score_a.exec_score if isinstance(score_a, ExecutionScore) else float(score_a)
    b = score_b.exec_score if isinstance(score_b, ExecutionScore) else float(score_b)
    if abs(a - b) < 1e-9:
        return "tie"
    return "A" if a > b else "B"
