"""Smoke test of bench.bench_battle_schedule (the simulated arena of battle schedules) at a tiny
size: the figures are there and sane, the full schedule asks every uninvolved judge, the adaptive
one asks fewer and agrees with it on most winners. Never the targets themselves (the bench
measures those at 10 experts, docs/BENCHMARKS.md)."""

from math import comb

import numpy as np
import pytest

from bench import bench_battle_schedule as schedule
from bench import run_all
from gpu_ops.arena.scheduling import RaceSettings


def test_the_planted_experts_are_each_best_at_one_family():
    arena = schedule.plant(8, seed=8)
    best = arena.strength.argmax(axis=0)
    assert len(set(best.tolist())) == schedule.FAMILIES  # a different expert leads each family
    assert (arena.judge_bias >= 0).all() and (arena.judge_noise > 0).all()


def test_every_verdict_is_drawn_once_for_every_judge_and_order():
    arena = schedule.plant(5, seed=5)
    draw = schedule.draw(arena, 12, seed=1)
    assert draw.verdicts.shape == (12, comb(5, 2), 5, 2)
    assert set(np.unique(draw.verdicts).tolist()) <= {0, 1, 2}
    # the position bias shows: the first-shown response wins more often than the second
    first = (draw.verdicts[..., 0] == 0).mean() + (draw.verdicts[..., 1] == 1).mean()
    second = (draw.verdicts[..., 0] == 1).mean() + (draw.verdicts[..., 1] == 0).mean()
    assert first > second


def test_smoke_run_measures_both_schedules():
    result = schedule.run(quick=True)
    figures = result["sizes"]["5"]
    n, pairs = 5, comb(5, 2)
    assert figures["full"]["calls"] == result["instructions"] * pairs * (n - 2) * 2
    assert figures["full"]["max_rating_error"] < 60  # 30 instructions: a rough fit, but a fit
    for alpha in ("0.7", "0.3"):
        got = figures["by_alpha"][alpha]
        assert 0 < got["adaptive_calls"] < figures["full"]["calls"]
        assert got["calls_ratio"] > 1.0
        assert 0.7 <= got["winners_same_as_full"] <= 1.0
        # the disagreements the ratings alone decided are some of the disagreements
        assert 0.0 <= got["differ_fully_judged"] <= 1.0 - got["winners_same_as_full"] + 1e-9
        assert 0.0 <= got["adaptive_ci_coverage"] <= 1.0
    rows = run_all.summary_rows("battle_schedule", result)
    assert len(rows) == 2 and all(len(row) == 4 for row in rows)
    assert "see the details below" not in rows[0][1]


def test_scan_gives_each_arena_its_figures_and_counts_those_meeting_the_target():
    result = schedule.scan(5, 30, 2, seeds=[5, 6], bounds=[2.0])
    assert [m["seed"] for m in result["measures"]] == [5, 6]
    assert all(m["cpu_seconds"] > 0 and m["instructions"] == 30 for m in result["measures"])
    table = schedule.scan_table(result)
    # one line per bound and alpha, each counting the arenas out of two
    assert table.count(" of 2") == 2
    ratios = [m["by_alpha"]["0.7"]["calls_ratio"] for m in result["measures"]]
    assert f"({min(ratios):.2f}-{max(ratios):.2f})" in table


def test_the_judges_run_in_the_order_asked_and_the_first_one_covers_most():
    arena = schedule.plant(5, seed=5)
    sharp = schedule.judge_order(arena, "sharp")
    assert list(arena.judge_noise[sharp]) == sorted(arena.judge_noise)
    assert schedule.judge_order(arena, "noisy") == sharp[::-1]
    with pytest.raises(ValueError, match="judge order is one of"):
        schedule.judge_order(arena, "random")
    d = schedule.draw(arena, 10, seed=6)
    execution = schedule.execution_frame(arena, d)
    votes_per_judge = {}
    for order in (list(range(5)), list(range(5))[::-1]):
        mask = schedule.adaptive_mask(arena, d, execution, RaceSettings(alpha=0.3), order)
        votes_per_judge[order[0]] = mask.sum(axis=(0, 1))
        # coverage: every battle of every instruction has a judge, whichever judge runs first
        assert mask.any(axis=2).all()
    # the judge that runs first covers every battle it is uninvolved in (6 of the 10 pairs)
    assert votes_per_judge[0][0] == 10 * 6
    assert votes_per_judge[4][4] == 10 * 6
    assert votes_per_judge[4][0] < votes_per_judge[0][0]  # run last, judge 0 only races


def test_judges_alike_keeps_the_arena_and_gives_every_judge_its_mean_noise():
    planted = schedule.plant(6, seed=7)
    alike = schedule.plant(6, seed=7, judge_noise="alike")
    assert np.array_equal(alike.strength, planted.strength)
    assert np.array_equal(alike.judge_bias, planted.judge_bias)
    assert np.allclose(alike.judge_noise, planted.judge_noise.mean())
    assert np.ptp(planted.judge_noise) > 0.1  # the planted judges do differ
    with pytest.raises(ValueError, match="judge noise is one of"):
        schedule.plant(6, seed=7, judge_noise="sharp")
    result = schedule.scan(5, 20, 0, [5], [2.0], judge_noise="alike")
    assert result["judge_noise"] == "alike"
    assert "judge noise alike" in schedule.scan_table(result)
