"""bench.probe_schedule_oracle on a tiny planted arena: an unknown opinion widens a judge's
verdicts, a race that never settles (delta 0) keeps nearly all of full's winners, and a looser
delta asks fewer calls."""

import numpy as np

from bench.probe_schedule_oracle import call_moments, integrated_moments, measure


def test_an_unknown_opinion_widens_a_judges_verdicts():
    base = np.array([[0.8, -0.8 + 0.4]])  # one judge, orders ab and ba, bias 0.4 in ab terms
    known_mean, known_var = call_moments(base)
    mean, var = integrated_moments(base)
    assert np.all(var[..., 0] > known_var[..., 0])  # more spread in a's wins
    assert abs(mean[..., 0] - known_mean[..., 0]).max() < 0.05


def test_a_looser_delta_asks_fewer_calls_and_delta_zero_keeps_full_winners():
    rows = measure(10, 30, 0.3, [0.0, 0.2], ["latent", "model", "pooled"], draws=100)
    by = {(r["knows"], r["delta"]): r for r in rows}
    for know in ("latent", "model", "pooled"):
        assert by[(know, 0.0)]["winners_same_as_full"] >= 0.95  # never settles: races to the end
        assert by[(know, 0.2)]["calls_ratio"] > by[(know, 0.0)]["calls_ratio"] > 1.0
