"""SFT on the session tiny model: labels, split, training, reload, resume, child process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from gpu_ops.training.sft import (
    CHECKPOINT_SUBDIR,
    REPORT_FILE,
    SFTParams,
    SFTWorkerError,
    build_trainer,
    is_validation_id,
    load_sft_rows,
    read_finished_report,
    run_sft_subprocess,
    split_by_instruction,
    train_sft,
)

# Small, fast, and learnable: loss should fall within a dozen steps at this learning rate.
FAST = {
    "learning_rate": 3e-3,
    "warmup_ratio": 0.1,
    "max_seq_len": 192,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "logging_steps": 1,
    "validation_fraction": 0.2,
}


def _rows(n: int = 50) -> list[dict]:
    rows = []
    for i in range(n):
        # Instruction ids repeat (two responses per instruction) so the split must keep pairs together.
        iid = f"instr-{i // 2:03d}"
        rows.append(
            {
                "instruction_id": iid,
                "messages": [
                    {"role": "user", "content": f"Write a function that returns {i}."},
                    {
                        "role": "assistant",
                        "content": f"```python\ndef value_{i}():\n    return {i}\n```",
                    },
                ],
            }
        )
    return rows


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sft_data") / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows()), encoding="utf-8")
    return path


def test_split_is_by_instruction_id_deterministic_and_disjoint() -> None:
    rows = _rows(200)
    train, valid = split_by_instruction(rows, 0.2)
    train_ids = {r["instruction_id"] for r in train}
    valid_ids = {r["instruction_id"] for r in valid}
    assert valid_ids and train_ids
    assert not train_ids & valid_ids
    assert len(train) + len(valid) == len(rows)
    # Same ids on reversed input: the split depends on the id only, not on row order.
    _, valid_rev = split_by_instruction(list(reversed(rows)), 0.2)
    assert {r["instruction_id"] for r in valid_rev} == valid_ids
    assert 0.05 < len(valid_ids) / len(train_ids | valid_ids) < 0.4
    assert all(not is_validation_id(r["instruction_id"], 0.0) for r in rows)


def test_load_sft_rows_rejects_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "bad.jsonl"
    missing.write_text(json.dumps({"messages": []}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="instruction_id"):
        load_sft_rows(missing)
    no_answer = tmp_path / "no_answer.jsonl"
    row = {"instruction_id": "a", "messages": [{"role": "user", "content": "hi"}]}
    no_answer.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="assistant"):
        load_sft_rows(no_answer)
    with pytest.raises(InputError, match="not found"):
        load_sft_rows(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="learning_rate"):
        SFTParams(learning_rate=0)


def _labelled_text(trainer, tokenizer) -> tuple[str, str]:
    example = trainer.train_dataset[0]
    batch = trainer.data_collator([example])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    return tokenizer.decode(ids[labels != -100]), tokenizer.decode(ids)


def test_only_assistant_tokens_carry_labels(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = _rows(4)
    trainer, tokenizer, mode = build_trainer(tiny_model_dir, rows, [], tmp_path, SFTParams(**FAST))
    assert mode == "assistant_only"
    labelled, full = _labelled_text(trainer, tokenizer)
    answer = rows[0]["messages"][-1]["content"]
    # Exactly the response and its end-of-turn token; never the user turn or role markers.
    assert labelled == answer + "<|end|>"
    assert rows[0]["messages"][0]["content"] in full
    # The demo experts' opt-in: train on the user turn too (they must be able to mine).
    params = SFTParams(**FAST, train_on_prompt=True)
    trainer, tokenizer, mode = build_trainer(tiny_model_dir, rows, [], tmp_path, params)
    assert mode == "full"
    labelled, full = _labelled_text(trainer, tokenizer)
    assert labelled == full


def test_template_without_generation_markers_trains_last_turn_only(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    plain = (
        "{% for m in messages %}{{ '### ' + m['role'] + '\\n' + m['content'] + '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '### assistant\\n' }}{% endif %}"
    )
    rows = _rows(4)
    params = SFTParams(**FAST, chat_template=plain)
    trainer, tokenizer, mode = build_trainer(tiny_model_dir, rows, [], tmp_path, params)
    assert mode == "completion_only"
    labelled, full = _labelled_text(trainer, tokenizer)
    assert labelled.startswith(rows[0]["messages"][-1]["content"])
    assert "### user" not in labelled and "### user" in full


def test_train_sft_learns_saves_reloads_and_skips_rerun(
    tiny_model_dir: Path, dataset_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    events: list[dict] = []
    params = SFTParams(**FAST, max_steps=12, save_steps=100)
    report = train_sft(tiny_model_dir, dataset_path, out, params, log_callback=events.append)
    assert report.completed and report.steps == 12
    assert report.tokens > 0 and report.seconds > 0
    losses = [h["loss"] for h in report.loss_history if "loss" in h]
    assert losses[-1] < losses[0] - 0.3, losses
    assert report.final_eval_loss is not None and report.eval_rows > 0
    assert json.loads((out / REPORT_FILE).read_text())["run_key"] == report.run_key
    assert read_finished_report(out) == report  # what evaluation reads the model path from
    with pytest.raises(InputError, match="is missing"):
        read_finished_report(tmp_path / "never-trained")
    assert any(e["event"] == "log" and "loss" in e for e in events)

    from gpu_ops.llm import ModelSpec, SamplingParams, load_model

    model = load_model(ModelSpec(slug="sft-out", model=report.output_dir, backend="transformers"))
    assert "<|assistant|>" in model.render_chat([{"role": "user", "content": "hi"}])
    [gen] = model.generate(["def "], SamplingParams(temperature=0.0, max_new_tokens=4))
    assert gen.completion_tokens >= 1

    again: list[dict] = []
    reused = train_sft(tiny_model_dir, dataset_path, out, params, log_callback=again.append)
    assert reused == report
    assert [e["event"] for e in again] == ["skipped"]


def test_resume_from_checkpoint(tiny_model_dir: Path, dataset_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    base = {**FAST, "max_steps": 6, "save_steps": 100, "validation_fraction": 0.0}
    first = train_sft(tiny_model_dir, dataset_path, out, SFTParams(**base, stop_after_steps=3))
    assert not first.completed and first.steps == 3
    assert (out / CHECKPOINT_SUBDIR / "checkpoint-3").is_dir()
    assert not (out / REPORT_FILE).exists()
    second = train_sft(tiny_model_dir, dataset_path, out, SFTParams(**base))
    assert second.completed and second.steps == 6
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-3")
    assert second.run_key == first.run_key


def test_subprocess_streams_log_and_crash_is_clear(
    tiny_model_dir: Path, dataset_path: Path, tmp_path: Path
) -> None:
    job = {
        "model_path": str(tiny_model_dir),
        "dataset_path": str(dataset_path),
        "out_dir": str(tmp_path / "child"),
        "params": {**FAST, "max_steps": 2, "save_steps": 100},
    }
    records: list[dict] = []
    report = run_sft_subprocess(job, records.append)
    assert report.completed and report.steps == 2
    assert Path(report.output_dir, "config.json").is_file()
    assert [r["step"] for r in records if r["event"] == "log" and "loss" in r][:2] == [1, 2]

    broken = {
        **job,
        "dataset_path": str(tmp_path / "missing.jsonl"),
        "out_dir": str(tmp_path / "b"),
    }
    with pytest.raises(SFTWorkerError, match="exited with code 1") as info:
        run_sft_subprocess(broken)
    assert "SFT dataset not found" in str(info.value)
    with pytest.raises(InputError, match="lacks keys"):
        run_sft_subprocess({"model_path": "x"})


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_resumes_to_the_uninterrupted_weights(
    tiny_model_dir: Path, dataset_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training process dies by SIGKILL right after its first checkpoint; the re-run resumes
    there and ends with the same weights, bit for bit, as a run that was never interrupted."""
    import torch
    from safetensors.torch import load_file

    params = {**FAST, "max_steps": 4, "save_steps": 2, "validation_fraction": 0.0}

    def job(out: Path) -> dict:
        return {
            "model_path": str(tiny_model_dir),
            "dataset_path": str(dataset_path),
            "out_dir": str(out),
            "params": params,
        }

    uninterrupted = run_sft_subprocess(job(tmp_path / "straight"))
    monkeypatch.setenv("WC_FAILPOINTS", "sft.checkpoint=1")
    with pytest.raises(SFTWorkerError, match="code -9"):
        run_sft_subprocess(job(tmp_path / "killed"))
    assert (tmp_path / "killed" / CHECKPOINT_SUBDIR / "checkpoint-2").is_dir()
    assert not (tmp_path / "killed" / REPORT_FILE).exists()  # nothing claims to be complete
    monkeypatch.delenv("WC_FAILPOINTS")
    resumed = run_sft_subprocess(job(tmp_path / "killed"))
    assert resumed.completed and resumed.steps == uninterrupted.steps == 4
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith("checkpoint-2")
    straight = load_file(Path(uninterrupted.output_dir) / "model.safetensors")
    after_crash = load_file(Path(resumed.output_dir) / "model.safetensors")
    assert straight.keys() == after_crash.keys()
    assert all(torch.equal(straight[name], after_crash[name]) for name in straight)
