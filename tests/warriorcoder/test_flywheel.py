"""`warriorcoder flywheel`: the rounds' configs, what each round keeps, flywheel.json.

The pipeline is replaced by a fake round that writes what a real round leaves in the home (the
winners, the SFT export, the trained target, the evaluation), so these tests take seconds; the
real pipeline runs in `tests/test_flywheel_pipeline.py` (slow).
"""

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from tests.lake_rows import lake_frame
from tests.small_arena import arena_yaml
from warriorcoder.cli import app
from warriorcoder.flywheel import (
    KIND_TAG,
    ROUND_TAG,
    control_config_data,
    round_config_data,
    run_flywheel,
)
from wc_foundation.config import ConfigError, load_config, parse_config
from wc_foundation.storage import Home, write_lake_table

TASKS = [f"task/{i}" for i in range(20)]


def flywheel_yaml(models: Path, target: Path, extra: str = "") -> str:
    return (
        arena_yaml(models)
        + f"target: {{slug: target-tiny, model: '{target}'}}\n"
        + "evaluation: {benchmarks: [humaneval], max_problems: 20}\n"
        + extra
    )


class FakeRound:
    """Writes what a pipeline round leaves: round r's target passes the first 5 + 3 (r - 1)
    tasks, a control round's one task fewer than its round; each run's winners are 4 rows."""

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        self.calls: list[tuple[Path, dict[str, str]]] = []

    def __call__(self, config_path: Path, home: Home, tags: dict[str, str]):
        self.calls.append((config_path, tags))
        config = load_config(config_path, home=home.root)
        number = int(tags[ROUND_TAG])
        passing = 5 + 3 * (number - 1) - (tags[KIND_TAG] == "control")
        enabled = [e.slug for e in config.experts if e.enabled]
        seed = config.mining.seed
        winners = lake_frame(
            "sft_winners",
            instruction_id=[f"s{seed}-{i}" for i in range(4)],
            instruction=[f"task {i} of seed {seed}" for i in range(4)],
            miner=["text"] * 4,
            winner=[enabled[i % len(enabled)] for i in range(4)],
            response=["def f():\n    return 1"] * 4,
        )
        write_lake_table(home, "sft_winners", winners)
        earlier = [pl.read_parquet(p) for p in config.export.earlier_winners]
        rows = pl.concat([winners, *earlier], how="diagonal_relaxed").unique("instruction_id")
        home.sft.mkdir(parents=True, exist_ok=True)
        rows.select("instruction_id").write_parquet(home.sft / "sft_dataset.parquet")
        out = home.models / "target_sft" / config.target.slug
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(self.model_dir, out / "model")
        (out / "model" / "round.txt").write_text(f"{tags[KIND_TAG]} {number}")
        (out / "sft_report.json").write_text(
            json.dumps(
                {
                    "data_hash": "x",
                    "steps": 1,
                    "tokens": 1,
                    "seconds": 0.1,
                    "final_train_loss": None,
                    "final_eval_loss": None,
                    "loss_history": [],
                    "output_dir": str(out / "model"),
                }
            )
        )
        results = lake_frame(
            "evaluation_results",
            model_label=["sft"] * len(TASKS),
            benchmark=["humaneval"] * len(TASKS),
            task_id=TASKS,
            sample_index=[0] * len(TASKS),
            passed=[i < passing for i in range(len(TASKS))],
        )
        write_lake_table(home, "evaluation_results", results)
        return type("Summary", (), {"steps_run": ["a"], "steps_skipped": [], "model_calls": 7})()


@pytest.fixture
def arena(tmp_path, tiny_model_dir):
    config = tmp_path / "arena.yaml"
    config.write_text(flywheel_yaml(tmp_path / "models", tiny_model_dir))
    return config, Home.resolve(tmp_path / "home"), FakeRound(tiny_model_dir)


