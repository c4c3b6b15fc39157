"""Execution-based judging of responses: does the code parse, run, and pass independent tests?

Parsing uses ``ast`` in-process (safe: nothing is executed); running happens only in
``gpu_ops.sandbox``. Score, in [0, 1]:

    0.0   no code found
    0.1   code found, but it does not parse (an attempt beats no attempt)
    0.25  the code parses
    0.5   the code also runs as a script (exit 0, empty stdin, within the limits)
    + 0.5 * tests_passed / tests_found   when there are independent tests

Independent tests (the rule): a response's own tests never score that response. Its tests are
the examples the instruction states, plus the tests every *other* competitor's response states
for the same instruction (CodeT-style cross-execution: each response is run against the tests
the others wrote, so the score measures agreement with independent expectations). Without any
such test the maximum is 0.5, whatever the response asserts about itself.

Hidden tests (optional, ``hidden_tests``): a function from an instruction to ``assert`` lines that
the task's owner wrote, such as the demo world's tests for any instruction in its phrasing
(a world plugin, ``gpu_ops.worlds``). They come first, before the stated and peer tests.

Verdicts are decided outside the code under test (``test_cases``, ``sandbox.probes``): the
sandbox only answers the calls a test makes with plain data; the parent evaluates each assert's
condition on those answers. Exit status and printed text never count as a passed test.
A parsing program that crashes as a script (e.g. it waits for input) still earns test credit
(0.25 + 0.5 * fraction), because probes load its definitions without running ``__main__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import polars as pl

from gpu_ops.arena.test_cases import TestCase, case_key, defined_names, test_cases
from gpu_ops.code_extract import extract_code_blocks, parses
from gpu_ops.errors import InputError
from gpu_ops.lake_schemas import content_schema
from gpu_ops.sandbox import SandboxResult, run_many, safe_text
from gpu_ops.sandbox.probes import Answers, ask_many, per_probe_seconds
from gpu_ops.sandbox.result_cache import ExecutionCache, ScriptOutcome, outcome_key
from gpu_ops.worlds import get_world

EXECUTION_COLUMNS = content_schema("execution_results")  # storage adds first_seen_at
MAX_TESTS = 48  # independent tests per response
MAX_TESTS_PER_SOURCE = 16  # from the instruction, or from one peer response
HiddenTests = Callable[[str], Sequence[str]]  # instruction -> assert lines
_SANDBOX_ERROR_KINDS = {
    "error": "runtime",
    "timeout": "timeout",
    "memory": "memory",
    "killed": "killed",
    "output_limit": "output_limit",
    "sandbox_error": "sandbox_error",
}


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
    isolation: str | None = None


@dataclass(frozen=True)
class _Plan:
    code: str
    parses: bool
    tests: list[TestCase]


def hidden_tests_source(name: str | None) -> HiddenTests | None:
    """The hidden-test function of the world a config names (`gpu_ops.worlds`: a plugin)."""
    if name is None:
        return None
    return get_world(name, role="hidden_tests source").hidden_tests


def independent_tests(
    instruction: str, peer_responses: Sequence[str], hidden: Sequence[str] = ()
) -> list[TestCase]:
    """The tests that may score a response: hidden tests, the instruction's examples, then those
    of the other competitors' responses (never the response's own), de-duplicated."""
    found: dict[tuple, TestCase] = {}
    for case in test_cases("\n".join(hidden), limit=MAX_TESTS_PER_SOURCE):
        found.setdefault(case_key(case), case)
    for case in test_cases(instruction or "", limit=MAX_TESTS_PER_SOURCE):
        found.setdefault(case_key(case), case)
    for peer in peer_responses:
        api = frozenset(defined_names("\n\n".join(extract_code_blocks(peer or ""))))
        for case in test_cases(peer or "", limit=MAX_TESTS_PER_SOURCE, restrict_to=api):
            found.setdefault(case_key(case), case)
    return list(found.values())[:MAX_TESTS]


def _plan(
    instruction: str, response: str, peers: Sequence[str], hidden: Sequence[str] = ()
) -> _Plan:
    """What to run and test; every text is made writable first (lone surrogates -> U+FFFD), so
    the code parsed here is the code the sandbox runs."""
    instruction, response = safe_text(instruction), safe_text(response)
    peers = [safe_text(peer) for peer in peers]
    blocks = extract_code_blocks(response)
    code = "\n\n".join(blocks)
    if blocks and not parses(code):  # blocks that only work apart: keep the longest that parses
        parsing = [block for block in blocks if parses(block)]
        code = max(parsing or blocks, key=len)
    code_parses = bool(code) and parses(code)
    tests = independent_tests(instruction, peers, hidden) if code_parses else []
    return _Plan(code=code, parses=code_parses, tests=tests)


def count_passed(tests: Sequence[TestCase], answers: Answers) -> int:
    """Tests whose condition holds on the sandbox's answers (decided here; a probe without an
    answer fails its test)."""
    passed, offset = 0, 0
    for case in tests:
        indices = range(offset, offset + len(case.probes))
        offset += len(case.probes)
        if all(i in answers.values for i in indices):
            passed += case.passes([answers.values[i] for i in indices])
    return passed


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
    plan: _Plan, run: SandboxResult | ScriptOutcome | None, answers: Answers | None
) -> ExecutionScore:
    has_code = bool(plan.code.strip())
    runs = run is not None and run.status == "ok"
    found = len(plan.tests)
    passed = count_passed(plan.tests, answers) if answers is not None else 0
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
        isolation=run.isolation if run is not None else None,
    )


def _score_many(
    items: Sequence[tuple[str, str, Sequence[str]]],
    *,
    timeout_s: float,
    memory_mb: int,
    workers: int | None,
    allow_weak_isolation: bool = False,
    cache: ExecutionCache | None = None,
    hidden_tests: HiddenTests | None = None,
) -> list[ExecutionScore]:
    """Score (instruction, response, peer responses) items; one sandbox run per parsing
    response as a script, one more for the answers to its independent tests.

    With a `cache`, only what it does not hold runs: a script never run with these limits, and
    the probes never asked of this code (so a newcomer's tests cost one run per old response,
    asking only them). `cache.sandbox_runs` counts the runs made."""
    cache = cache if cache is not None else ExecutionCache()
    plans = [
        _plan(instruction, response, peers, hidden_tests(instruction) if hidden_tests else ())
        for instruction, response, peers in items
    ]
    runnable = [i for i, plan in enumerate(plans) if plan.parses]
    with_tests = [i for i in runnable if plans[i].tests]
    limits = {
        "workers": workers,
        "timeout_s": timeout_s,
        "memory_mb": memory_mb,
        "allow_weak_isolation": allow_weak_isolation,
    }
    key_limits = {"timeout_s": timeout_s, "memory_mb": memory_mb, "weak": allow_weak_isolation}
    runs = _script_outcomes(plans, runnable, cache, key_limits, limits)
    per_probe = per_probe_seconds(timeout_s)  # a peer's hanging test costs only itself
    tested = _probe_answers(plans, with_tests, cache, key_limits | {"probe_s": per_probe}, limits)
    return [_score(plan, runs.get(i), tested.get(i)) for i, plan in enumerate(plans)]


def _script_outcomes(
    plans: list[_Plan], runnable: list[int], cache: ExecutionCache, key_limits: dict, limits: dict
) -> dict[int, ScriptOutcome]:
    """Each runnable plan's script outcome, from the cache or one sandbox run of the misses."""
    keys = {i: outcome_key("script", plans[i].code, key_limits) for i in runnable}
    known = cache.scripts(list(keys.values()))
    missing = list(dict.fromkeys(keys[i] for i in runnable if keys[i] not in known))
    code_of = {keys[i]: plans[i].code for i in runnable}
    results = run_many([code_of[key] for key in missing], **limits) if missing else []
    fresh = {
        key: ScriptOutcome(result.status, result.isolation)
        for key, result in zip(missing, results, strict=True)
    }
    cache.put_scripts(fresh)
    cache.sandbox_runs += len(missing)
    return {i: known.get(keys[i]) or fresh[keys[i]] for i in runnable}


