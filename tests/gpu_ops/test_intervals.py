"""The paired bootstrap over tasks (gpu_ops.evaluation.intervals)."""

import pytest

from gpu_ops.errors import InputError
from gpu_ops.evaluation.intervals import paired_bootstrap


def outcomes(passed: dict[str, list[int]]) -> dict[tuple[str, int], float]:
    return {(task, seed): float(v) for task, vs in passed.items() for seed, v in enumerate(vs)}


def test_identical_conditions_have_a_zero_interval() -> None:
    same = outcomes({f"t{i}": [i % 2, 1, 0] for i in range(20)})
    result = paired_bootstrap(same, same)
    assert result == {"difference": 0.0, "lower": 0.0, "upper": 0.0, "tasks": 20, "seeds": 3}


def test_a_consistent_gain_excludes_zero_and_a_coin_flip_does_not() -> None:
    tasks = [f"t{i}" for i in range(60)]
    low = outcomes({t: [0, 0, 0, 0, 0] for t in tasks})
    better = outcomes({t: [int(i % 3 == 0)] * 5 for i, t in enumerate(tasks)})  # +1/3 on a third
    gain = paired_bootstrap(better, low)
    assert gain["difference"] == pytest.approx(1 / 3)
    assert 0 < gain["lower"] < 1 / 3 < gain["upper"]
    # half the tasks one way, half the other: the mean is 0 and the interval straddles it
    mixed = outcomes({t: [int(i % 2 == 0)] * 5 for i, t in enumerate(tasks)})
    flipped = outcomes({t: [int(i % 2 == 1)] * 5 for i, t in enumerate(tasks)})
    even = paired_bootstrap(mixed, flipped)
    assert even["difference"] == 0.0 and even["lower"] < 0 < even["upper"]


def test_pairs_by_task_not_by_position() -> None:
    """A task easy for both conditions cancels out: pairing narrows the interval to zero where
    an unpaired comparison of the same pass rates would not."""
    tasks = {f"t{i}": [int(i < 30)] * 5 for i in range(60)}  # half the tasks always pass
    result = paired_bootstrap(outcomes(tasks), outcomes(tasks))
    assert result["lower"] == result["upper"] == 0.0


def test_seeded_and_deterministic() -> None:
    high = outcomes({f"t{i}": [i % 2, i % 3 == 0, 1] for i in range(30)})
    low = outcomes({f"t{i}": [0, i % 2, i % 5 == 0] for i in range(30)})
    assert paired_bootstrap(high, low, seed=3) == paired_bootstrap(high, low, seed=3)


@pytest.mark.parametrize(
    "high, low, message",
    [
        ({("a", 0): 1.0}, {("b", 0): 1.0}, "unpaired"),
        ({}, {}, "at least one"),
        ({("a", 0): 1.0, ("b", 1): 0.0}, {("a", 0): 1.0, ("b", 1): 0.0}, "every task at every"),
    ],
)
def test_bad_input_is_named(high, low, message) -> None:
    with pytest.raises(InputError, match=message):
        paired_bootstrap(high, low)
