"""bench.probe_schedule_judge_scale on small planted arenas: the judge-scaled fit ranks the judges
by their planted sharpness, and on full's own votes it predicts full's ratings."""

import numpy as np
import polars as pl

from bench import bench_battle_schedule as schedule
from bench.probe_schedule_judge_scale import (
    drift_rms,
    full_scale_ratings,
    judge_scaled_fit,
    measure,
    point_ratings,
)


def full_votes(experts: int, instructions: int, seed: int):
    arena = schedule.plant(experts, seed)
    d = schedule.draw(arena, instructions, seed + 1)
    llm = schedule.llm_frame(arena, d, schedule.full_mask(arena, d))
    return arena, llm, pl.concat([schedule.execution_frame(arena, d), llm])


def test_the_fitted_scales_follow_the_planted_sharpness():
    arena, llm, _ = full_votes(8, 150, seed=3)
    _, scales = judge_scaled_fit(llm, arena.experts)
    fitted = np.array([scales[e] for e in arena.experts])
    assert np.isclose(np.exp(np.log(fitted).mean()), 1.0)
    # a sharper judge (lower planted noise) gets a larger scale
    assert np.corrcoef(1 / arena.judge_noise, fitted)[0, 1] > 0.8


def test_on_fulls_own_votes_it_predicts_fulls_ratings():
    arena, llm, votes = full_votes(8, 150, seed=3)
    full = point_ratings(votes)
    predicted = full_scale_ratings(votes, llm, arena.experts, 150)
    assert drift_rms(predicted, full) < 2.0  # Elo points, against a spread of about 100
    assert np.ptp(list(full.values())) > 50


def test_measure_reports_the_three_ratings_winners():
    got = measure(seed=4, z=2.0, instructions=40, experts=6)
    for figures in got["by_alpha"].values():
        assert figures["calls_ratio"] >= 1.0
        for key in ("same_adaptive_ratings", "same_scaled_ratings", "same_full_ratings"):
            assert 0.0 <= figures[key] <= 1.0
        assert figures["drift_adaptive"] >= 0.0 and figures["drift_scaled"] >= 0.0