def _probe_answers(
    plans: list[_Plan], with_tests: list[int], cache: ExecutionCache, key_limits: dict, limits: dict
) -> dict[int, Answers]:
    """Each tested plan's answers: cached ones, plus one sandbox run per plan asking the rest."""
    probes = {i: [probe for case in plans[i].tests for probe in case.probes] for i in with_tests}
    keys = {
        i: [outcome_key("probe", plans[i].code, key_limits, p.to_json()) for p in probes[i]]
        for i in with_tests
    }
    known = cache.answers([key for i in with_tests for key in keys[i]])
    asking = {i: [j for j, key in enumerate(keys[i]) if key not in known] for i in with_tests}
    jobs = [(i, asking[i]) for i in with_tests if asking[i]]
    asked = (
        ask_many(
            [(plans[i].code, [probes[i][j] for j in wanted]) for i, wanted in jobs],
            seconds_per_probe=key_limits["probe_s"],
            **limits,
        )
        if jobs
        else []
    )
    cache.sandbox_runs += len(jobs)
    fresh: dict[str, tuple[str, object]] = {}
    for (i, wanted), answers in zip(jobs, asked, strict=True):
        for position, j in enumerate(wanted):
            if position in answers.values:
                fresh[keys[i][j]] = ("value", answers.values[position])
            elif position in answers.errors:
                fresh[keys[i][j]] = ("error", answers.errors[position])
    cache.put_answers(fresh)
    every = known | fresh
    found: dict[int, Answers] = {}
    for i in with_tests:
        values = {
            j: every[k][1] for j, k in enumerate(keys[i]) if every.get(k, ("",))[0] == "value"
        }
        errors = {
            j: every[k][1] for j, k in enumerate(keys[i]) if every.get(k, ("",))[0] == "error"
        }
        found[i] = Answers(True, None, values, errors, None)
    return found


