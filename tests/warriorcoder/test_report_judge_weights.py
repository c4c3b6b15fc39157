"""`warriorcoder run` prints the LLM judges' reliability weights under `judging.aggregate:
reliability`, and names the judges it could not estimate (they keep weight 1).

Why: with three experts (the demo's default arena) nothing can be estimated and `reliability`
weighs like `vote`; the run must say so instead of looking as if judges were weighed."""

import polars as pl

from gpu_ops.arena.judge_reliability import judge_reliability
from warriorcoder.report import judge_weights_line
from wc_foundation.storage import Home, write_lake_table


def votes(judges_per_battle: int) -> pl.DataFrame:
    """Battles x vs y, both orders; j1 and j2 name x (better), j3 names the first position."""
    rows = []
    for n in range(30):
        for judge in ("j1", "j2", "j3")[:judges_per_battle]:
            for shown_first in ("x", "y"):
                pick = shown_first if judge == "j3" else "x"
                rows.append(
                    {
                        "instruction_id": f"i{n}",
                        "judge": judge,
                        "model_a": "x",
                        "model_b": "y",
                        "shown_first": shown_first,
                        "verdict": "first" if pick == shown_first else "second",
                    }
                )
    return pl.DataFrame(rows)


def test_reliability_weights_are_printed_and_vote_prints_nothing(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    assert judge_weights_line(home) is None  # before judging
    write_lake_table(home, "judge_reliability", judge_reliability(votes(3), "vote"))
    assert judge_weights_line(home) is None  # `vote`: the report stays as it was
    write_lake_table(home, "judge_reliability", judge_reliability(votes(3), "reliability"))
    line = judge_weights_line(home)
    assert line.startswith("LLM judge weights (judging.aggregate reliability): j1 ")
    assert "j3 0.0" in line and "not estimated" not in line


def test_judges_that_share_no_battle_are_named(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    alone = votes(1)  # one judge per battle, as in a three-expert arena
    write_lake_table(home, "judge_reliability", judge_reliability(alone, "reliability"))
    line = judge_weights_line(home)
    assert line.endswith("not estimated, weight 1 (no battle shared with another judge): j1")
