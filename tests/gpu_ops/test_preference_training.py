"""Preference training of the tiny target on exported pairs: DPO in a child process, KTO on the
pairs unpaired; a finished run is reused, bad settings fail before any process starts."""

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from gpu_ops.sft_data.preferences import JSONL_NAME, export_preferences
from gpu_ops.training.preference import (
    PreferenceParams,
    kto_rows,
    load_preference_rows,
    preference_run_key,
    run_preference_subprocess,
    train_preference,
)
from tests.gpu_ops.test_preferences import _pairs


@pytest.fixture
def pairs_file(tmp_path):
    export_preferences(_pairs(4), tmp_path / "sft", card_info={"min_margin": 0.5})
    return tmp_path / "sft" / JSONL_NAME


def test_kto_reads_each_pair_as_two_unpaired_rows(pairs_file):
    rows = kto_rows(load_preference_rows(pairs_file))
    assert len(rows) == 8
    assert [r["label"] for r in rows[:2]] == [True, False]
    assert rows[0]["completion"][0]["content"].endswith("a + b")


def test_bad_settings_and_empty_data_are_refused(tmp_path):
    with pytest.raises(InputError, match="method"):
        PreferenceParams(method="ppo")
    with pytest.raises(InputError, match="dpo only"):
        PreferenceParams(method="kto", sft_weight=1.0)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError):
        load_preference_rows(empty)
    with pytest.raises(InputError, match="beta"):
        run_preference_subprocess(
            {
                "model_path": "m",
                "dataset_path": str(empty),
                "out_dir": str(tmp_path / "o"),
                "params": {"beta": 0},
            }
        )


@pytest.mark.slow
def test_dpo_in_a_child_process_then_reused(tmp_path, tiny_model_dir, pairs_file):
    job = {
        "model_path": str(tiny_model_dir),
        "dataset_path": str(pairs_file),
        "out_dir": str(tmp_path / "dpo"),
        "params": {
            "method": "dpo",
            "max_steps": 2,
            "per_device_train_batch_size": 2,
            "max_length": 256,
            "learning_rate": 1e-4,
        },
    }
    logs = []
    report = run_preference_subprocess(job, log_callback=logs.append)
    assert report.completed and report.steps == 2 and report.loss_mode == "dpo"
    assert [h["step"] for h in report.loss_history if "loss" in h] == [1, 2]
    assert (tmp_path / "dpo" / "model" / "config.json").is_file()
    assert any(r.get("event") == "log" for r in logs)
    again = train_preference(
        job["model_path"], job["dataset_path"], job["out_dir"], PreferenceParams(**job["params"])
    )
    assert again.run_key == report.run_key
    log = (tmp_path / "dpo" / "train_log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["event"] == "skipped"


def test_kto_takes_steps_on_the_tiny_target(tmp_path, tiny_model_dir, pairs_file):
    params = PreferenceParams(
        method="kto", max_steps=1, per_device_train_batch_size=4, max_length=256
    )
    report = train_preference(tiny_model_dir, pairs_file, tmp_path / "kto", params)
    assert report.completed and report.steps == 1 and report.train_rows == 4
    assert report.final_train_loss is not None
    assert (tmp_path / "kto" / "model" / "config.json").is_file()


def test_the_sft_term_adds_the_chosen_answers_nll_to_dpos_loss(
    tmp_path, tiny_model_dir, pairs_file
):
    """At the first step the policy is its reference, so DPO's loss is log 2 exactly; with
    sft_weight the chosen answer's token NLL, weighted, comes on top of it."""
    first_loss = {}
    for weight in (0.0, 2.0):
        params = PreferenceParams(
            method="dpo",
            max_steps=1,
            per_device_train_batch_size=4,
            max_length=256,
            sft_weight=weight,
        )
        report = train_preference(tiny_model_dir, pairs_file, tmp_path / f"w{weight}", params)
        first_loss[weight] = report.loss_history[0]["loss"]
    assert first_loss[0.0] == pytest.approx(math.log(2), abs=1e-4)
    assert first_loss[2.0] > math.log(2) + 0.05


def test_runs_without_the_sft_term_keep_the_keys_they_had_before_it():
    """A finished run from before `sft_weight` existed is still found (same key); the term,
    when set, is a run of its own."""
    params = PreferenceParams(method="dpo", learning_rate=1e-4)
    before = {k: v for k, v in dataclasses.asdict(params).items() if k != "logging_steps"}
    del before["sft_weight"]  # the identity as it was: the field did not exist
    payload = {"model": str(Path("m").resolve()), "data": "h", **before}
    old_key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    assert preference_run_key("m", "h", params) == old_key
    assert preference_run_key("m", "h", dataclasses.replace(params, sft_weight=1.0)) != old_key
