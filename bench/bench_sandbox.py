"""Sandbox throughput: against the machine's floor, and before/after issue 13, same process.

The floor (issue 28): how many bare ``python -I -S -c pass`` processes per second this machine
starts (the interpreter the sandbox runs, a thread pool of the same number of workers each
starting one and waiting for it), against the sandbox's runs per second of a trivial program at
its tier (``full`` on the dev box and CI). Rounds alternate floor / sandbox, so load drifts on the
shared box hit both alike; each round gives one ratio, reported as median and range. Target: the
sandbox at no less than half the floor.

"Before" is the old sandbox, read from git at bench time (``bench.baseline.sandbox_before``:
``gpu_ops/sandbox.py`` at 3eae98d, namespaces, read-only host view, rlimits only); "after" is ``gpu_ops.sandbox`` in the tier it detects here
(``full`` on the dev box and CI). Both run the same trivial program (``print(6 * 7)``) N times,
one at a time and with ``run_many(workers=2)``; rounds alternate before/after so load drifts hit
both alike. Also timed, after only: the execution judge on a batch of responses with tests (two
sandbox runs per response, plus one referee run per batch since issue 24), to compare with the
arena's other stages, and the HumanEval harness on 20 tasks (reference runs cached first; since
issue 24 one more replay run decides the verdicts).

    python -m bench.bench_sandbox            # 40 runs x 3 rounds per configuration (~1 min)
    python -m bench.bench_sandbox --quick    # 12 runs x 2 rounds
    python -m bench.bench_sandbox --floor    # floor vs sandbox only, 60 runs x 7 rounds
    python bench/bench_sandbox.py --judge    # only the judge and HumanEval figures; run it with
                                             # PYTHONPATH at another checkout for its "before"
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

from bench.baseline import sandbox_before
from gpu_ops import sandbox
from gpu_ops.arena.execution_judge import score_responses
from gpu_ops.evaluation.humaneval import evaluate_completions, expected_calls, load_humaneval
from gpu_ops.sandbox.result_cache import ExecutionCache

PROGRAM = "print(6 * 7)\n"
FENCE = "```"


def _rate(run: Callable[[int], list], count: int) -> float:
    """Runs per second of ``run(count)``, checking every run printed 42."""
    start = time.perf_counter()
    results = run(count)
    elapsed = time.perf_counter() - start
    bad = [r for r in results if r.status != "ok" or r.stdout.strip() != "42"]
    if bad:
        raise RuntimeError(f"a benchmark run failed: {bad[0]}")
    return count / elapsed


def _configurations() -> dict[str, Callable[[int], list]]:
    kwargs = {"timeout_s": 10, "memory_mb": 256}
    before = sandbox_before()
    return {
        "before_sequential": lambda n: [before.run_code(PROGRAM, **kwargs) for _ in range(n)],
        "after_sequential": lambda n: [sandbox.run_code(PROGRAM, **kwargs) for _ in range(n)],
        "before_workers2": lambda n: before.run_many([PROGRAM] * n, workers=2, **kwargs),
        "after_workers2": lambda n: sandbox.run_many([PROGRAM] * n, workers=2, **kwargs),
    }


def _cpu_seconds() -> float:
    """CPU time of this process and of every child it (or they) waited for: a sandbox run's
    unshare, PID 1 and interpreter included. Kernel work done later in kernel threads (network
    namespace and cgroup cleanup) is not counted, which favours the sandbox."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _measured(job: Callable[[], None], count: int) -> tuple[float, float]:
    """(runs per second, CPU milliseconds per run) of ``job``, which does ``count`` runs."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    job()
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return count / elapsed, cpu * 1000 / count


def _floor(count: int, workers: int) -> tuple[float, float]:
    """Bare interpreter starts: ``count`` of ``python -I -S -c pass`` (the sandbox's
    interpreter) on ``workers`` threads, each starting a process and waiting for it."""
    command = [sandbox._interpreter().executable, "-I", "-S", "-c", "pass"]

    def job() -> None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            codes = set(pool.map(lambda _: subprocess.run(command).returncode, range(count)))
        if codes != {0}:
            raise RuntimeError(f"a bare interpreter failed: exit codes {sorted(codes)}")

    return _measured(job, count)


def _sandboxed(count: int, workers: int) -> tuple[float, float]:
    """The sandbox running the trivial program ``count`` times with ``workers`` workers."""

    def job() -> None:
        results = sandbox.run_many([PROGRAM] * count, workers=workers, timeout_s=10, memory_mb=256)
        bad = [r for r in results if r.status != "ok" or r.stdout.strip() != "42"]
        if bad:
            raise RuntimeError(f"a benchmark run failed: {bad[0]}")

    return _measured(job, count)


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def floor_comparison(count: int = 60, rounds: int = 7, workers: int = 2) -> dict[str, Any]:
    """The sandbox's runs/s of a trivial program against the floor, rounds alternating (the
    order flips every round). Per round: ratio = sandbox runs/s / floor starts/s, and the CPU
    ratio = floor CPU ms per start / sandbox CPU ms per run (load-independent, but blind to
    kernel threads). Under load the runs/s ratio flatters the sandbox: each run has its own
    cpu cgroup (issue 24), which the caller's ``nice`` does not reach, while the floor's
    processes keep it."""
    _floor(workers, workers)  # warm up: interpreter pages, tier detection
    _sandboxed(workers, workers)
    floors: list[tuple[float, float]] = []
    boxes: list[tuple[float, float]] = []
    for index in range(rounds):
        if index % 2:
            boxes.append(_sandboxed(count, workers))
            floors.append(_floor(count, workers))
        else:
            floors.append(_floor(count, workers))
            boxes.append(_sandboxed(count, workers))
    ratios = [b[0] / f[0] for b, f in zip(boxes, floors, strict=True)]
    cpu_ratios = [f[1] / b[1] for b, f in zip(boxes, floors, strict=True)]
    return {
        "tier": sandbox.sandbox_capabilities()["isolation"],
        "workers": workers,
        "runs_per_round": count,
        "rounds": rounds,
        "floor_per_s": [round(f[0], 2) for f in floors],
        "sandbox_per_s": [round(b[0], 2) for b in boxes],
        "floor_cpu_ms": [round(f[1], 2) for f in floors],
        "sandbox_cpu_ms": [round(b[1], 2) for b in boxes],
        "ratios": [round(v, 3) for v in ratios],
        "cpu_ratios": [round(v, 3) for v in cpu_ratios],
        "floor_median_per_s": round(statistics.median(f[0] for f in floors), 2),
        "sandbox_median_per_s": round(statistics.median(b[0] for b in boxes), 2),
        "floor_median_cpu_ms": round(statistics.median(f[1] for f in floors), 2),
        "sandbox_median_cpu_ms": round(statistics.median(b[1] for b in boxes), 2),
        "ratio": _spread(ratios),
        "cpu_ratio": _spread(cpu_ratios),
        "target_ratio": 0.5,
    }


def _judge_rate(responses: int, distinct: bool = False) -> dict[str, float]:
    """Responses per second of the execution judge; ``distinct``: every response's code differs
    (a comment), so no two ask the same questions of the same code."""
    instruction = "Write add(a, b).\nassert add(1, 2) == 3\n>>> add(20, 22)\n42\n"
    bodies = ["return a + b", "return a - b", "return b + a", "return 0"]
    rows = pl.DataFrame(
        {
            "instruction_id": [f"i{i // 4}" for i in range(responses)],
            "expert": [f"e{i % 4}" for i in range(responses)],
            "instruction": [instruction] * responses,
            "response": [
                f"{FENCE}python\n{f'# variant {i}' if distinct else ''}\n"
                f"def add(a, b):\n    {bodies[i % 4]}\n\nassert add(2, 2) == 4\n{FENCE}"
                for i in range(responses)
            ],
        }
    )
    cache = ExecutionCache()
    start = time.perf_counter()
    table = score_responses(rows, timeout_s=10, memory_mb=256, workers=2, cache=cache)
    elapsed = time.perf_counter() - start
    return {
        "responses": responses,
        "responses_per_s": round(responses / elapsed, 2),
        "sandbox_runs": cache.sandbox_runs + getattr(cache, "referee_runs", 0),
        "mean_exec_score": round(float(table["exec_score"].mean()), 3),
    }


def _humaneval_rate(tasks: int) -> dict[str, float]:
    """Completions per second of the HumanEval harness (per task the canonical solution and an
    empty body, 2 workers), with the reference runs already cached: what evaluating a model's
    samples costs, right and wrong ones alike."""
    problems = load_humaneval()[:tasks]
    expected_calls(problems, workers=2)
    start = time.perf_counter()
    table = evaluate_completions(
        problems,
        {p["task_id"]: [p["canonical_solution"], "    pass\n"] for p in problems},
        workers=2,
    )
    elapsed = time.perf_counter() - start
    return {
        "completions": table.height,
        "completions_per_s": round(table.height / elapsed, 2),
        "pass_rate": round(float(table["passed"].mean()), 3),
    }


def judge_only(rounds: int = 3) -> dict[str, Any]:
    """The execution judge and HumanEval figures alone, median of ``rounds``."""
    judges = [_judge_rate(24) for _ in range(rounds)]
    distinct = [_judge_rate(24, distinct=True) for _ in range(rounds)]
    evals = [_humaneval_rate(20) for _ in range(rounds)]
    return {
        "judge_responses_per_s": statistics.median(j["responses_per_s"] for j in judges),
        "judge_distinct_responses_per_s": statistics.median(j["responses_per_s"] for j in distinct),
        "judge_distinct_runs": distinct[0]["sandbox_runs"],
        "judge_runs": judges[0]["sandbox_runs"],
        "judge_mean_exec_score": judges[0]["mean_exec_score"],
        "humaneval_completions_per_s": statistics.median(e["completions_per_s"] for e in evals),
        "humaneval_pass_rate": evals[0]["pass_rate"],
    }


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    count, rounds = (4, 1) if smoke else (12, 2) if quick else (40, 3)
    configurations = _configurations()
    rates: dict[str, list[float]] = {name: [] for name in configurations}
    for name in configurations:  # warm up: interpreter pages, tier detection
        configurations[name](1)
    for _ in range(rounds):
        for name, configuration in configurations.items():
            rates[name].append(_rate(configuration, count))
    medians = {name: round(statistics.median(values), 2) for name, values in rates.items()}
    caps = sandbox.sandbox_capabilities()
    return {
        "tier_after": caps["isolation"],
        "cgroup_after": caps["cgroup"],
        "runs_per_configuration": count,
        "rounds": rounds,
        "runs_per_s": medians,
        "ratio_after_vs_before_sequential": round(
            medians["after_sequential"] / medians["before_sequential"], 3
        ),
        "ratio_after_vs_before_workers2": round(
            medians["after_workers2"] / medians["before_workers2"], 3
        ),
        "execution_judge": _judge_rate(8 if smoke else 24),
        "floor": floor_comparison(*((4, 1) if smoke else (24, 3) if quick else (60, 5))),
    }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    rates = result["runs_per_s"]
    judge = result["execution_judge"]
    floor = result["floor"]
    return [
        (
            "sandbox vs the floor (`bench_sandbox`)",
            f"runs/s of a trivial program at tier `{floor['tier']}` vs bare `python -I -S -c pass`"
            f" starts/s, {floor['workers']} workers, {floor['rounds']} alternating rounds",
            f"{floor['sandbox_median_per_s']} vs {floor['floor_median_per_s']}: "
            f"**{floor['ratio']['median']}x** (rounds {floor['ratio']['min']}-"
            f"{floor['ratio']['max']}); CPU per run {floor['sandbox_median_cpu_ms']} vs "
            f"{floor['floor_median_cpu_ms']} ms: **{floor['cpu_ratio']['median']}x** "
            f"({floor['cpu_ratio']['min']}-{floor['cpu_ratio']['max']})",
            ">= 0.5x",
        ),
        (
            "sandbox (`bench_sandbox`)",
            f"runs/s of a trivial program, after issue 13 (tier `{result['tier_after']}`: private "
            "root, cgroup, fresh keyring) vs before (read-only host view), same process",
            f"sequential {rates['after_sequential']} vs {rates['before_sequential']}: "
            f"**{result['ratio_after_vs_before_sequential']}x**; 2 workers "
            f"{rates['after_workers2']} vs {rates['before_workers2']}: "
            f"**{result['ratio_after_vs_before_workers2']}x**",
            ">= 0.5x",
        ),
        (
            "execution judge throughput",
            f"{judge['responses']} responses with independent tests, 2 workers "
            f"({judge['sandbox_runs']} sandbox runs, the referee's included)",
            f"**{judge['responses_per_s']} responses/s**",
            "report",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 runs x 2 rounds")
    parser.add_argument("--judge", action="store_true", help="judge and HumanEval figures only")
    parser.add_argument("--floor", action="store_true", help="floor vs sandbox only")
    args = parser.parse_args()
    if args.floor:
        result = floor_comparison()
    else:
        result = judge_only() if args.judge else run(quick=args.quick)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
