"""Hostile tests, answers and load against the execution judge without hidden tests (issue 24).

Each program here is our own, one or more per class the issue's second hidden set found (the
hidden set stays outside the repository): a peer's tests that try to drag a correct answer down,
test text that tries to hang, blow up or crash the judge's parent, load that tries to become a
verdict (and stay in the cache), probes that try to judge themselves, correct answers in shapes
the codec used to refuse, and HumanEval/EvalPlus answers that only a looser comparison passes.
Outcomes are printed as a table at the end (docs/RELIABILITY.md records them).
"""

from __future__ import annotations

import resource
import time

import polars as pl
import pytest

import gpu_ops.arena.execution_judge as judge
from gpu_ops.arena.execution_judge import independent_tests, score_response, score_responses
from gpu_ops.arena.test_cases import test_cases
from gpu_ops.evaluation.humaneval import evalplus_same, evaluate_completions, load_humaneval
from gpu_ops.evaluation.suites import from_evalplus
from gpu_ops.sandbox import SandboxResult
from gpu_ops.sandbox.plain_codec import PlainDataError, decode, encode_answer
from gpu_ops.sandbox.result_cache import ExecutionCache

FENCE = "```"
ROWS: list[tuple[str, str]] = []


def fenced(code: str) -> str:
    return f"{FENCE}python\n{code}\n{FENCE}\n"


def table(responses: dict[str, str], instruction: str = "Write the function.") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instruction_id": ["i"] * len(responses),
            "expert": list(responses),
            "instruction": [instruction] * len(responses),
            "response": list(responses.values()),
        }
    )


def scores(responses: dict[str, str], instruction: str = "Write the function.", **kw) -> dict:
    result = score_responses(table(responses, instruction), timeout_s=4, memory_mb=256, **kw)
    return dict(zip(result["expert"], result["exec_score"], strict=True))


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest):
    yield
    width = max((len(row[0]) for row in ROWS), default=10)
    lines = [
        "execution red-team report",
        *(f"{attack:<{width}} | {outcome}" for attack, outcome in ROWS),
    ]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


# --- a peer's tests drag a correct answer down --------------------------------------------------

SQUARES = "def squares(n):\n    return [i * i for i in range(n)]\n"


