"""Test weighting (issue 24): how often the execution verdict agrees with the truth, when answers
are scored on the other competitors' tests counted alike (``uniform``, before) or by consensus
(``consensus``, ``gpu_ops.arena.test_consensus``). Both figures come from the same corpus.

Two corpora where answers carry their own tests and the truth is known:

* **simulation** (pure Python, no sandbox): tasks are functions on ten inputs; six competitors
  answer each one, five models plus a second checkpoint of the weakest (same answers, its own
  tests). A model answers right at its accuracy, else with one of the task's three plausible
  bugs (independent models share common mistakes). It writes three tests: each expects what its
  own answer returns (a wrong model's tests follow its bug) and, at its wrong-test rate, a
  hallucinated value instead. Each task states 0-2 examples. The aggregation is the judge's own
  (``test_consensus``); uniform weighting counts every asked test once, as the judge does.
* **humaneval** (the real execution judge, in the sandbox): HumanEval prompts (the package's
  ``HumanEval.jsonl.gz``) answered by the same six competitors. A right answer is the canonical
  solution; a wrong one is a mutant of it (off-by-one constant, swapped comparison, arithmetic
  or boolean operator, a dropped guard clause) that fails the task's own ``check``. Each response
  states three LLM-style tests taken from the official asserts: a wrong answer's tests expect what
  its mutant returns (asked in the sandbox), and at the model's wrong-test rate a test expects a
  perturbed value. The truth: the task's own ``check`` on the code (sandbox). No MBPP: no
  package in the registry lists ships its data.

Figures, per weighting: *pairwise verdict agreement* (every pair of competitors on a task where
at least one answer is right: the truth is the right answer winning, or a tie between two right
ones; the judge's verdict is the higher ``exec_score``), *pass/fail accuracy* (the judge passes an
answer when it runs and fails no counted test), and the share of right answers that lose a point.

    python -m bench.bench_test_weighting            # simulation 400 tasks, all usable HumanEval
    python -m bench.bench_test_weighting --quick    # simulation 200 tasks, 40 HumanEval tasks
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import polars as pl

from gpu_ops.arena import test_consensus
from gpu_ops.arena.execution_judge import score_responses
from gpu_ops.arena.test_cases import test_cases
from gpu_ops.evaluation.humaneval import load_humaneval
from gpu_ops.sandbox import run_many
from gpu_ops.sandbox.probes import ask_many
from gpu_ops.sandbox.result_cache import ExecutionCache


@dataclass(frozen=True)
class Model:
    name: str
    accuracy: float  # P(right answer)
    wrong_tests: float  # P(a test expects a hallucinated value)
    copy_of: str | None = None  # a second checkpoint: the same answers, its own tests


MODELS = (
    Model("m1", 0.85, 0.05),
    Model("m2", 0.75, 0.10),
    Model("m3", 0.65, 0.20),
    Model("m4", 0.55, 0.30),
    Model("m5", 0.45, 0.30),
    Model("m5-copy", 0.45, 0.30, copy_of="m5"),
)
TESTS_PER_ANSWER = 3
WEIGHTINGS = ("uniform", "consensus")
FENCE = "```"


# --- metrics ----------------------------------------------------------------------------------


def metrics(
    tasks: Sequence[Sequence[tuple[bool, float, bool]]],
) -> dict[str, float | int]:
    """From (truly right, exec_score, judge passes) per competitor and task: pairwise verdict
    agreement (all pairs with a right answer; split into right-vs-wrong pairs, where the right one
    should win, and right-vs-right pairs, which should tie), pass/fail accuracy, and the share of
    right answers scored below the task's top score."""
    agree = {"decisive": 0, "tie": 0}
    pairs = {"decisive": 0, "tie": 0}
    hits = answers = right = right_hurt = 0
    for task in tasks:
        for (right_a, score_a, _), (right_b, score_b, _) in combinations(task, 2):
            if not (right_a or right_b):
                continue  # two wrong answers: the truth prefers neither
            truth = "tie" if right_a == right_b else ("A" if right_a else "B")
            verdict = "tie" if abs(score_a - score_b) < 1e-9 else "A" if score_a > score_b else "B"
            kind = "tie" if truth == "tie" else "decisive"
            pairs[kind] += 1
            agree[kind] += verdict == truth
        top = max(score for _, score, _ in task)
        for is_right, score, passes in task:
            answers += 1
            hits += passes == is_right
            right += is_right
            right_hurt += is_right and score < top - 1e-9
    every = sum(pairs.values())

    def share(hit: int, total: int) -> float:
        return round(hit / total, 4) if total else 0.0

    return {
        "pairs": every,
        "pairwise_agreement": share(sum(agree.values()), every),
        "right_vs_wrong_agreement": share(agree["decisive"], pairs["decisive"]),
        "right_vs_right_agreement": share(agree["tie"], pairs["tie"]),
        "answers": answers,
        "pass_fail_accuracy": share(hits, answers),
        "right_answers": right,
        "right_answers_below_top": share(right_hurt, right),
    }


