"""Execution-based judging of responses: does the code parse, run, and pass independent tests?

Parsing uses ``ast`` in-process (safe: nothing is executed); running happens only in
``gpu_ops.sandbox``. Score, in [0, 1]:

    0.0   no code found
    0.1   code found, but it does not parse (an attempt beats no attempt)
    0.25  the code parses
    0.5   the code also runs as a script (exit 0, empty stdin, within the limits)
    + 0.5 * (weighted) share of the independent tests passed, when there are any

Independent tests (the rule): a response's own tests never score that response. Its tests are
the examples the instruction states, plus the tests every *other* competitor's response states
for the same instruction (CodeT-style cross-execution: each response is run against the tests
the others wrote, so the score measures agreement with independent expectations). Without any
such test the maximum is 0.5, whatever the response asserts about itself.

Test weighting (``test_weighting``): ``uniform`` counts every independent test alike;
``consensus`` (the default) weighs peer tests by the independent agreement behind them and keeps
the instruction's examples as the anchor (``gpu_ops.arena.test_consensus``). Under consensus,
``tests_found``/``tests_passed`` count the tests with weight, and every competitor of a scored
instruction is run (from the cache where it can), since a test's weight depends on all of them.

Hidden tests (optional, ``hidden_tests``): a function from an instruction to ``assert`` lines that
the task's owner wrote, such as the demo world's tests for any instruction in its phrasing
(a world plugin, ``gpu_ops.worlds``). They come first, before the stated and peer tests.

Verdicts are decided outside the code under test (``test_cases``, ``sandbox.probes``,
``sandbox.referee``): the sandbox only answers the calls a test makes with plain data, each test
in its own fork of the loaded code; a referee run without the code evaluates each test's
condition on those answers, one batch per scoring call. Exit status and printed text never count
as a passed test. A test the referee gives no verdict on (or that cannot be extracted) is *no
test* for that response: it counts neither in ``tests_found`` nor ``tests_passed``. Outcomes that
load could have caused are asked once more and never cached (``result_cache``).
A parsing program that crashes as a script (e.g. it waits for input) still earns test credit
(0.25 + 0.5 * fraction), because probes load its definitions without running ``__main__``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import polars as pl

from gpu_ops.arena import test_consensus
from gpu_ops.arena.test_cases import TestCase, case_key, defined_names, test_cases
from gpu_ops.cluster.sandbox import ask_many, run_many  # Ray tasks when a cluster is set
from gpu_ops.code_extract import extract_code_blocks, parses
from gpu_ops.errors import InputError
from gpu_ops.failpoints import failpoint
from gpu_ops.lake_schemas import content_schema
from gpu_ops.sandbox import SandboxResult, safe_text
from gpu_ops.sandbox.probes import Answers, per_probe_seconds
from gpu_ops.sandbox.referee import decide
from gpu_ops.sandbox.result_cache import ExecutionCache, ScriptOutcome, outcome_key
from gpu_ops.worlds import get_world

log = logging.getLogger(__name__)
EXECUTION_COLUMNS = content_schema("execution_results")  # storage adds first_seen_at
MAX_TESTS = 48  # independent tests per response
MAX_TESTS_PER_SOURCE = 16  # from the instruction, or from one peer response
ANSWER_BYTES = 256 * 1024  # one encoded answer; a larger one fails its own probe only
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


def stated_tests(response: str) -> list[TestCase]:
    """The tests a response states about its own code (what it offers the others)."""
    api = frozenset(defined_names("\n\n".join(extract_code_blocks(response or ""))))
    return test_cases(response or "", limit=MAX_TESTS_PER_SOURCE, restrict_to=api)


def anchor_tests(instruction: str, hidden: Sequence[str] = ()) -> list[TestCase]:
    """The tests no competitor wrote: hidden tests, then the instruction's own examples."""
    return [
        *test_cases("\n".join(hidden), limit=MAX_TESTS_PER_SOURCE),
        *test_cases(instruction or "", limit=MAX_TESTS_PER_SOURCE),
    ]


def independent_tests(
    instruction: str, peer_responses: Sequence[str], hidden: Sequence[str] = ()
) -> list[TestCase]:
    """The tests that may score a response: hidden tests, the instruction's examples, then those
    of the other competitors' responses (never the response's own), de-duplicated."""
    found: dict[tuple, TestCase] = {}
    for case in anchor_tests(instruction, hidden):
        found.setdefault(case_key(case), case)
    for peer in peer_responses:
        for case in stated_tests(peer):
            found.setdefault(case_key(case), case)
    return list(found.values())[:MAX_TESTS]


