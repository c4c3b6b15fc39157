"""bench.probe_schedule_oracle on a tiny planted arena: its logits are the bench's own draw, a
race that never settles (delta 0) keeps nearly all of full's winners, and a looser delta asks
fewer calls."""

import itertools

import numpy as np

from bench import bench_battle_schedule as schedule
from bench.probe_schedule_oracle import call_moments, integrated_moments, latent_logits, measure


def test_the_latent_logits_are_the_draws_own():
    arena = schedule.plant(10, 10)
    rng = np.random.default_rng(11)
    family = rng.integers(0, schedule.FAMILIES, 30)
    quality = arena.strength[:, family].T + rng.normal(0.0, 0.6, (30, 10))
    pairs = list(itertools.combinations(range(10), 2))
    drawn = schedule._first_logit(arena, quality, pairs, rng)
    base, opinion = latent_logits(arena, 30, 11)
    np.testing.assert_allclose(base + opinion, drawn, atol=1e-12)


def test_the_opinion_makes_a_judges_two_orders_co_vary():
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