def test_a_huge_true_answer_fails_only_its_own_probe() -> None:
    # The attacker's true test asks for a 20 MB answer: it used to hit the run's output cap and
    # kill every later probe of the victim's run, a third competitor's tests included.
    attacker = fenced(SQUARES + "\nassert len(str(squares(1_000_000))) > 0\n")
    third = fenced(SQUARES + "\nassert squares(3) == [0, 1, 4]\nassert squares(0) == []\n")
    victim = fenced("def squares(n):\n    return [i ** 2 for i in range(n)]\n")
    # uniform weighting: this is about probe isolation; under consensus the three agree so
    # closely that they count as fewer than min_sources sources, and no peer test counts at all
    found = scores(
        {"attacker": attacker, "third": third, "victim": victim}, test_weighting="uniform"
    )
    victim_tests = independent_tests("", [attacker, third])
    assert len(victim_tests) == 3
    # the huge probe alone fails (AnswerTooLarge); the third competitor's two tests still pass
    assert found["victim"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert found["attacker"] == 1.0  # the third competitor's tests, never its own
    ROWS.append(("7 MB true answer (output cap)", f"victim {found['victim']:.3f}: 2 of 3 pass"))


def test_a_doctest_setup_cannot_change_module_state_for_later_tests() -> None:
    attacker = fenced(
        "SCALE = [2]\n\ndef double(x):\n    return x * SCALE[0]\n\n"
        '"""\n>>> SCALE[0] = 3\n>>> double(1)\n3\n"""\n'
    )
    victim = fenced("SCALE = [2]\n\ndef double(x):\n    return x * SCALE[0]\n")
    instruction = "Write double(x).\nassert double(4) == 8\n>>> double(5)\n10\n"
    found = scores({"attacker": attacker, "victim": victim}, instruction)
    assert found["victim"] == 1.0  # the setup's SCALE[0] = 3 stayed in its own fork
    ROWS.append(("doctest setup mutating module state", f"victim {found['victim']}"))


@pytest.mark.parametrize(
    "smuggled",
    [
        "assert double((lambda exec: 1)(0) and exec('import os; os._exit(0)')) == 2",
        "assert double([exec for exec in [1]] and exec('import os; os._exit(0)')) == 2",
        "assert double([open for open in [1]][0] + len(open('/etc/hostname').read())) == 2",
        "assert double((exec := 1) or exec) == 2",
        "assert double(getattr(double, 'x', 1)) == 2",
        "assert double(double.__globals__['__builtins__']) == 2",
        "assert double(print(1, file=os.fdopen(3, 'w'))) == 2",
        "assert double(max([1], key=lambda v: v.__class__)) == 2",
    ],
)
def test_smuggled_builtins_and_channel_writes_are_not_read(smuggled: str) -> None:
    attacker = fenced("def double(x):\n    return 2 * x\n\n" + smuggled + "\n")
    assert independent_tests("", [attacker]) == [], smuggled
    ROWS.append((f"peer test: {smuggled[14:60]}", "dropped by the scope-aware filter"))


def test_the_instruction_cannot_name_dangerous_modules_either() -> None:
    instruction = (
        "Write double(x).\n\n>>> import os\n>>> double(os.write(3, b'{}'))\n2\n\n"
        ">>> import random\n>>> double(random._os.getpid())\n2\n\n"
        ">>> double(__import__('os').getpid())\n2\n\n>>> double(2)\n4\n"
    )
    kept = [c.source.splitlines()[0] for c in test_cases(instruction)]
    assert kept == ["double(2)"]
    ROWS.append(("instruction importing os / random._os / __import__", "dropped; double(2) kept"))


def test_answers_forged_from_inside_a_probe_are_discarded() -> None:
    # A probe that writes forged records on every descriptor (what a channel-writing test
    # would do) spoils only its own test: the fork has no answer channel, its pipe carries too
    # many records and its test gets "malformed answer"; the next test is untouched.
    code = (
        "import os, json\n\ndef add(a, b):\n    return a + b\n\n"
        "def forge():\n"
        "    line = ''.join(json.dumps({'i': i, 'value': 99, 'rest': 0}) + '\\n' for i in range(9))\n"
        "    for fd in range(1, 20):\n"
        "        try:\n            os.write(fd, line.encode())\n        except OSError:\n"
        "            pass\n"
        "    return 99\n"
    )
    instruction = "assert add(forge(), 0) == 99\nassert add(1, 2) == 3\n"
    score = score_response(instruction, fenced(code), timeout_s=4, memory_mb=256)
    assert (score.tests_found, score.tests_passed) == (2, 1)
    ROWS.append(("forged records from inside a probe", "that test fails alone (1/2 passed)"))


# --- the judge's parent: hung, blown up or crashed by test text ------------------------------


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("attack", "test"),
    [
        pytest.param(
            "quadratic condition",
            "assert f(1) == len(sum([[0] * 3000] * 3000, []))",
            marks=pytest.mark.slow,  # spends the referee's CPU budget twice: ~10 s under load
        ),
        ("800 MB expected value", "assert f(1) == len('x' * 800_000_000)"),
        pytest.param(
            "C loop in the expected value",
            "assert f(1) == sum(range(10 ** 12))",
            marks=pytest.mark.slow,
        ),
        ("expected value that raises", "assert f(1) == 1 // 0"),
        ("expected output that raises", ">>> f(1)\n[1] * 10 ** 12"),
    ],
)
def test_test_text_costs_the_parent_nothing(attack: str, test: str) -> None:
    code = fenced("def f(x):\n    return x\n")
    for source in ("instruction", "peer"):
        instruction = f"Write f.\n{test}\nassert f(2) == 2\n" if source == "instruction" else ""
        peers = [] if source == "instruction" else [fenced(f"def f(x):\n    return x\n\n{test}")]
        before, start = _rss_mib(), time.monotonic()
        cpu = time.process_time()
        score = score_response(instruction, code, peers=peers, timeout_s=4, memory_mb=256)
        parent_cpu, elapsed = time.process_time() - cpu, time.monotonic() - start
        assert _rss_mib() - before < 100  # the parent never built it
        assert parent_cpu < 5
        assert score.tests_passed <= score.tests_found
    ROWS.append((attack, f"failed in the referee; parent +{parent_cpu:.2f} s CPU, {elapsed:.1f} s"))