def _plan(
    instruction: str, response: str, peers: Sequence[str], hidden: Sequence[str] = ()
) -> _Plan:
    """What to run and test; every text is made writable first (lone surrogates -> U+FFFD), so
    the code parsed here is the code the sandbox runs. A test set that cannot be extracted is no
    tests, never an error (one bad test never loses the batch)."""
    instruction, response = safe_text(instruction), safe_text(response)
    peers = [safe_text(peer) for peer in peers]
    blocks = extract_code_blocks(response)
    code = "\n\n".join(blocks)
    if blocks and not parses(code):  # blocks that only work apart: keep the longest that parses
        parsing = [block for block in blocks if parses(block)]
        code = max(parsing or blocks, key=len)
    code_parses = bool(code) and parses(code)
    tests: list[TestCase] = []
    if code_parses:
        try:
            tests = independent_tests(instruction, peers, hidden)
        except Exception as error:
            log.warning("tests could not be extracted (%s: %s)", type(error).__name__, error)
    return _Plan(code=code, parses=code_parses, tests=tests)


def test_results(
    tests: Sequence[TestCase], answers: Answers, verdicts: dict[str, bool | None] | None = None
) -> list[bool | None]:
    """Per test: True (passed), False (failed) or None (no test: the referee gave no verdict).
    A probe that raised or got no answer fails its test; the rest is decided by the referee
    (``verdicts`` by referee-job key, from ``_decide``; asked here when not given)."""
    jobs = _referee_jobs(tests, answers)
    if verdicts is None:
        wanted = {key: job for key, job in jobs.values() if key is not None}
        decided = decide(list(wanted.values()))
        verdicts = dict(zip(wanted, decided, strict=True))
    results: list[bool | None] = []
    for index in range(len(tests)):
        key, _ = jobs[index]
        results.append(False if key is None else verdicts.get(key))
    return results


def count_passed(tests: Sequence[TestCase], answers: Answers) -> int:
    """Tests whose condition holds on the sandbox's answers (decided by the referee; a probe
    without an answer fails its test)."""
    return sum(result is True for result in test_results(tests, answers))


def _referee_jobs(
    tests: Sequence[TestCase], answers: Answers
) -> dict[int, tuple[str | None, dict]]:
    """test index -> (referee-job key or None when a probe has no value, the job)."""
    jobs: dict[int, tuple[str | None, dict]] = {}
    offset = 0
    for index, case in enumerate(tests):
        indices = range(offset, offset + len(case.probes))
        offset += len(case.probes)
        if not all(i in answers.encoded for i in indices):
            jobs[index] = (None, {})
            continue
        job = case.referee_job([answers.encoded[i] for i in indices])
        text = json.dumps(job, sort_keys=True, separators=(",", ":"))
        jobs[index] = (hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), job)
    return jobs


def exec_score(
    has_code: bool,
    parses: bool,
    runs: bool,
    tests_found: int,
    tests_passed: int,
    passed_share: float | None = None,
) -> float:
    """The documented score in [0, 1] (see the module docstring); ``passed_share`` replaces
    tests_passed / tests_found when tests are weighted."""
    if not has_code:
        return 0.0
    if not parses:
        return 0.1
    base = 0.5 if runs else 0.25
    if passed_share is None:
        passed_share = tests_passed / tests_found if tests_found else 0.0
    return base + (0.5 * passed_share if tests_found else 0.0)


def _score(
    plan: _Plan,
    run: SandboxResult | ScriptOutcome | None,
    results: Sequence[bool | None],
    weights: dict | None = None,
) -> ExecutionScore:
    """The score of one plan from its script run and its per-test results (None: no test);
    ``weights`` by test key, under consensus weighting."""
    has_code = bool(plan.code.strip())
    runs = run is not None and run.status == "ok"
    share = None
    if weights is None:
        found = sum(result is not None for result in results)
        passed = sum(result is True for result in results)
    else:
        share, found, passed = test_consensus.weighted_fraction(_by_key(plan, results), weights)
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
        exec_score=exec_score(has_code, plan.parses, runs, found, passed, share),
        error_kind=error_kind,
        isolation=run.isolation if run is not None else None,
    )


