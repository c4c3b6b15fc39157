"""Step versions without Dagster: what makes a step stale, and what it owns."""

from dagster_wc.orchestration.step_state import StepState, home_stamps
from wc_foundation.storage import Home


def write(home: Home, rel: str, text: str) -> None:
    path = home.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_step_is_fresh_until_its_inputs_or_outputs_change(tmp_path):
    home = Home.resolve(tmp_path)
    state = StepState(home)
    before = home_stamps(home)
    write(home, "lake/mined/a.parquet", "mined by a")
    write(home, "lake/mined/b.parquet", "mined by b")
    up = state.input_version("mined[a]", "base", [])
    state.record("mined[a]", up, before, dbt=False, partition="a")
    assert set(state.steps["mined[a]"].outputs) == {"lake/mined/a.parquet"}  # not b's file

    down_before = home_stamps(home)
    write(home, "lake/scores/all.parquet", "scores")
    down = state.input_version("scores", "base", ["mined[a]"])
    state.record("scores", down, down_before, dbt=False)
    state.save()

    again = StepState(home)  # read back from pipeline_state.json
    assert again.is_fresh("mined[a]", again.input_version("mined[a]", "base", []), dbt=False)
    assert again.is_fresh("scores", again.input_version("scores", "base", ["mined[a]"]), dbt=False)
    assert not again.is_fresh(
        "scores", again.input_version("scores", "other", ["mined[a]"]), dbt=False
    )

    write(home, "lake/mined/a.parquet", "mined again, differently")  # an upstream output changed
    assert not again.is_fresh(
        "scores", again.input_version("scores", "base", ["mined[a]"]), dbt=False
    )
    write(home, "lake/mined/a.parquet", "mined by a")  # same content, new mtime: fresh again
    assert again.is_fresh("scores", again.input_version("scores", "base", ["mined[a]"]), dbt=False)

    (home.root / "lake/scores/all.parquet").unlink()  # its own output is gone
    assert not again.is_fresh(
        "scores", again.input_version("scores", "base", ["mined[a]"]), dbt=False
    )


def test_a_dbt_step_is_fresh_only_on_the_warehouse_it_built(tmp_path):
    home = Home.resolve(tmp_path)
    state = StepState(home)
    assert not state.is_fresh("dbt: x", "v", dbt=True)  # never ran
    before = home_stamps(home)
    home.warehouse.write_text("built")
    state.record("dbt: x", "v", before, dbt=True)
    assert state.is_fresh("dbt: x", "v", dbt=True)
    home.warehouse.write_text("rebuilt by someone else")
    assert not state.is_fresh("dbt: x", "v", dbt=True)