# --- (a) simulation ---------------------------------------------------------------------------


def _simulated_task(rng: random.Random, models: Sequence[Model], domain: int = 10):
    """One task: truth, examples (anchors), and each competitor's answer and stated tests."""
    truth = tuple(rng.randrange(100) for _ in range(domain))
    bugs = []
    for _ in range(3):
        wrong = list(truth)
        for x in rng.sample(range(domain), rng.randint(1, 3)):
            wrong[x] = truth[x] + rng.choice([-2, -1, 1, 2])
        bugs.append(tuple(wrong))
    answers: dict[str, tuple[int, ...]] = {}
    for model in models:
        if model.copy_of:
            answers[model.name] = answers[model.copy_of]
        else:
            answers[model.name] = truth if rng.random() < model.accuracy else rng.choice(bugs)
    stated: dict[str, set[tuple[int, int]]] = {}
    for model in models:
        tests = set()
        for x in rng.sample(range(domain), TESTS_PER_ANSWER):
            expected = answers[model.name][x]
            if rng.random() < model.wrong_tests:
                expected = truth[x] + rng.choice([-3, 3, 7])
            tests.add((x, expected))
        stated[model.name] = tests
    examples = {(x, truth[x]) for x in rng.sample(range(domain), rng.choice([0, 1, 1, 2]))}
    return truth, examples, answers, stated


def _simulated_evidence(examples, answers, stated) -> list[test_consensus.Evidence]:
    evidence = []
    for name, answer in answers.items():
        asked = set(examples) | {
            t for other, tests in stated.items() if other != name for t in tests
        }
        evidence.append(
            test_consensus.Evidence(
                competitor=name,
                stated=frozenset(stated[name]),
                results={t: answer[t[0]] == t[1] for t in asked},
                outcomes={str(x): ("value", answer[x]) for x, _ in asked},
            )
        )
    return evidence


def _row(is_right: bool, share: float, found: int, passed: int) -> tuple[bool, float, bool]:
    score = 0.5 + (0.5 * share if found else 0.0)  # every simulated answer runs
    return is_right, score, passed == found


def simulate(
    tasks: int,
    seed: int = 0,
    models: Sequence[Model] = MODELS,
    min_sources: int = test_consensus.DEFAULT_MIN_SOURCES,
) -> dict[str, Any]:
    """Verdict agreement under uniform weighting, consensus, and consensus without sources (each
    competitor its own source), on the same simulated tasks."""
    rng = random.Random(seed)
    world = [_simulated_task(rng, models) for _ in range(tasks)]
    groups = [
        _simulated_evidence(examples, answers, stated) for _, examples, answers, stated in world
    ]
    source_of = test_consensus.sources(groups)
    outcome: dict[str, list] = {"uniform": [], "consensus": [], "consensus_without_sources": []}
    for (truth, examples, answers, _), group in zip(world, groups, strict=True):
        right = {name: answer == truth for name, answer in answers.items()}
        anchors = [t for t in examples]
        by_sources = test_consensus.test_weights(anchors, group, source_of, min_sources)
        alone = test_consensus.test_weights(anchors, group, {}, min_sources)
        rows: dict[str, list] = {key: [] for key in outcome}
        for e in group:
            passed = sum(e.results.values())
            found = len(e.results)
            rows["uniform"].append(
                _row(right[e.competitor], passed / found if found else 0.0, found, passed)
            )
            for key, weights in (("consensus", by_sources), ("consensus_without_sources", alone)):
                share, counted, ok = test_consensus.weighted_fraction(e.results, weights)
                rows[key].append(_row(right[e.competitor], share, counted, ok))
        for key in outcome:
            outcome[key].append(rows[key])
    merged = sorted({(a, b) for a, b in source_of.items() if a != b})
    return {"tasks": tasks, "seed": seed, "merged_sources": merged} | {
        key: metrics(rows) for key, rows in outcome.items()
    }


# --- (b) HumanEval with LLM-style tests -------------------------------------------------------


