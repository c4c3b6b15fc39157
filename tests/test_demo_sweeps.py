"""The demo's sweeps (wc_demo.sweeps and its sweep_* modules): the pieces in milliseconds, and
one quick sweep end to end (slow)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.errors import InputError
from wc_demo import sweep_pools, sweep_report, sweeps
from wc_demo.sweep_arenas import (
    COMPETITOR_ROLES,
    arena_only,
    judge_slug,
    share_config,
)
from wc_demo.sweep_runs import Runner, request
from wc_foundation.config.loading import parse_config, read_config_data
from wc_foundation.storage import Home, read_lake_table

REPO = Path(__file__).resolve().parents[1]
SLUGS = ("expert-lists", "expert-numbers", "expert-text")


def demo_data(home: Path) -> dict:
    return read_config_data(REPO / "configs" / "demo.yaml", home)


def sweep_data(tmp_path: Path, *, quick: bool = False) -> dict:
    writers = {slug: tmp_path / "writers" / slug for slug in SLUGS}
    judges = {slug: tmp_path / "judges" / slug for slug in SLUGS}
    return share_config(demo_data(tmp_path), writers, judges, tmp_path / "target", quick=quick)


def test_share_config_has_writers_competing_and_the_experts_judging(tmp_path: Path) -> None:
    data = sweep_data(tmp_path)
    config = parse_config(data)
    assert {e.slug: e.model for e in config.experts} == {
        slug: str(tmp_path / "writers" / slug) for slug in SLUGS
    }
    assert all(list(e.roles) == COMPETITOR_ROLES for e in config.experts)
    judges = [m.slug for m in config.judge_models()]
    assert (
        judges
        == [judge_slug(slug) for slug in SLUGS]
        == [
            "judge-lists",
            "judge-numbers",
            "judge-text",
        ]
    )
    assert config.judging.extra_judges[0].model == str(tmp_path / "judges" / "expert-lists")
    assert config.target.model == str(tmp_path / "target")
    # every other setting is the demo's
    demo = parse_config(demo_data(tmp_path))
    for section in ("mining", "selection", "responses", "ratings", "winners", "evaluation"):
        assert getattr(config, section) == getattr(demo, section), section
    assert config.judging.execution == demo.judging.execution
    # the pipeline's config stops at the export: no target
    assert parse_config(arena_only(data)).target is None


def test_quick_config_is_small(tmp_path: Path) -> None:
    config = parse_config(sweep_data(tmp_path, quick=True))
    assert config.selection.k == 6 and config.evaluation.max_problems == 6
    assert config.target.sft.epochs == 1


def test_share_config_refuses_other_experts(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not the sweep's writers"):
        share_config(demo_data(tmp_path), {"a": tmp_path}, {}, tmp_path)
    without_target = {k: v for k, v in demo_data(tmp_path).items() if k != "target"}
    with pytest.raises(InputError, match="no `target`"):
        share_config(without_target, {}, {}, tmp_path)


def test_subsets_of_every_size() -> None:
    found = sweep_pools.subsets(["c", "a", "b"])
    assert found == {
        1: [("a",), ("b",), ("c",)],
        2: [("a", "b"), ("a", "c"), ("b", "c")],
        3: [("a", "b", "c")],
    }


def pool() -> sweep_pools.Pool:
    rows = [
        {
            "instruction_id": iid,
            "messages": [
                {"role": "user", "content": f"task {iid}"},
                {"role": "assistant", "content": f"{iid} by a"},
            ],
        }
        for iid in ("i1", "i2")
    ]
    responses = pl.DataFrame(
        {
            "instruction_id": ["i1", "i1", "i2", "i2"],
            "expert": ["a", "b", "a", "b"],
            "response": ["i1 by a", "i1 by b", "i2 by a", None],
        }
    )
    return sweep_pools.Pool(rows, responses, best="a", strongest="a")


def test_with_winners_swaps_in_the_recomputed_winners_answer() -> None:
    winners = pl.DataFrame({"instruction_id": ["i1", "i2"], "winner": ["b", "b"]})
    rows = sweep_pools.with_winners(pool(), winners)
    assert [r["messages"][1]["content"] for r in rows] == ["i1 by b", ""]  # empty: a data point
    assert [r["messages"][0]["content"] for r in rows] == ["task i1", "task i2"]
    with pytest.raises(InputError, match="no recomputed winner"):
        sweep_pools.with_winners(pool(), winners.head(1))


def entry(share: float, difference: float, upper: float) -> dict:
    return {"share": share, "arena_minus_best_single": {"difference": difference, "upper": upper}}


def test_acceptance_is_computed_from_the_intervals() -> None:
    overlap = [entry(0.03, 0.12, 0.2), entry(0.5, -0.1, -0.02)]
    count = [{"n_experts": 1}, {"n_experts": 2, "minus_one_fewer": {"upper": 0.01}}]
    found = sweep_report.acceptance(overlap, count, 0.03)
    assert found["arena_at_least_0.05_above_best_single_at_default_share"] is True
    assert found["shares_where_best_single_is_better_beyond_noise"] == [0.5]
    assert found["expert_count_non_decreasing_within_noise"] is True
    count.append({"n_experts": 3, "minus_one_fewer": {"upper": -0.01}})
    found = sweep_report.acceptance([entry(0.03, 0.04, 0.1)], count, 0.03)
    assert found["arena_at_least_0.05_above_best_single_at_default_share"] is False
    assert found["expert_counts_that_decrease_beyond_noise"] == [3]


def test_runs_are_keyed_by_content_and_run_once(tmp_path: Path, monkeypatch) -> None:
    home = Home.resolve(tmp_path / "home")
    config = parse_config(sweep_data(tmp_path))
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "config.json").write_text("{}")
    runner = Runner(home, config, "demo-world", workers=2, log=lambda _: None)
    ran = []

    def fake_run(key, req):
        ran.append(req.label)
        result = {"pass_at_1": float(req.seed), "passed": {"t": float(req.seed)}}
        runner.folder.mkdir(parents=True, exist_ok=True)
        (runner.folder / f"{key}.json").write_text(json.dumps(result))

    monkeypatch.setattr(runner, "_run_one", fake_run)
    rows = [{"instruction_id": "i", "messages": []}]
    same = [
        request("a/seed-0", rows, 0),
        request("b/seed-0", rows, 0),
        request("a/seed-1", rows, 1),
    ]
    results = runner.run(same)
    assert [r["pass_at_1"] for r in results] == [0.0, 0.0, 1.0]
    assert sorted(ran) == ["a/seed-0", "a/seed-1"]  # identical rows and seed: one run
    assert runner.key(same[0]) != runner.key(request("a/seed-0", rows + rows, 0))
    ran.clear()
    runner.run(same)  # kept: nothing runs again
    assert ran == []


def test_a_failed_run_is_named(tmp_path: Path, monkeypatch) -> None:
    config = parse_config(sweep_data(tmp_path))
    runner = Runner(Home.resolve(tmp_path / "home"), config, "demo-world", log=lambda _: None)
    monkeypatch.setattr(runner, "_run_one", lambda key, req: f"{req.label} (exit 1; log x)")
    with pytest.raises(InputError, match="sweep runs failed: bad/seed-0"):
        runner.run([request("bad/seed-0", [], 0)])


def test_reports_merge_into_demo_effect(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path)
    home.reports.mkdir(parents=True)
    (home.reports / "demo_effect.json").write_text(json.dumps({"pass_at_1": {"arena": 0.4}}))
    ci = {"difference": 0.1, "lower": 0.05, "upper": 0.15, "tasks": 3, "seeds": 5}
    report = {
        "overlap_sweep": [
            {
                "share": 0.03,
                "arena": 0.4,
                "best_single_expert": 0.3,
                "best_single_expert_slug": "expert-text",
                "random_expert": 0.2,
                "arena_minus_best_single": ci,
                "arena_minus_random": ci,
            }
        ],
        "alpha_sweep": [
            {"alpha": 0.7, "pass_at_1": 0.4, "winner_is_strongest": 0.5, "strongest_expert": "x"}
        ],
        "expert_count": [
            {"n_experts": 1, "pass_at_1": 0.2, "paper_humaneval_pass_at_1": 75.4},
            {
                "n_experts": 2,
                "pass_at_1": 0.3,
                "minus_one_fewer": ci,
                "paper_humaneval_pass_at_1": 77.2,
            },
        ],
        "acceptance": {},
        "seeds": [0, 1, 2, 3, 4],
        "benchmark": "demo-world",
        "n_tasks": 3,
    }
    sweep_report.write_reports(home, report)
    effect = json.loads((home.reports / "demo_effect.json").read_text())
    assert effect["pass_at_1"] == {"arena": 0.4}  # the demo's own keys are kept
    assert effect["overlap_sweep"] == report["overlap_sweep"]
    assert effect["expert_count"][1]["n_experts"] == 2
    table = (home.reports / "demo_sweeps.md").read_text()
    assert "| 0.03 | 0.400 | 0.300 (expert-text) | 0.200 | +0.100 [+0.050, +0.150]" in table
    assert "| 2 | 0.300 | +0.100 [+0.050, +0.150] | 77.2 |" in table


def test_lines_logged_while_an_arena_runs_come_out_after_it() -> None:
    lines: list[str] = []
    held = sweeps.HeldLog(lines.append)
    held("before")
    with held.holding():
        worker = threading.Thread(target=lambda: [held(f"run {k}") for k in range(3)])
        worker.start()
        worker.join()
        assert lines == ["before"]  # nothing reaches the log while the arena's pipeline runs
    held("after")
    assert lines == ["before", "run 0", "run 1", "run 2", "after"]


@pytest.mark.slow
def test_a_quick_sweep_end_to_end(tmp_path: Path, demo_models_dir: Path, monkeypatch) -> None:
    """One share, one seed, a 6-instruction arena; the bundled experts compete (no writer is
    trained) and judge. Every study is reported, shared conditions run once, recomputing the
    winners of all competitors gives the SFT stage's winners, and a rerun trains nothing."""
    judges = {slug: demo_models_dir / "demo" / slug for slug in SLUGS}
    monkeypatch.setattr(sweeps, "share_writers", lambda models, share: judges)
    home = Home.resolve(tmp_path / "home")
    lines: list[str] = []
    kwargs = {"shares": (0.03,), "seeds": (0,), "quick": True, "judges": judges}
    report = sweeps.run_sweeps(REPO / "configs" / "demo.yaml", home, log=lines.append, **kwargs)

    (entry,) = report["overlap_sweep"]
    assert entry["share"] == 0.03 and entry["best_single_expert_slug"] in SLUGS
    assert set(entry["judge_agreement_with_execution"]) == {judge_slug(s) for s in SLUGS}
    assert [e["alpha"] for e in report["alpha_sweep"]] == [0.0, 0.3, 0.7, 1.0]
    assert [len(e["subsets"]) for e in report["expert_count"]] == [3, 3, 1]
    assert report["runs_distinct"] < report["runs"]  # alpha 0.7 is the arena, and more
    assert sum("pass@1" in line for line in lines) == report["runs_distinct"]  # each run logged
    effect = json.loads((home.reports / "demo_effect.json").read_text())
    assert effect["expert_count"] == report["expert_count"]

    share_home = Home.resolve(home.root / "sweeps" / "share-0.03" / "home")
    arena = sweep_pools.ShareArena(0.03, share_home, parse_config(demo_data(tmp_path)))
    recomputed = sweep_pools.subset_winners(arena, SLUGS).select("instruction_id", "winner")
    product = read_lake_table(share_home, "sft_winners")
    assert recomputed.sort("instruction_id").equals(
        product.select("instruction_id", "winner").sort("instruction_id")
    )

    lines.clear()
    again = sweeps.run_sweeps(REPO / "configs" / "demo.yaml", home, log=lines.append, **kwargs)
    assert not [line for line in lines if "to do" in line]  # every run was kept
    assert again["overlap_sweep"] == report["overlap_sweep"]


def test_cli_refuses_a_bad_share_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from warriorcoder.cli import app

    result = CliRunner().invoke(app, ["demo-sweep", "--home", str(tmp_path), "--share", "1.5"])
    assert result.exit_code == 2
    assert "cross-family shares are in [0, 1]" in result.output
    assert not (tmp_path / "models").exists()  # nothing was built
