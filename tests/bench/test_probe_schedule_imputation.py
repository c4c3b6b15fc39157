"""bench.probe_schedule_imputation on a tiny planted arena: imputing the unheard calls beats the
heard share after one judge, and hearing every judge reproduces full exactly both ways."""

from bench.probe_schedule_imputation import measure


def test_one_judge_heard_imputation_is_closer_to_full():
    got = measure(seed=10, instructions=20, judges=1, sigma=0.8)
    assert got["calls_fewer"] == 8.0
    assert got["mse"]["imputed"] < got["mse"]["seen"] / 2


def test_every_judge_heard_is_full():
    got = measure(seed=10, instructions=20, judges=8, sigma=0.8)
    assert got["mse"] == {"seen": 0.0, "imputed": 0.0}
    for same in got["winners_same_as_full"].values():
        assert same == {"seen": 1.0, "imputed": 1.0}