def official_asserts(problem: dict) -> list[tuple[str, object]]:
    """The task's own ``assert candidate(<literals>) == <literal>`` lines, as (call on the entry
    point, expected value); anything else in ``check`` is left out."""
    try:
        tree = ast.parse(problem["test"])
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)):
            continue
        test = node.test
        call = test.left
        if not (
            len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "candidate"
            and not call.keywords
        ):
            continue
        try:
            for arg in call.args:
                ast.literal_eval(arg)
            expected = ast.literal_eval(test.comparators[0])
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        args = ", ".join(ast.unparse(arg) for arg in call.args)
        found.append((f"{problem['entry_point']}({args})", expected))
    unique = {call: (call, expected) for call, expected in found}
    return list(unique.values())


_COMPARE_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_COMPARE_SWAP |= {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult}


def _sites(tree: ast.AST) -> list[tuple[str, int]]:
    """Every place a realistic slip can happen: (kind, position in ``ast.walk`` order)."""
    sites = []
    for position, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            sites += [("off_by_one+", position), ("off_by_one-", position)]
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE_SWAP:
            sites.append(("comparison", position))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAP:
            sites.append(("arithmetic", position))
        elif isinstance(node, ast.BoolOp):
            sites.append(("boolean", position))
        elif isinstance(node, ast.If) and any(isinstance(s, ast.Return) for s in node.body):
            sites.append(("missing_edge_case", position))
    return sites


def mutant(code: str, kind: str, position: int) -> str | None:
    """``code`` with one slip at ``position`` (None when the result does not compile)."""
    tree = ast.parse(code)
    nodes = list(ast.walk(tree))
    node = nodes[position]
    if kind.startswith("off_by_one"):
        node.value += 1 if kind.endswith("+") else -1
    elif kind == "comparison":
        node.ops[0] = _COMPARE_SWAP[type(node.ops[0])]()
    elif kind == "arithmetic":
        node.op = _BINOP_SWAP[type(node.op)]()
    elif kind == "boolean":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    else:  # drop the guard clause
        for parent in nodes:
            for field in ("body", "orelse"):
                block = getattr(parent, field, None)
                if isinstance(block, list) and node in block:
                    block.remove(node)
                    if not block:
                        block.append(ast.Pass())
    try:
        source = ast.unparse(ast.fix_missing_locations(tree))
        compile(source, "<mutant>", "exec")  # compiles only, never runs here
    except (SyntaxError, ValueError, RecursionError):
        return None
    return source