def test_an_unprintable_assert_is_no_test(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_ops.arena.test_cases as cases

    real = cases.ast.unparse

    def picky(node):
        if "boom" in ast_dump(node):
            raise ValueError("Unable to avoid backslash in f-string expression part")
        return real(node)

    def ast_dump(node) -> str:
        return cases.ast.dump(node)

    monkeypatch.setattr(cases.ast, "unparse", picky)
    instruction = "assert f(1) == 'boom'\nassert f(2) == 2\n"
    score = score_response(instruction, fenced("def f(x):\n    return x"), timeout_s=4)
    assert (score.tests_found, score.tests_passed, score.exec_score) == (1, 1, 1.0)
    monkeypatch.setattr(judge, "independent_tests", lambda *a: 1 / 0)
    table_ = score_responses(table({"a": fenced("def f(x):\n    return x")}), timeout_s=4)
    assert table_["exec_score"].to_list() == [0.5]  # extraction failed: no test, still scored
    ROWS.append(("assert ast.unparse cannot print / extraction raising", "no test, batch scored"))


def test_hash_colliding_answers_are_refused_quickly() -> None:
    colliding = {
        "$": "set",
        "v": [{"$": "int", "v": str(k * (2**61 - 1))} for k in range(1, 20_000)],
    }
    start = time.process_time()
    with pytest.raises(PlainDataError, match="collide"):
        decode(colliding)
    assert time.process_time() - start < 1
    code = fenced("def f(x):\n    return {k * (2 ** 61 - 1) for k in range(1, 20000)}")
    score = score_response("assert len(f(1)) == 19999\n", code, timeout_s=4)
    assert (score.tests_found, score.tests_passed) == (1, 0)  # its own answer only
    ROWS.append(("20k hash-colliding set items", "refused as malformed in < 1 s"))


# --- load becomes a verdict, and the cache keeps it ----------------------------------------------

SPINNER = (
    "import os, time\n\n"
    "def add(a, b):\n    return a + b\n\n"
    "for _ in range(6):\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        end = time.time() + 8\n"
    "        while time.time() < end:\n            pass\n"
    "        os._exit(0)\n"
)
SLOWISH = "def add(a, b):\n    total = 0\n    for _ in range(200_000):\n        total += 1\n    return a + b\n"


def test_each_run_has_its_own_cpu_share() -> None:
    from gpu_ops.sandbox import run_code, sandbox_capabilities

    if not sandbox_capabilities()["cpu_share"]:
        pytest.skip("no writable cpu controller here")
    result = run_code("print(open('/proc/self/cgroup').read())", timeout_s=5)
    lines = dict(line.split(":", 2)[1:] for line in result.stdout.splitlines() if line)
    cpu = lines.get("cpu") or lines.get("cpu,cpuacct") or lines.get("")
    assert cpu is not None and cpu.rsplit("/", 1)[-1].startswith("wc-sandbox-"), result.stdout
    ROWS.append(("per-run CPU share", f"the run's cpu group: {cpu.rsplit('/', 1)[-1][:19]}..."))


@pytest.mark.slow
def test_a_competitors_spinners_do_not_starve_the_victims_probes() -> None:
    instruction = "Write add(a, b).\n" + "".join(
        f"assert add({i}, 1) == {i + 1}\n" for i in range(6)
    )
    cache = ExecutionCache()
    found = scores(
        {"spinner": fenced(SPINNER), "victim": fenced(SLOWISH)}, instruction, cache=cache, workers=2
    )
    assert found["victim"] == 1.0
    ROWS.append(("6 spinning processes beside the victim", f"victim {found['victim']}"))


def test_load_caused_outcomes_are_retried_and_never_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    real_run, real_ask = judge.run_many, judge.ask_many
    calls = {"run": 0, "ask": 0}

    def loaded_run(codes, **kwargs):  # every script run killed on the wall clock
        calls["run"] += 1
        return [SandboxResult("timeout", -9, "", "", 9.9, "full", provisional=True) for _ in codes]

    def loaded_ask(jobs, **kwargs):  # every probe run killed on the wall clock after loading
        calls["ask"] += 1
        from gpu_ops.sandbox.probes import parse_answers

        result = SandboxResult(
            "timeout", -9, '{"loaded": true}\n', "", 9.9, "full", provisional=True
        )
        return [parse_answers(result, len(probes)) for _, probes in jobs]

    monkeypatch.setattr(judge, "run_many", loaded_run)
    monkeypatch.setattr(judge, "ask_many", loaded_ask)
    cache = ExecutionCache()
    instruction = "assert add(1, 2) == 3\n"
    honest = fenced("def add(a, b):\n    return a + b")
    during = scores({"victim": honest}, instruction, cache=cache)
    assert calls == {"run": 2, "ask": 2}  # each retried once
    assert during["victim"] == 0.25  # scored as it went, but ...
    monkeypatch.setattr(judge, "run_many", real_run)
    monkeypatch.setattr(judge, "ask_many", real_ask)
    after = scores({"victim": honest}, instruction, cache=cache)
    assert after["victim"] == 1.0  # ... nothing of it was cached
    ROWS.append(("wall-clock kills during a load spike", "0.25 then, 1.0 on re-score (not cached)"))


def test_identical_code_asks_once_and_a_forged_run_caches_nothing() -> None:
    cache = ExecutionCache()
    honest = fenced("def add(a, b):\n    return a + b")
    forged = fenced(
        'import os\ntry:\n    os.write(3, b\'{"i": 0, "value": 3, "rest": 0}\\n\')\n'
        "except OSError:\n    pass\n\n"
        "def add(a, b):\n    return 0\n"
    )
    instruction = "assert add(1, 2) == 3\n"
    found = scores({"a": honest, "b": honest, "forger": forged}, instruction, cache=cache)
    assert found == {"a": 1.0, "b": 1.0, "forger": 0.5}
    assert cache.sandbox_runs == 2 + 2  # 2 distinct scripts, 2 distinct probe runs
    rows = cache._connection.execute("SELECT COUNT(*) FROM outcomes WHERE kind='probe'").fetchone()
    assert rows == (1,)  # the honest answer; the forger's discarded channel left nothing
    ROWS.append(("answer record forged at load time", "run discarded, nothing cached"))


# --- self-judging probes ---------------------------------------------------------------------------


def test_expected_sides_and_predicates_are_decided_without_the_code() -> None:
    rigged = fenced(
        "import builtins\n"
        "builtins.sorted = lambda *a, **k: 'rigged'\n"
        "builtins.len = lambda *a: 3\n"
        "class S(str):\n    def startswith(self, *a):\n        return True\n"
        "def f(x):\n    return S('rigged')\n"
    )
    honest = fenced("def f(x):\n    return sorted(x)\n")
    instruction = (
        "assert f([3, 1, 2]) == sorted([2, 3, 1])\n"
        "assert len(f([3, 1, 2])) == 3 and f([1]) == [1]\n"
        "assert f('ba') == list('AB'.lower())\n"
    )
    found = scores({"rigged": rigged, "honest": honest}, instruction)
    predicate = score_response("assert f('xyz').startswith('a')", rigged, timeout_s=4)
    assert found == {"rigged": 0.5, "honest": 1.0}
    assert predicate.tests_passed == 0  # the real str.startswith, on the plain value
    ROWS.append(("patched sorted/len + rigged startswith", "rigged 0.5, honest 1.0"))


# --- correct answers that used to fail -------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "body", "test"),
    [
        (
            "dict.keys()",
            "return {w: 1 for w in words}.keys()",
            "assert set(f(['a', 'b'])) == {'a', 'b'}",
        ),
        (
            "dict.keys() == set",
            "return {w: 1 for w in words}.keys()",
            "assert f(['a', 'b']) == {'a', 'b'}",
        ),
        ("map", "return map(str.upper, words)", "assert list(f(['a', 'b'])) == ['A', 'B']"),
        (
            "generator",
            "return (w * 2 for w in words)",
            "assert sorted(f(['b', 'a'])) == ['aa', 'bb']",
        ),
        (
            "namedtuple",
            "import collections\n    return collections.namedtuple('P', 'n')(len(words))",
            "assert f(['a']) == (1,)",
        ),
        (
            "defaultdict",
            "import collections\n    d = collections.defaultdict(int)\n    d['a'] += len(words)\n    return d",
            "assert f(['x']) == {'a': 1}",
        ),
        (
            "OrderedDict",
            "import collections\n    return collections.OrderedDict(a=len(words))",
            "assert f([]) == {'a': 0}",
        ),
        (
            "Counter",
            "import collections\n    return collections.Counter(words)",
            "assert f(['a', 'a']) == {'a': 2}",
        ),
        (
            "IntEnum",
            "import enum\n    return enum.IntEnum('E', 'ONE TWO').TWO",
            "assert f([]) == 2",
        ),
        (
            "comprehension test",
            "return [w.upper() for w in words]",
            "assert [f([w])[0] for w in 'ab'] == ['A', 'B']",
        ),
        ("generator test", "return len(words)", "assert all(f(['x'] * n) == n for n in range(4))"),
        (
            "lambda test",
            "return sorted(words)",
            "assert sorted(f(['b', 'a']), key=lambda w: -ord(w)) == ['b', 'a']",
        ),
        (
            "dict comprehension test",
            "return len(words)",
            "assert {n: f(['x'] * n) for n in range(3)} == {0: 0, 1: 1, 2: 2}",
        ),
    ],
)
def test_correct_answers_of_every_ordinary_shape_score_one(
    shape: str, body: str, test: str
) -> None:
    score = score_response(test, fenced(f"def f(words):\n    {body}\n"), timeout_s=4, memory_mb=256)
    assert (score.tests_found, score.tests_passed, score.exec_score) == (1, 1, 1.0), shape
    ROWS.append((f"correct answer: {shape}", "1.0"))


