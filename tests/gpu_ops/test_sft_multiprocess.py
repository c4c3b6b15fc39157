"""Multi-process SFT under `accelerate launch`: on CPU with 2 processes (gloo), the loss curve
matches 1 process at the same global batch (per-device x accumulation x processes)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from gpu_ops.training.launch import worker_command
from gpu_ops.training.sft import (
    REPORT_FILE,
    SFTParams,
    file_hash,
    run_key,
    run_sft_subprocess,
    train_sft,
)


def _dataset(path: Path, n: int = 16) -> Path:
    rows = [
        {
            "instruction_id": f"i{i:02d}",
            "messages": [
                {"role": "user", "content": f"Write a function returning {i}."},
                {"role": "assistant", "content": f"def value():\n    return {i}\n"},
            ],
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_worker_command_uses_accelerate_for_several_processes(tmp_path: Path) -> None:
    single = worker_command("job.json", "py")
    assert single == ["py", "-m", "gpu_ops.training.sft_worker", "job.json"]
    ddp = worker_command("job.json", "py", num_processes=8, port=29999)
    assert ddp[:3] == ["py", "-m", "accelerate.commands.launch"]
    assert ddp[ddp.index("--num_processes") + 1] == "8" and "--multi_gpu" in ddp
    assert ddp[-3:] == ["-m", "gpu_ops.training.sft_worker", "job.json"]
    config = tmp_path / "fsdp.yaml"
    config.write_text("distributed_type: FSDP\n")
    fsdp = worker_command("job.json", "py", num_processes=8, accelerate_config=str(config))
    assert fsdp[fsdp.index("--config_file") + 1] == str(config) and "--multi_gpu" not in fsdp
    with pytest.raises(InputError, match="does not exist"):
        worker_command("job.json", "py", num_processes=2, accelerate_config="/no/such.yaml")


def test_process_count_must_match_the_launcher(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data.jsonl")
    with pytest.raises(InputError, match="expects 2 training process"):
        train_sft(tiny_model_dir, data, tmp_path / "out", SFTParams(num_processes=2))


@pytest.mark.slow
def test_two_processes_match_one_at_the_same_global_batch(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    data = _dataset(tmp_path / "data.jsonl")
    common = {
        "learning_rate": 2e-3,
        "warmup_ratio": 0.0,
        "lr_scheduler_type": "constant",
        "max_steps": 4,
        "logging_steps": 1,
        "validation_fraction": 0.0,
        "max_seq_len": 64,
        "gradient_checkpointing": False,
        "save_steps": 1000,
        "seed": 0,
    }
    reports = {}
    for processes, per_device in ((1, 4), (2, 2)):  # global batch 4 both times
        job = {
            "model_path": str(tiny_model_dir),
            "dataset_path": str(data),
            "out_dir": str(tmp_path / f"run{processes}"),
            "params": {
                **common,
                "per_device_train_batch_size": per_device,
                "num_processes": processes,
            },
        }
        reports[processes] = run_sft_subprocess(job, python=sys.executable)
    one, two = reports[1], reports[2]
    assert one.steps == two.steps == 4
    loss_one = [h["loss"] for h in one.loss_history if "loss" in h]
    loss_two = [h["loss"] for h in two.loss_history if "loss" in h]
    assert len(loss_one) == len(loss_two) == 4
    # Same samples per step (accelerate shards the same seeded batches); measured: equal to 1e-6.
    for step, (a, b) in enumerate(zip(loss_one, loss_two, strict=True)):
        assert b == pytest.approx(a, rel=1e-3), f"step {step + 1}: {a} vs {b}"
    assert loss_one[-1] < loss_one[0]  # it learned
    assert (Path(two.output_dir) / "config.json").is_file()


def test_several_machines_get_one_command_per_node(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="started on each machine") as error:
        worker_command("/runs/job.json", "py", num_processes=16, num_machines=2)
    message = str(error.value)
    assert "--machine_rank 0" in message and "--machine_rank 1" in message
    assert message.count("--num_processes 16 --num_machines 2") == 2
    with pytest.raises(InputError, match="divide num_processes"):
        SFTParams(num_processes=3, num_machines=2)


def test_multi_node_job_is_written_then_reused_once_finished(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    data = _dataset(tmp_path / "data.jsonl")
    params = {"max_steps": 1, "validation_fraction": 0.0, "max_seq_len": 32}
    job = {
        "model_path": str(tiny_model_dir),
        "dataset_path": str(data),
        "out_dir": str(tmp_path / "run"),
        "params": {**params, "num_processes": 2, "num_machines": 2},
    }
    with pytest.raises(InputError, match="started on each machine"):
        run_sft_subprocess(job)
    written = json.loads((tmp_path / "run" / "sft_job.json").read_text())
    assert written["params"]["num_machines"] == 2
    # The nodes ran it: their report and model sit in the run folder under the job's key.
    single = train_sft(
        tiny_model_dir, data, tmp_path / "single", SFTParams(**params, num_processes=1)
    )
    shutil.copytree(single.output_dir, tmp_path / "run" / "model")
    key = run_key(tiny_model_dir, file_hash(data), SFTParams(**job["params"]))
    report = dataclasses.replace(single, run_key=key, output_dir=str(tmp_path / "run" / "model"))
    (tmp_path / "run" / REPORT_FILE).write_text(report.to_json())
    again = run_sft_subprocess(job)  # no launch: the finished multi-node run is reused
    assert again.run_key == key and again.completed