def perturbed(value: object) -> object:
    """A plausible wrong expected value (what a test with a hallucinated answer expects)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "a"
    if isinstance(value, list | tuple):
        return type(value)(list(value)[:-1]) if value else type(value)([0])
    if value is None:
        return 0
    return None


def _literal(value: object) -> str | None:
    text = repr(value)
    try:
        return text if ast.literal_eval(text) == value else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


@dataclass
class _Task:
    problem: dict
    right: str
    wrong: list[str]
    asserts: list[tuple[str, object]]


def _humaneval_tasks(limit: int | None, seed: int, workers: int) -> tuple[list[_Task], dict]:
    """Tasks with at least three literal asserts, a canonical solution that passes its check and
    at least one mutant that fails it."""
    rng = random.Random(seed)
    candidates = []
    for problem in load_humaneval():
        asserts = official_asserts(problem)
        if len(asserts) < TESTS_PER_ANSWER:
            continue
        try:
            right = ast.unparse(ast.parse(problem["prompt"] + problem["canonical_solution"]))
        except SyntaxError:
            continue
        sites = _sites(ast.parse(right))
        rng.shuffle(sites)
        mutants = [m for kind, p in sites if (m := mutant(right, kind, p)) and m != right]
        candidates.append((problem, right, list(dict.fromkeys(mutants))[:4], asserts))
    rng.shuffle(candidates)
    candidates = candidates[:limit] if limit else candidates
    codes = [
        (i, code) for i, (_, right, wrong, _) in enumerate(candidates) for code in (right, *wrong)
    ]
    flat = [  # the truth: the task's own check on each code, in the sandbox
        f"{code}\n\n{candidates[i][0]['test']}\n\ncheck({candidates[i][0]['entry_point']})\n"
        for i, code in codes
    ]
    results = run_many(flat, timeout_s=10, memory_mb=256, workers=workers)
    verdict = {(i, code): r.status == "ok" for (i, code), r in zip(codes, results, strict=True)}
    tasks = []
    for i, (problem, right, wrong, asserts) in enumerate(candidates):
        failing = [code for code in wrong if not verdict[(i, code)]]
        if verdict[(i, right)] and failing:
            tasks.append(_Task(problem, right, failing, asserts))
    return tasks, {"candidates": len(candidates), "usable": len(tasks)}


def _beliefs(
    jobs: list[tuple[str, list[tuple[str, object]]]], workers: int
) -> list[list[object | None]]:
    """What each wrong code returns for each official call (None: no plain answer), asked in the
    sandbox: the value a model that wrote this code would expect in its own tests."""
    asked = []
    for code, calls in jobs:
        probes = []
        for call, expected in calls:
            case = test_cases(f"assert {call} == {_literal(expected) or 'None'}")
            probes.append(case[0].probes[0] if case and len(case[0].probes) == 1 else None)
        asked.append((code, probes))
    answers = ask_many(
        [(code, [p for p in probes if p is not None]) for code, probes in asked],
        timeout_s=10,
        memory_mb=256,
        workers=workers,
    )
    beliefs = []
    for (_, probes), answer in zip(asked, answers, strict=True):
        values, k = [], 0
        for probe in probes:
            if probe is None:
                values.append(None)
                continue
            values.append(answer.values.get(k))
            k += 1
        beliefs.append(values)
    return beliefs


def humaneval_corpus(
    limit: int | None, seed: int = 0, workers: int = 2, models: Sequence[Model] = MODELS
) -> tuple[pl.DataFrame, dict[tuple[str, str], bool], dict]:
    """Rows for ``score_responses`` (one instruction per task, one response per competitor), the
    truth per (task, competitor), and counts."""
    tasks, counts = _humaneval_tasks(limit, seed, workers)
    rng = random.Random(seed + 1)
    plan = []  # (task, model, code, is_right, sampled asserts, hallucinated flags)
    for task in tasks:
        codes: dict[str, tuple[str, bool]] = {}
        for model in models:
            if model.copy_of:
                codes[model.name] = codes[model.copy_of]
            elif rng.random() < model.accuracy:
                codes[model.name] = (task.right, True)
            else:
                codes[model.name] = (rng.choice(task.wrong), False)
        for model in models:
            code, is_right = codes[model.name]
            sampled = rng.sample(task.asserts, TESTS_PER_ANSWER)
            wrong = [rng.random() < model.wrong_tests for _ in sampled]
            plan.append((task, model.name, code, is_right, sampled, wrong))
    belief_jobs = [(code, sampled) for _, _, code, right, sampled, _ in plan if not right]
    beliefs = iter(_beliefs(belief_jobs, workers))
    rows, truth = [], {}
    hallucinated = written = 0
    for task, name, code, is_right, sampled, wrong in plan:
        believed = [None] * len(sampled) if is_right else next(beliefs)
        lines = []
        for (call, expected), hallucinate, belief in zip(sampled, wrong, believed, strict=True):
            value = expected if belief is None or _literal(belief) is None else belief
            if hallucinate:
                value = perturbed(expected)
            literal = _literal(value)
            if literal is not None:
                lines.append(f"assert {call} == {literal}")
                written += 1
                hallucinated += literal != _literal(expected) and hallucinate
        response = f"Here is my solution.\n{FENCE}python\n{code}\n{FENCE}\nTests:\n" + "\n".join(
            lines
        )
        task_id = task.problem["task_id"]
        rows.append(
            {
                "instruction_id": task_id,
                "expert": name,
                "instruction": task.problem["prompt"],
                "response": response,
            }
        )
        truth[(task_id, name)] = is_right
    counts |= {"tests_written": written, "tests_hallucinated": hallucinated}
    counts["right_answers"] = sum(truth.values())
    counts["responses"] = len(truth)
    return pl.DataFrame(rows), truth, counts


def judge_humaneval(
    rows: pl.DataFrame, truth: dict[tuple[str, str], bool], workers: int = 2
) -> dict[str, Any]:
    """Score the corpus under both weightings with the real execution judge (one cache, so the
    second weighting runs nothing new) and compare the verdicts with the truth."""
    cache = ExecutionCache()
    found: dict[str, Any] = {}
    for weighting in WEIGHTINGS:
        start = time.perf_counter()
        table = score_responses(
            rows,
            timeout_s=10,
            memory_mb=256,
            workers=workers,
            cache=cache,
            test_weighting=weighting,
        )
        seconds = time.perf_counter() - start
        by_task: dict[str, list] = {}
        for record in table.iter_rows(named=True):
            is_right = truth[(record["instruction_id"], record["expert"])]
            passes = record["error_kind"] is None
            by_task.setdefault(record["instruction_id"], []).append(
                (is_right, record["exec_score"], passes)
            )
        found[weighting] = metrics(list(by_task.values())) | {
            "seconds": round(seconds, 1),
            "mean_tests_counted": round(float(table["tests_found"].mean()), 2),
        }
    found["sandbox_runs"] = cache.sandbox_runs
    return found


def partition_cost(rows: pl.DataFrame, tasks: int, workers: int = 2) -> dict[str, Any]:
    """Sandbox runs when the arena scores one competitor's partition at a time (its rows, every
    competitor's responses as peers) on the first ``tasks`` tasks, one shared cache per
    weighting: consensus runs every competitor of an instruction at once, so the first partition
    costs more and the later ones find their answers cached."""
    ids = rows["instruction_id"].unique(maintain_order=True).to_list()[:tasks]
    part = rows.filter(pl.col("instruction_id").is_in(ids))
    found: dict[str, Any] = {"tasks": len(ids)}
    for weighting in WEIGHTINGS:
        cache = ExecutionCache()
        start = time.perf_counter()
        first = None
        for expert in part["expert"].unique(maintain_order=True).to_list():
            score_responses(
                part.filter(pl.col("expert") == expert),
                peers=part,
                timeout_s=10,
                memory_mb=256,
                workers=workers,
                cache=cache,
                test_weighting=weighting,
            )
            first = cache.sandbox_runs if first is None else first
        found[weighting] = {
            "first_partition_runs": first,
            "all_partitions_runs": cache.sandbox_runs,
            "seconds": round(time.perf_counter() - start, 1),
        }
    return found


# --- entry points -----------------------------------------------------------------------------


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    sim_tasks, he_limit = (60, 4) if smoke else (200, 40) if quick else (400, None)
    start = time.perf_counter()
    simulation = simulate(sim_tasks)
    sweep = {
        str(rate): simulate(
            sim_tasks, models=[Model(m.name, m.accuracy, rate, m.copy_of) for m in MODELS]
        )
        for rate in (0.0, 0.3, 0.6)
    }
    rows, truth, counts = humaneval_corpus(he_limit)
    humaneval = judge_humaneval(rows, truth) | {"corpus": counts}
    humaneval["partition_cost"] = partition_cost(rows, 2 if smoke else 20)
    return {
        "models": [m.__dict__ for m in MODELS],
        "tests_per_answer": TESTS_PER_ANSWER,
        "min_sources": test_consensus.DEFAULT_MIN_SOURCES,
        "source_agreement": test_consensus.SOURCE_AGREEMENT,
        "simulation": simulation,
        "simulation_by_wrong_test_rate": {
            rate: {k: result[k]["pairwise_agreement"] for k in ("uniform", "consensus")}
            for rate, result in sweep.items()
        },
        "humaneval": humaneval,
        "bench_seconds": round(time.perf_counter() - start, 1),
    }


def _pair(result: dict[str, Any], key: str) -> str:
    return f"{result['uniform'][key]} -> **{result['consensus'][key]}**"


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    sim, he = result["simulation"], result["humaneval"]
    corpus, cost = he["corpus"], he["partition_cost"]
    return [
        (
            "test weighting, simulation (`bench_test_weighting`)",
            f"{sim['tasks']} tasks x 6 competitors (5 models, wrong-test rates 0.05-0.3, one "
            "duplicated): execution verdict vs truth, uniform -> consensus weighting",
            f"pairwise agreement {_pair(sim, 'pairwise_agreement')} (right vs wrong "
            f"{_pair(sim, 'right_vs_wrong_agreement')}); pass/fail accuracy "
            f"{_pair(sim, 'pass_fail_accuracy')}",
            "consensus > uniform",
        ),
        (
            "test weighting, HumanEval",
            f"{corpus['usable']} HumanEval tasks x 6 competitors (canonical solutions and failing "
            "mutants, LLM-style tests from the official asserts, "
            f"{corpus['tests_hallucinated']} of {corpus['tests_written']} hallucinated), real "
            "execution judge: uniform -> consensus",
            f"pairwise agreement {_pair(he, 'pairwise_agreement')} (right vs wrong "
            f"{_pair(he, 'right_vs_wrong_agreement')}); pass/fail accuracy "
            f"{_pair(he, 'pass_fail_accuracy')}",
            "consensus > uniform",
        ),
        (
            "test weighting, cost",
            f"sandbox runs scoring one partition at a time ({cost['tasks']} HumanEval tasks x 6 "
            "competitors, one cache): the first partition / all six, uniform -> consensus",
            f"{cost['uniform']['first_partition_runs']} -> "
            f"{cost['consensus']['first_partition_runs']} / "
            f"{cost['uniform']['all_partitions_runs']} -> "
            f"**{cost['consensus']['all_partitions_runs']}**",
            "report",
        ),
    ]


def main(argv: Sequence[str] | None = None, emit: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    emit(json.dumps(run(quick=args.quick), indent=2, default=str))


if __name__ == "__main__":
    main()