def _safe_plan(
    instruction: str, response: str, peers: Sequence[str], hidden: HiddenTests | None
) -> _Plan:
    try:
        return _plan(instruction, response, peers, hidden(instruction) if hidden else ())
    except Exception as error:
        log.warning("response could not be planned (%s: %s)", type(error).__name__, error)
        code = "\n\n".join(extract_code_blocks(safe_text(response or "")))
        return _Plan(code=code, parses=bool(code) and parses(code), tests=[])


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
    response as a script, one more for the answers to its independent tests, and one referee run
    for the whole batch's verdicts.

    With a `cache`, only what it does not hold runs: a script never run with these limits, and
    the probes never asked of this code (so a newcomer's tests cost one run per old response,
    asking only them). `cache.sandbox_runs` counts the runs of code under test made,
    `cache.referee_runs` the referee's. An outcome load could have caused is asked once more
    (one run at a time) and never cached."""
    plans, runs, results, _ = _run_plans(
        items,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        workers=workers,
        allow_weak_isolation=allow_weak_isolation,
        cache=cache,
        hidden_tests=hidden_tests,
    )
    return [_score(plan, runs.get(i), results.get(i, [])) for i, plan in enumerate(plans)]


def _by_key(plan: _Plan, results: Sequence[bool | None]) -> dict[tuple, bool]:
    """A plan's test results by test key (tests without a result left out)."""
    return {
        case_key(case): result
        for case, result in zip(plan.tests, results, strict=False)  # untested: no results
        if result is not None
    }


