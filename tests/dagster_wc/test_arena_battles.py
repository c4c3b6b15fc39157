"""Which battles a judge gets: uninvolved, same-family exclusion, and none at all."""

import polars as pl

from dagster_wc.defs.arena import battles_to_judge
from wc_foundation.config import parse_config

INSTRUCTIONS = pl.DataFrame(
    {"instruction_id": ["i1", "i2"], "instruction": ["Sort a list.", "Reverse a string."]}
)


def arena(experts: list[tuple[str, str]], **judging) -> object:
    return parse_config(
        {
            "experts": [{"slug": s, "model": f"/m/{s}", "family": f} for s, f in experts],
            "judging": judging,
        }
    )


def answers(slugs: list[str]) -> pl.DataFrame:
    rows = [(i, s, f"answer of {s} to {i}") for i in ("i1", "i2") for s in slugs]
    return pl.DataFrame(rows, schema=["instruction_id", "expert", "response"], orient="row")


def test_a_judge_never_judges_its_own_battles():
    config = arena([("a", "x"), ("b", "y"), ("c", "z")])
    battles = battles_to_judge(config, "a", INSTRUCTIONS, answers(["a", "b", "c"]))
    assert set(battles.select("model_a", "model_b").unique().iter_rows()) == {("b", "c")}
    assert battles.height == 2  # one pair on two instructions


def test_same_family_judges_are_excluded_when_asked():
    config = arena([("a", "x"), ("b", "x"), ("c", "z")], exclude_same_family=True)
    assert battles_to_judge(config, "a", INSTRUCTIONS, answers(["a", "b", "c"])).is_empty()


def test_two_experts_leave_each_judge_without_battles():
    config = arena([("a", "x"), ("b", "y")])
    battles = battles_to_judge(config, "a", INSTRUCTIONS, answers(["a", "b"]))
    assert battles.is_empty()
