"""demo_effect's judge keys: computed from each judge's build stamp, unknown counts as trained."""

from __future__ import annotations

import json
import random
from pathlib import Path

from warriorcoder.report import judge_independence_line
from wc_demo import world
from wc_demo.independence import heldout_benchmark, judge_independence, judged_families


def stamped(folder: Path, stamp: dict) -> Path:
    """A model folder with only a demo build stamp (all that the judge keys read)."""
    folder.mkdir(parents=True)
    (folder / "demo_expert.json").write_text(json.dumps(stamp), encoding="utf-8")
    return folder


def instructions(family: str, n: int) -> list[str]:
    rng = random.Random(0)
    compositions = list(world.compositions(world.FAMILY_BY_NAME[family]))
    return [world.make_task(family, rng.choice(compositions), rng).instruction for _ in range(n)]


def test_judges_that_learned_on_the_judging_family_alone_are_independent(tmp_path: Path) -> None:
    judges = {
        slug: stamped(tmp_path / slug, {"version": 6, "judging": {"families": ["words"]}})
        for slug in ("expert-a", "expert-b")
    }
    benchmark = [p["instruction"] for p in world.benchmark_problems(30)]
    battled = instructions("text", 5) + instructions("lists", 5) + ["Tell me a joke."]
    keys = judge_independence(
        judges, benchmark_instructions=benchmark, battled_instructions=battled
    )
    assert keys["judges_trained_on_benchmark_families"] is False
    assert keys["judging_families"] == {"expert-a": ["words"], "expert-b": ["words"]}
    assert keys["judged_families"] == ["lists", "numbers", "text"]
    # one battled instruction of the judges' family, and they judge their own training ground
    leaked = judge_independence(
        judges, benchmark_instructions=benchmark, battled_instructions=instructions("words", 1)
    )
    assert leaked["judges_trained_on_benchmark_families"] is True


def test_a_judge_that_never_learned_to_judge_is_independent(tmp_path: Path) -> None:
    """The general judge (a writer of every family, `kind` judge) learned no judging at all: it
    judges by likelihood, so no family is its judging ground."""
    general = stamped(tmp_path / "judge-general", {"version": 6, "kind": "judge"})
    assert judged_families(general) == []
    keys = judge_independence(
        {"judge-general": general},
        benchmark_instructions=[p["instruction"] for p in world.benchmark_problems(9)],
        battled_instructions=instructions("text", 3),
    )
    assert keys["judges_trained_on_benchmark_families"] is False
    assert keys["judging_families"] == {"judge-general": []}
    line = judge_independence_line(keys)
    assert line == (
        "judges trained on benchmark families: false "
        "(each judge learned to judge on: judge-general: nothing (never trained to judge))"
    )


def test_unknown_counts_as_trained(tmp_path: Path) -> None:
    """A build from before the judging-only family (version 5: judged every family), or a judge
    that is no demo build (a real model), cannot be shown independent."""
    old = stamped(tmp_path / "old", {"version": 5, "judging": {"rounds": [4000, 2000]}})
    real = tmp_path / "real"
    real.mkdir()
    assert judged_families(old) is None and judged_families(real) is None
    new = stamped(tmp_path / "new", {"version": 6, "judging": {"families": ["words"]}})
    benchmark = [p["instruction"] for p in world.benchmark_problems(9)]
    for other in (old, real):
        keys = judge_independence(
            {"new": new, "other": other}, benchmark_instructions=benchmark, battled_instructions=[]
        )
        assert keys["judges_trained_on_benchmark_families"] is True
        assert keys["judging_families"]["other"] is None
    line = judge_independence_line(keys)
    assert line.startswith("judges trained on benchmark families: true")
    assert "new: words" in line and "other: unknown" in line


def test_the_benchmark_reports_its_held_out_behaviours() -> None:
    problems = world.benchmark_problems(150)
    report = heldout_benchmark(problems)
    assert report["n_tasks"] == 150
    assert report["tasks_per_family"] == {"lists": 50, "numbers": 50, "text": 50}
    behaviours = report["heldout_behaviours"]
    assert set(behaviours) == set(world.ARENA_FAMILIES)
    assert all(50 <= n < 200 for n in behaviours.values())  # 50 tasks each, one per behaviour
    assert sum(behaviours.values()) == len(world.benchmark_problems(10_000))
