"""Paired differences on the same tasks (bootstrap) and over seeds (t interval)."""

import pytest

from gpu_ops.errors import InputError
from gpu_ops.evaluation.paired import paired_bootstrap, paired_t_interval


def test_bootstrap_interval_brackets_the_mean_difference():
    a = {f"t{i}": 1.0 if i < 6 else 0.0 for i in range(10)}
    b = {f"t{i}": 1.0 if i < 3 else 0.0 for i in range(10)}
    diff = paired_bootstrap(a, b)
    assert diff.diff == pytest.approx(0.3) and diff.n == 10
    assert 0.0 <= diff.low < 0.3 < diff.high <= 0.6  # three of ten tasks gained, none lost


def test_bootstrap_pairs_by_task_not_by_position():
    a = {"x": 1.0, "y": 0.0}
    b = {"y": 0.0, "x": 1.0}
    diff = paired_bootstrap(a, b)
    assert (diff.diff, diff.low, diff.high) == (0.0, 0.0, 0.0)


def test_bootstrap_refuses_different_tasks():
    with pytest.raises(InputError, match="same tasks"):
        paired_bootstrap({"x": 1.0}, {"y": 1.0})


def test_t_interval_over_seeds():
    diff = paired_t_interval([0.02, 0.04, 0.03, 0.05, 0.01])
    assert diff.diff == pytest.approx(0.03)
    # sd 0.0158, t(0.975, 4) = 2.776: half width 0.0196
    assert diff.low == pytest.approx(0.03 - 0.0196, abs=2e-4)
    assert diff.as_dict()["ci95"][1] == pytest.approx(0.0496, abs=2e-4)
    with pytest.raises(InputError, match="two seeds"):
        paired_t_interval([0.1])
