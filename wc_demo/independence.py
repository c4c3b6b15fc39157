"""Whether the demo's LLM judges are independent of what they judge and of the grader.

A judge that learned to judge on a family the arena battles, or the benchmark holds, is graded on
its own training ground (issue 26: the paper's judges are independent models). What a demo judge
learned to judge on is in its build stamp (`wc_demo.experts.build_info`: the judging recipe's
`families`, since build version 6; the general judge, `kind` "judge", learned none). Anything that cannot be shown to be independent counts as
trained on them: a judge that is no demo build, or a build from before the judging-only family.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gpu_ops.errors import InputError
from wc_demo import world
from wc_demo.experts import build_info


def judged_families(model_dir: str | Path) -> list[str] | None:
    """The world families a demo judge learned to judge on; None when unknown (no demo build,
    or one whose stamp does not say: built before the judging recipe named its families)."""
    try:
        stamp = build_info(model_dir)
    except InputError:
        return None
    if stamp.get("kind") == "judge":  # the general judge: a writer that never learned to judge
        return []
    families = (stamp.get("judging") or {}).get("families")
    return sorted(families) if families is not None else None


def instruction_families(instructions: Iterable[str]) -> set[str]:
    """The world families of the instructions the world reads back (others have none)."""
    return {parsed[0] for text in instructions if (parsed := world.parse_instruction(text))}


def heldout_benchmark(problems: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What the benchmark holds: its tasks per family and the held-out behaviours (hidden-test
    signatures no training composition has) each family has in all."""
    tasks: dict[str, int] = {}
    for problem in problems:
        parsed = world.parse_instruction(problem["instruction"])
        family = parsed[0] if parsed else "(not the demo world)"
        tasks[family] = tasks.get(family, 0) + 1
    behaviours = {
        name: len(world.heldout_signatures(name)) for name in sorted(world.ARENA_FAMILIES)
    }
    return {
        "n_tasks": sum(tasks.values()),
        "tasks_per_family": dict(sorted(tasks.items())),
        "heldout_behaviours": behaviours,
    }


def judge_independence(
    judge_dirs: Mapping[str, str | Path],
    *,
    benchmark_instructions: Iterable[str],
    battled_instructions: Iterable[str],
) -> dict[str, Any]:
    """The report's judge keys: each judge's judging families (None: unknown) and whether any
    judge was (or may have been) trained to judge a family of the benchmark or of the battles."""
    judging = {slug: judged_families(path) for slug, path in sorted(judge_dirs.items())}
    judged = instruction_families(benchmark_instructions) | instruction_families(
        battled_instructions
    )
    trained = any(families is None or bool(set(families) & judged) for families in judging.values())
    return {
        "judges_trained_on_benchmark_families": trained,
        "judging_families": judging,
        "judged_families": sorted(judged),
    }