def _run_plans(
    items: Sequence[tuple[str, str, Sequence[str]]],
    *,
    timeout_s: float,
    memory_mb: int,
    workers: int | None,
    allow_weak_isolation: bool = False,
    cache: ExecutionCache | None = None,
    hidden_tests: HiddenTests | None = None,
) -> tuple[list[_Plan], dict[int, ScriptOutcome], dict[int, list[bool | None]], dict[int, Answers]]:
    """Each item's plan, script outcome, per-test results and probe answers (``_score_many``)."""
    cache = cache if cache is not None else ExecutionCache()
    plans = [
        _safe_plan(instruction, response, peers, hidden_tests)
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
    results = _decide(plans, tested, cache, workers, allow_weak_isolation)
    return plans, runs, results, tested


def _decide(
    plans: list[_Plan],
    tested: dict[int, Answers],
    cache: ExecutionCache,
    workers: int | None,
    allow_weak_isolation: bool,
) -> dict[int, list[bool | None]]:
    """Per tested plan, its per-test results: one referee batch for every job the cache lacks."""
    jobs = {i: _referee_jobs(plans[i].tests, answers) for i, answers in tested.items()}
    wanted = {key: job for per in jobs.values() for key, job in per.values() if key is not None}
    known: dict[str, bool | None] = dict(cache.verdicts(list(wanted)))
    asking = [key for key in wanted if key not in known]
    if asking:
        decided = decide(
            [wanted[key] for key in asking],
            workers=workers,
            allow_weak_isolation=allow_weak_isolation,
        )
        cache.referee_runs += 1
        fresh = dict(zip(asking, decided, strict=True))
        cache.put_verdicts({key: v for key, v in fresh.items() if v is not None})
        known |= fresh
    return {i: test_results(plans[i].tests, tested[i], known) for i in tested}


def _final_script(result: SandboxResult) -> bool:
    return not result.provisional


def _script_outcomes(
    plans: list[_Plan], runnable: list[int], cache: ExecutionCache, key_limits: dict, limits: dict
) -> dict[int, ScriptOutcome]:
    """Each runnable plan's script outcome, from the cache or one sandbox run of the misses (a
    provisional outcome is run once more, alone, and cached only if that one is final). Each
    final outcome is committed as its run returns, so a killed driver or node keeps it."""
    keys = {i: outcome_key("script", plans[i].code, key_limits) for i in runnable}
    known = cache.scripts(list(keys.values()))
    missing = list(dict.fromkeys(keys[i] for i in runnable if keys[i] not in known))
    code_of = {keys[i]: plans[i].code for i in runnable}
    committed: set[str] = set()

    def commit(batch: list[str]) -> Callable[[int, SandboxResult], None]:
        def one(position: int, result: SandboxResult) -> None:
            if _final_script(result):
                cache.put_scripts({batch[position]: ScriptOutcome(result.status, result.isolation)})
                committed.add(batch[position])
                failpoint("execution.committed")

        return one

    results = (
        dict(
            zip(
                missing,
                run_many([code_of[k] for k in missing], on_result=commit(missing), **limits),
                strict=True,
            )
        )
        if missing
        else {}
    )
    cache.sandbox_runs += len(missing)
    again = [key for key, result in results.items() if not _final_script(result)]
    if again:
        retried = run_many(
            [code_of[k] for k in again], on_result=commit(again), **(limits | {"workers": 1})
        )
        cache.sandbox_runs += len(again)
        results |= dict(zip(again, retried, strict=True))
    fresh = {key: ScriptOutcome(result.status, result.isolation) for key, result in results.items()}
    cache.put_scripts(  # what no `on_result` committed (a caller's own run_many)
        {
            key: fresh[key]
            for key, result in results.items()
            if _final_script(result) and key not in committed
        }
    )
    return {i: known.get(keys[i]) or fresh[keys[i]] for i in runnable}


def _ask(
    jobs: list[tuple[str, list]],
    key_limits: dict,
    limits: dict,
    on_result: Callable[[int, Answers], None] | None = None,
) -> list[Answers]:
    return ask_many(
        jobs,
        seconds_per_probe=key_limits["probe_s"],
        answer_bytes=ANSWER_BYTES,
        on_result=on_result,
        **limits,
    )


def _job_answers(
    job_keys: Sequence[str], answers: Answers
) -> tuple[dict[str, tuple[str, object]], dict[str, tuple[str, object]]]:
    """One run's answers under its own keys: all of them, and the final ones (cacheable)."""
    fresh: dict[str, tuple[str, object]] = {}
    final: dict[str, tuple[str, object]] = {}
    for position, key in enumerate(job_keys):
        if position in answers.encoded:
            fresh[key] = ("value", answers.encoded[position])
        elif position in answers.errors:
            fresh[key] = ("error", answers.errors[position])
        if (
            key in fresh
            and not answers.provisional
            and answers.errors.get(position) != "malformed answer"
        ):
            final[key] = fresh[key]
    return fresh, final


def _probe_answers(
    plans: list[_Plan], with_tests: list[int], cache: ExecutionCache, key_limits: dict, limits: dict
) -> dict[int, Answers]:
    """Each tested plan's answers: cached ones, plus one sandbox run per distinct (code, probes
    missing) asking the rest; a run that was provisional is asked once more, alone. Only final
    answers of runs that were not discarded are cached, each under its own run's keys, as the
    run returns (a killed driver or node keeps them)."""
    probes = {i: [probe for case in plans[i].tests for probe in case.probes] for i in with_tests}
    keys = {
        i: [outcome_key("probe", plans[i].code, key_limits, p.to_json()) for p in probes[i]]
        for i in with_tests
    }
    known = cache.answers([key for i in with_tests for key in keys[i]])
    jobs: dict[tuple, tuple[str, list[int], list[str]]] = {}  # identical asks run once
    for i in with_tests:
        wanted = [j for j, key in enumerate(keys[i]) if key not in known]
        if wanted:
            job_keys = [keys[i][j] for j in wanted]
            jobs.setdefault(tuple(job_keys), (plans[i].code, wanted, job_keys))
    order = list(jobs.values())
    by_key = {}
    for i in with_tests:
        for j, key in enumerate(keys[i]):
            by_key.setdefault(key, probes[i][j])
    committed: set[str] = set()

    def commit(runs: list[int]) -> Callable[[int, Answers], None]:
        def one(position: int, answers: Answers) -> None:
            if answers.provisional:
                return
            _, final = _job_answers(order[runs[position]][2], answers)
            cache.put_answers(final)
            committed.update(final)
            failpoint("execution.committed")

        return one

    first = list(range(len(order)))
    asked = (
        _ask(
            [(code, [by_key[k] for k in job_keys]) for code, _, job_keys in order],
            key_limits,
            limits,
            commit(first),
        )
        if order
        else []
    )
    cache.sandbox_runs += len(order)
    again = [n for n, answers in enumerate(asked) if answers.provisional]
    if again:
        retried = _ask(
            [(order[n][0], [by_key[k] for k in order[n][2]]) for n in again],
            key_limits,
            limits | {"workers": 1},
            commit(again),
        )
        cache.sandbox_runs += len(again)
        for n, answers in zip(again, retried, strict=True):
            asked[n] = answers
    fresh: dict[str, tuple[str, object]] = {}
    final: dict[str, tuple[str, object]] = {}
    for (_, _, job_keys), answers in zip(order, asked, strict=True):
        job_fresh, job_final = _job_answers(job_keys, answers)
        fresh |= job_fresh
        final |= job_final
    cache.put_answers(  # what no `on_result` committed (a caller's own ask_many)
        {key: value for key, value in final.items() if key not in committed}
    )
    every = known | fresh
    found: dict[int, Answers] = {}
    for i in with_tests:
        encoded = {
            j: every[k][1] for j, k in enumerate(keys[i]) if every.get(k, ("",))[0] == "value"
        }
        errors = {
            j: every[k][1] for j, k in enumerate(keys[i]) if every.get(k, ("",))[0] == "error"
        }
        found[i] = Answers(True, None, {}, errors, None, encoded)  # type: ignore[arg-type]
    return found


def _outcome(answers: Answers | None, j: int) -> test_consensus.Outcome:
    """Probe ``j``'s answer as comparable data: its value (decoded, or the codec's text where the
    answers carry ``encoded``), the exception type it raised, or none."""
    if answers is None:
        return ("none", None)
    for values in (answers.values, getattr(answers, "encoded", None) or {}):
        if j in values:
            return ("value", values[j])
    if j in answers.errors:
        return ("error", answers.errors[j])
    return ("none", None)


def _evidence(
    name: str,
    response: str,
    plan: _Plan,
    results: Sequence[bool | None],
    answers: Answers | None,
) -> test_consensus.Evidence:
    """What one competitor showed on one instruction, for ``test_consensus``."""
    probes = [probe for case in plan.tests for probe in case.probes]
    try:
        stated = frozenset(case_key(case) for case in stated_tests(safe_text(response)))
    except Exception:  # tests that cannot be read are no tests, never a lost batch
        stated = frozenset()
    return test_consensus.Evidence(
        competitor=name,
        stated=stated,
        results=_by_key(plan, results),
        outcomes={
            json.dumps(probe.to_json(), sort_keys=True): _outcome(answers, j)
            for j, probe in enumerate(probes)
        },
    )


def _anchor_keys(instruction: str, hidden_tests: HiddenTests | None) -> list[tuple]:
    """The keys of an instruction's hidden tests and examples (none when they cannot be read)."""
    try:
        instruction = safe_text(instruction)
        hidden = hidden_tests(instruction) if hidden_tests else ()
        return [case_key(case) for case in anchor_tests(instruction, hidden)]
    except Exception:  # tests that cannot be read are no tests, never a lost batch
        return []


def _score_by_consensus(
    groups: Sequence[test_consensus.Group],
    *,
    min_sources: int,
    hidden_tests: HiddenTests | None,
    **run,
) -> list[dict[int, ExecutionScore]]:
    """Each group's scored competitors, their tests weighted by consensus. Every competitor of an
    instruction is run when it has enough of them for a consensus, the scored ones only when
    not (then only the examples count)."""
    items, where = [], []
    for g, group in enumerate(groups):
        enough = len(group.competitors) >= min_sources
        for k in range(len(group.competitors)) if enough else group.scored:
            peers = [text for j, (_, text) in enumerate(group.competitors) if j != k]
            items.append((group.instruction, group.competitors[k][1], peers))
            where.append((g, k))
    plans, runs, results, tested = _run_plans(items, hidden_tests=hidden_tests, **run)
    evidence: list[list] = [[] for _ in groups]
    for i, (g, k) in enumerate(where):
        if plans[i].parses:
            name, response = groups[g].competitors[k]
            found = results.get(i, [])
            evidence[g].append(_evidence(name, response, plans[i], found, tested.get(i)))
    source_of = test_consensus.sources(evidence)
    weights = []
    for group, shown in zip(groups, evidence, strict=True):
        anchors = _anchor_keys(group.instruction, hidden_tests)
        weights.append(test_consensus.test_weights(anchors, shown, source_of, min_sources))
    scores: list[dict[int, ExecutionScore]] = [{} for _ in groups]
    for i, (g, k) in enumerate(where):
        if k in groups[g].scored:
            scores[g][k] = _score(plans[i], runs.get(i), results.get(i, []), weights[g])
    return scores


def _check_weighting(test_weighting: str) -> None:
    if test_weighting not in test_consensus.WEIGHTINGS:
        raise InputError(
            f"unknown test_weighting {test_weighting!r}; known: "
            + ", ".join(test_consensus.WEIGHTINGS)
        )


def score_response(
    instruction: str,
    response: str,
    *,
    peers: Sequence[str] = (),
    timeout_s: float = 10,
    memory_mb: int = 512,
    allow_weak_isolation: bool = False,
    hidden_tests: HiddenTests | None = None,
    test_weighting: str = "consensus",
    min_sources: int = test_consensus.DEFAULT_MIN_SOURCES,
) -> ExecutionScore:
    """Extract, parse, run and test the code of one response against the instruction's examples
    and the tests of ``peers`` (the other competitors' responses); two sandbox runs at most under
    ``uniform`` weighting, two per competitor under ``consensus`` (with enough competitors)."""
    _check_weighting(test_weighting)
    run = {
        "timeout_s": timeout_s,
        "memory_mb": memory_mb,
        "workers": 1,
        "allow_weak_isolation": allow_weak_isolation,
        "hidden_tests": hidden_tests,
    }
    if test_weighting == "uniform":
        return _score_many([(instruction, response, peers)], **run)[0]
    competitors = [(f"peer-{n:06d}", text) for n, text in enumerate(peers)]
    group = test_consensus.Group(
        instruction, [*competitors, ("response", response)], [len(competitors)]
    )
    return _score_by_consensus([group], min_sources=min_sources, **run)[0][len(competitors)]


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
    test_weighting: str = "consensus",
    min_sources: int = test_consensus.DEFAULT_MIN_SOURCES,
) -> pl.DataFrame:
    """Score every (instruction, response) row; returns the ``execution_results`` columns.

    With a persistent ``cache`` (the arena's), only sandbox work never done before runs.

    ``peers`` (instruction_id, expert, response) are every competitor's responses, the source of
    cross-execution tests; by default the other rows of ``rows``. ``test_weighting`` and
    ``min_sources``: see ``gpu_ops.arena.test_consensus``."""
    _check_weighting(test_weighting)
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
    run = {
        "timeout_s": timeout_s,
        "memory_mb": memory_mb,
        "workers": workers,
        "allow_weak_isolation": allow_weak_isolation,
        "cache": cache,
        "hidden_tests": hidden_tests,
    }
    if test_weighting == "consensus":
        scores = _consensus_scores(rows, peers, min_sources, run)
    else:
        scores = _uniform_scores(rows, peers, run)
    records = [
        {"instruction_id": iid, "expert": expert, **asdict(score)}
        for iid, expert, score in zip(
            rows["instruction_id"].to_list(), rows["expert"].to_list(), scores, strict=True
        )
    ]
    return pl.DataFrame(records, schema=EXECUTION_COLUMNS)