def test_iterators_are_capped_inside_the_sandbox() -> None:
    import itertools

    with pytest.raises(PlainDataError, match="iterator longer"):
        encode_answer(itertools.count())
    score = score_response(
        "assert next(f()) == 0\n",
        fenced("import itertools\n\ndef f():\n    return itertools.count()"),
        timeout_s=4,
    )
    assert (score.tests_found, score.tests_passed) == (1, 0)
    ROWS.append(("infinite iterator answer", "capped at 100,000 items: that probe fails"))


# --- HumanEval and EvalPlus semantics ---------------------------------------------------------------


def test_humaneval_passes_only_what_the_tasks_own_check_passes() -> None:
    problems = {
        p["task_id"]: p
        for p in load_humaneval()
        if p["task_id"] in ("HumanEval/55", "HumanEval/72")
    }
    float_fib = (
        "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
        "    return a + 1e-14 * a\n"
    )
    int_fly = "    return int(sum(q) <= w and q == q[::-1])\n"
    right_fly = "    return sum(q) <= w and q == q[::-1]\n"
    table_ = evaluate_completions(
        problems,
        {"HumanEval/55": [float_fib], "HumanEval/72": [int_fly, right_fly]},
        timeout_s=10,
    )
    assert table_["passed"].to_list() == [False, False, True]
    assert table_["error_kind"].to_list()[:2] == ["wrong_answer", "wrong_answer"]
    ROWS.append(
        ("HumanEval: 55.000000000000014 for 55; 1 for `is True`", "both fail, as check does")
    )


def test_evalplus_tolerance_only_for_float_outputs_and_types_matter() -> None:
    assert not evalplus_same(55, 55.000000000000014, 0.0)  # int task: no tolerance
    assert evalplus_same(0.3, 0.1 + 0.2, 0.0)  # float task: 1e-6
    assert not evalplus_same([0.3], (0.30000000000000004,), 0.0)  # types must match
    assert evalplus_same([0.3, 1.0], [0.1 + 0.2, 1.0], 0.0)
    assert not evalplus_same(2.0, 2.01, 1e-3) and evalplus_same(2.0, 2.0005, 1e-3)
    record = {
        "task_id": "Plus/1",
        "prompt": "def fib(n):\n",
        "entry_point": "fib",
        "canonical_solution": "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "base_input": [[10]],
        "plus_input": [[20]],
        "atol": 0,
    }
    problem = from_evalplus(record)
    float_fib = "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return float(a) + 1e-12\n"
    table_ = evaluate_completions([problem], {"Plus/1": [record["canonical_solution"], float_fib]})
    assert table_["passed"].to_list() == [True, False]
    ROWS.append(("EvalPlus: float answer for an int task", "fails (tolerance only for floats)"))
