"""`warriorcoder run` prints the LLM judge calls spent and what the full schedule needs.

Why: the adaptive schedule exists to save judge calls; the saving must be visible at the end of
every run, read from the lake table the judging stage writes (`judging_schedule`)."""

import io

import polars as pl
from rich.console import Console

from gpu_ops.arena.scheduling import schedule_counts
from warriorcoder.report import judge_calls, print_judge_calls
from wc_foundation.storage import Home, write_lake_table


def test_judge_calls_sum_over_judges_and_print(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    assert judge_calls(home) is None  # no judging yet: nothing printed
    write_lake_table(home, "judging_schedule", schedule_counts("a", "adaptive", 30, 10, 2), "a")
    write_lake_table(home, "judging_schedule", schedule_counts("b", "adaptive", 30, 5, 2), "b")
    assert judge_calls(home) == {"schedule": "adaptive", "calls_spent": 30, "calls_full": 120}
    out = io.StringIO()
    print_judge_calls(home, Console(file=out, width=200))
    assert "30 spent" in out.getvalue() and "needs 120" in out.getvalue()
    assert "4.00x fewer" in out.getvalue()


def test_the_full_schedule_prints_equal_counts(tmp_path):
    home = Home.resolve(tmp_path).ensure()
    write_lake_table(home, "judging_schedule", schedule_counts("a", "full", 12, 12, 1), "a")
    frame = pl.read_parquet(home.table_file("judging_schedule", "a"))
    assert frame["calls_spent"].item() == frame["calls_full"].item() == 12
    out = io.StringIO()
    print_judge_calls(home, Console(file=out, width=200))
    assert "full schedule" in out.getvalue() and "fewer" not in out.getvalue()