def score_response(
    instruction: str,
    response: str,
    *,
    peers: Sequence[str] = (),
    timeout_s: float = 10,
    memory_mb: int = 512,
    allow_weak_isolation: bool = False,
    hidden_tests: HiddenTests | None = None,
) -> ExecutionScore:
    """Extract, parse, run and test the code of one response against the instruction's examples
    and the tests of ``peers`` (the other competitors' responses); two sandbox runs at most."""
    return _score_many(
        [(instruction, response, peers)],
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        workers=1,
        allow_weak_isolation=allow_weak_isolation,
        hidden_tests=hidden_tests,
    )[0]


def _peer_responses(rows: pl.DataFrame, peers: pl.DataFrame) -> list[list[str]]:
    """For each row: the responses of the other experts to the same instruction."""
    by_instruction: dict[str, list[tuple[str, str]]] = {}
    for iid, expert, response in peers.select("instruction_id", "expert", "response").iter_rows():
        by_instruction.setdefault(iid, []).append((expert, response or ""))
    return [
        [text for other, text in sorted(by_instruction.get(iid, [])) if other != expert]
        for iid, expert in rows.select("instruction_id", "expert").iter_rows()
    ]


def score_responses(
    rows: pl.DataFrame,
    *,
    peers: pl.DataFrame | None = None,
    timeout_s: float = 10,
    memory_mb: int = 512,
    workers: int | None = None,
    allow_weak_isolation: bool = False,
    cache: ExecutionCache | None = None,
    hidden_tests: HiddenTests | None = None,
) -> pl.DataFrame:
    """Score every (instruction, response) row; returns the ``execution_results`` columns.

    With a persistent ``cache`` (the arena's), only sandbox work never done before runs.

    ``peers`` (instruction_id, expert, response) are every competitor's responses, the source of
    cross-execution tests; by default the other rows of ``rows``."""
    needed = {"instruction_id", "expert", "instruction", "response"}
    missing = needed - set(rows.columns)
    if missing:
        raise InputError(
            f"score_responses needs columns {sorted(needed)}; missing {sorted(missing)}"
        )
    peers = rows if peers is None else peers
    missing = {"instruction_id", "expert", "response"} - set(peers.columns)
    if missing:
        raise InputError(f"score_responses: peers lack columns {sorted(missing)}")
    items = list(
        zip(
            rows["instruction"].fill_null("").to_list(),
            rows["response"].fill_null("").to_list(),
            _peer_responses(rows, peers),
            strict=True,
        )
    )
    scores = _score_many(
        items,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        workers=workers,
        allow_weak_isolation=allow_weak_isolation,
        cache=cache,
        hidden_tests=hidden_tests,
    )
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
