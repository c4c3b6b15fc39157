"""The flywheel on the real pipeline: tests/small_arena.py's arena plus the demo target, two
rounds and a control. Round 2's newcomer gets a partition, answers and competes, never mines nor
judges; the old experts mine new instructions; the control leaves the newcomer out."""

import json
import shutil

import dagster as dg
import pytest
import yaml

from tests.small_arena import SAMPLES, K, arena_yaml, calls_made
from warriorcoder.flywheel import KIND_TAG, ROUND_TAG, run_flywheel
from wc_foundation.storage import Home, read_lake_table

pytestmark = pytest.mark.slow


def test_two_rounds_and_a_control_on_the_pipeline(tmp_path, demo_models_dir, small_arena_reference):
    _, reference = small_arena_reference
    shutil.copytree(reference.root, tmp_path / "home")  # round 1's arena up to SFT data, run
    home = Home.resolve(tmp_path / "home")
    config = tmp_path / "arena.yaml"
    target = demo_models_dir / "demo" / "target-tiny"
    extra = {
        "target": {
            "slug": "target-tiny",
            "model": str(target),
            # one step, at the full learning rate (no warmup step at rate 0): each round's
            # target really changes, so round 2's newcomer is a model of its own
            "sft": {
                "max_steps": 1,
                "warmup_ratio": 0.0,
                "per_device_batch_size": 4,
                "validation_fraction": 0.0,
            },
        },
        "evaluation": {"benchmarks": ["humaneval"], "max_problems": 3, "max_new_tokens": 24},
    }
    config.write_text(arena_yaml(demo_models_dir) + yaml.safe_dump(extra))

    report = run_flywheel(config, home, rounds=2)

    assert [r["round"] for r in report["rounds"]] == [1, 2]
    assert [c["round"] for c in report["controls"]] == [2]
    assert report["n_tasks"] == 3
    second, control = report["rounds"][1], report["controls"][0]
    assert second["joined"] == "target-tiny-r1" and "target-tiny-r1" in second["experts"]
    assert "target-tiny-r1" not in control["experts"]
    assert second["model_calls"] > 0 and second["mining_seed"] == 1
    assert second["sft_rows"] >= report["rounds"][0]["sft_rows"]  # the union of the winners
    assert json.loads((home.reports / "flywheel.json").read_text()) == report

    instance = dg.DagsterInstance.from_config(str(home.dagster))
    assert "target-tiny-r1" in instance.get_dynamic_partitions("experts")
    runs = instance.get_run_records(dg.RunsFilter(tags={ROUND_TAG: "2", KIND_TAG: "round"}))
    run_ids = {record.dagster_run.run_id for record in runs}
    assert calls_made(instance, "responses", run_ids)["target-tiny-r1"] == K
    mined = calls_made(instance, "instructions_mined", run_ids)
    assert "target-tiny-r1" not in mined and set(mined.values()) == {SAMPLES}  # new mining
    assert "target-tiny-r1" not in calls_made(instance, "judgments", run_ids)
    votes = read_lake_table(home, "judgments")
    assert not len(votes.filter(votes["judge"] == "target-tiny-r1"))
