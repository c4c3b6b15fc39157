"""The sandbox's `run_many` and `ask_many`, each program a Ray task on some node's own sandbox
when a Ray address is in force; the local sandbox's own fan-out otherwise.

Why per program: a node lost mid-step costs only its running programs, and the verdicts do
not depend on how programs were spread. Each result is handed to the caller's `on_result` as it
arrives, so the scorer commits it to the execution cache at once (a killed driver keeps it). Each node checks its own isolation tier first
(`require_tier` inside the sandbox), so a node without the sandbox's requirements fails with
the sandbox's own error instead of running code weaker than asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from gpu_ops import sandbox
from gpu_ops.cluster.executor import map_tasks
from gpu_ops.sandbox import SandboxResult
from gpu_ops.sandbox import probes as sandbox_probes


def run_many(
    codes: Sequence[str],
    *,
    workers: int | None = None,
    files_per_run: Sequence[dict[str, str] | None] | None = None,
    on_result: Callable[[int, SandboxResult], None] | None = None,
    **kwargs,
) -> list[SandboxResult]:
    """`gpu_ops.sandbox.run_many`, fanned out over the cluster when there is one.
    `on_result(position, result)` runs in the driver as each program's result arrives."""
    local = partial(
        sandbox.run_many, workers=workers, files_per_run=files_per_run, on_result=on_result
    )
    if isinstance(codes, str) or (
        files_per_run is not None and len(files_per_run) != len(codes)
    ):  # the sandbox's own checks name the problem
        return local(codes, **kwargs)
    files = list(files_per_run) if files_per_run is not None else [None] * len(codes)
    return map_tasks(
        partial(_run_one, kwargs=kwargs),
        list(zip(codes, files, strict=True)),
        local=lambda _: local(codes, **kwargs),
        on_result=on_result,
    )


def ask_many(
    jobs: list[tuple[str, list[sandbox_probes.Probe]]],
    *,
    workers: int | None = None,
    on_result: Callable[[int, sandbox_probes.Answers], None] | None = None,
    **kwargs,
) -> list[sandbox_probes.Answers]:
    """`gpu_ops.sandbox.probes.ask_many`, fanned out over the cluster when there is one.
    `on_result(position, answers)` runs in the driver as each job's answers arrive."""
    return map_tasks(
        partial(_ask_one, kwargs=kwargs),
        list(jobs),
        local=lambda items: sandbox_probes.ask_many(
            items, workers=workers, on_result=on_result, **kwargs
        ),
        on_result=on_result,
    )


def _run_one(job: tuple[str, dict[str, str] | None], kwargs: dict) -> SandboxResult:
    code, files = job
    per_run = None if files is None else [files]
    return sandbox.run_many([code], workers=1, files_per_run=per_run, **kwargs)[0]


def _ask_one(job: tuple[str, list[sandbox_probes.Probe]], kwargs: dict) -> sandbox_probes.Answers:
    return sandbox_probes.ask_many([job], workers=1, **kwargs)[0]