def test_three_rounds_join_each_target_and_write_flywheel_json(arena):
    config, home, fake = arena
    report = run_flywheel(config, home, rounds=3, run_round=fake)

    kinds = [(tags[ROUND_TAG], tags[KIND_TAG]) for _, tags in fake.calls]
    assert kinds == [("1", "round"), ("2", "round"), ("2", "control"), ("3", "round"),
                     ("3", "control")]  # fmt: skip
    configs = [load_config(path, home=home.root) for path, _ in fake.calls]
    round_3, control_3 = configs[3], configs[4]
    assert [e.slug for e in round_3.experts] == ["text", "lists", "numbers", "target-tiny-r1",
                                                 "target-tiny-r2"]  # fmt: skip
    joined = round_3.expert("target-tiny-r2")
    assert joined.roles == ("competitor",)  # neither mines nor judges
    assert Path(joined.model) == home.root / "flywheel" / "round-2" / "target"
    assert (Path(joined.model) / "round.txt").read_text() == "round 2"  # not the control's
    assert [c.mining.seed for c in configs] == [0, 1, 1, 2, 2]  # new mining each round
    assert control_3.expert("target-tiny-r2").enabled is False
    assert control_3.expert("target-tiny-r1").enabled is True
    assert [Path(p).parent.name for p in round_3.export.earlier_winners] == ["round-1", "round-2"]
    assert configs[0].export.earlier_winners == ()  # round 1 is the config as it is
    assert configs[0] == load_config(config, home=home.root)

    written = json.loads((home.reports / "flywheel.json").read_text())
    assert written == report
    assert [r["round"] for r in report["rounds"]] == [1, 2, 3]
    assert [r["pass_at_1"] for r in report["rounds"]] == [0.25, 0.4, 0.55]
    assert [c["pass_at_1"] for c in report["controls"]] == [0.35, 0.5]
    assert [r["sft_rows"] for r in report["rounds"]] == [4, 8, 12]  # the union of the winners
    assert [r["new_instructions"] for r in report["rounds"]] == [4, 4, 4]
    assert report["rounds"][2]["experts"][-2:] == ["target-tiny-r1", "target-tiny-r2"]
    assert report["rounds"][1]["joined"] == "target-tiny-r1"
    assert report["rounds"][0]["model_calls"] == 7
    assert report["n_tasks"] == len(TASKS)
    paired = {(p.get("round"), p.get("control"), p["against"]): p for p in report["paired"]}
    assert paired[(3, None, "round 1")]["diff"] == pytest.approx(0.30)
    assert paired[(3, None, "round 2")]["diff"] == pytest.approx(0.15)
    assert paired[(2, None, "control 2")]["diff"] == pytest.approx(0.05)
    assert paired[(None, 2, "round 1")]["diff"] == pytest.approx(0.10)
    low, high = paired[(3, None, "round 1")]["ci95"]
    assert low <= 0.30 <= high and high - low < 0.5


def test_previous_start_trains_from_the_last_round_and_no_control(arena, tmp_path):
    config, home, fake = arena
    text = config.read_text() + "flywheel: {target_start: previous, control: false}\n"
    config.write_text(text)
    report = run_flywheel(config, home, rounds=2, run_round=fake)
    assert [tags[KIND_TAG] for _, tags in fake.calls] == ["round", "round"]
    second = load_config(fake.calls[1][0], home=home.root)
    assert Path(second.target.model) == home.root / "flywheel" / "round-1" / "target"
    assert report["controls"] == [] and report["settings"]["target_start"] == "previous"


def test_unusable_target_stops_before_the_round_runs(arena):
    """The newcomer joins through add-expert's checks: a target folder that does not load stops
    the flywheel before round 2 runs; round 1's outputs stay."""
    config, home, fake = arena

    def broken_target(config_path, home, tags):
        summary = fake(config_path, home, tags)
        model = home.models / "target_sft" / "target-tiny" / "model"
        (model / "config.json").unlink()
        return summary

    with pytest.raises(Exception, match="config"):
        run_flywheel(config, home, rounds=2, run_round=broken_target)
    assert len(fake.calls) == 1
    assert (home.root / "flywheel" / "round-1" / "sft_winners.parquet").is_file()
    assert not (home.reports / "flywheel.json").exists()