def _consensus_scores(
    rows: pl.DataFrame, peers: pl.DataFrame, min_sources: int, run: dict
) -> list[ExecutionScore]:
    """The rows' scores under consensus weighting, one group per instruction."""
    groups, where = test_consensus.instruction_groups(
        list(rows.select("instruction_id", "expert", "instruction", "response").iter_rows()),
        peers.select("instruction_id", "expert", "response").iter_rows(),
    )
    scores = _score_by_consensus(groups, min_sources=min_sources, **run)
    return [scores[g][k] for g, k in where]


def _uniform_scores(rows: pl.DataFrame, peers: pl.DataFrame, run: dict) -> list[ExecutionScore]:
    """The rows' scores with every independent test counted alike."""
    items = list(
        zip(
            rows["instruction"].fill_null("").to_list(),
            rows["response"].fill_null("").to_list(),
            _peer_responses(rows, peers),
            strict=True,
        )
    )
    return _score_many(items, **run)


def execution_verdict(score_a: ExecutionScore | float, score_b: ExecutionScore | float) -> str:
    """'A' or 'B' for the higher exec_score, 'tie' when equal."""
    a = score_a.exec_score if isinstance(score_a, ExecutionScore) else float(score_a)
    b = score_b.exec_score if isinstance(score_b, ExecutionScore) else float(score_b)
    if abs(a - b) < 1e-9:
        return "tie"
    return "A" if a > b else "B"