def test_cli_prints_the_table(arena, monkeypatch):
    config, home, fake = arena
    monkeypatch.setattr("warriorcoder.flywheel.pipeline_round", fake)
    result = CliRunner().invoke(
        app, ["flywheel", "--rounds", "2", "--config", str(config), "--home", str(home.root)]
    )
    assert result.exit_code == 0, result.output
    assert "control 2" in result.output and "target-tiny-r1" in result.output
    assert "flywheel.json" in result.output


def test_config_without_target_is_refused(tmp_path):
    config = tmp_path / "arena.yaml"
    config.write_text(arena_yaml(tmp_path / "models"))
    result = CliRunner().invoke(
        app, ["flywheel", "--config", str(config), "--home", str(tmp_path / "home")]
    )
    assert result.exit_code == 2
    assert "no `target`" in result.output


@pytest.mark.parametrize(
    ("roles", "message"),
    [(["competitor", "judge"], "must not include 'judge'"), (["miner"], "include 'competitor'")],
)
def test_joined_roles_are_checked(tmp_path, roles, message):
    data = yaml.safe_load(flywheel_yaml(tmp_path, tmp_path))
    data["flywheel"] = {"joined_roles": roles}
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_round_one_is_the_config_and_control_disables_only_the_newcomer(tmp_path):
    base = yaml.safe_load(flywheel_yaml(tmp_path, tmp_path))
    assert round_config_data(base, round_number=1, joined=[], earlier_winners=[]) == base
    joined = [{"slug": "target-tiny-r1", "model": "m1", "roles": ["competitor"]}]
    second = round_config_data(base, round_number=2, joined=joined, earlier_winners=["w1"])
    assert second["evaluation"]["compare_conditions"] is False
    assert second["export"]["earlier_winners"] == ["w1"]
    assert base["experts"][-1]["slug"] == "numbers"  # the base data is not changed
    control = control_config_data(second, "target-tiny-r1")
    assert [e.get("enabled", True) for e in control["experts"]][-2:] == [True, False]
    parse_config(control)


def test_earlier_winner_files_are_in_the_export_steps_version(tmp_path):
    from dagster_wc.orchestration.versions import config_version

    winners = tmp_path / "w.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(winners)
    data = yaml.safe_load(flywheel_yaml(tmp_path, tmp_path))
    data["export"] = {"earlier_winners": [str(winners)]}
    config = parse_config(data)
    before = config_version(config, ["export"])
    pl.DataFrame({"a": [1, 2]}).write_parquet(winners)
    assert config_version(config, ["export"]) != before
    # the flywheel section is read by the command only: no step re-runs when it changes
    data["flywheel"] = {"rounds": 5}
    assert config_version(parse_config(data)) == config_version(config)


def test_seeds_script_summarizes_paired_differences(arena):
    from scripts.flywheel_seeds import across_seeds

    config, home, fake = arena
    reports = [run_flywheel(config, home, rounds=2, run_round=fake, name=f"s{s}") for s in (0, 1)]
    assert (home.reports / "s1.json").is_file() and (home.root / "s1" / "round-2").is_dir()
    summary = across_seeds(reports)
    assert summary["round 2 - round 1"]["values"] == [0.15, 0.15]
    assert summary["round 2 - round 1"]["ci95"] == [0.15, 0.15]
    assert summary["round 2 - control 2"]["diff"] == pytest.approx(0.05)
    assert summary["control 2 - round 1"]["values"] == [0.1, 0.1]
    assert summary["round 2 pass@1"]["values"] == [0.4, 0.4]
