"""The paper preset packs, as the authors' run_sft_warrior.py does: with its DeepSeek-Coder
template, packing puts several examples in one sequence (fewer sequences, so fewer steps) and the
loss still covers the responses only."""

from __future__ import annotations

from pathlib import Path

from gpu_ops.llm.chat_template import bundled_template
from gpu_ops.training.sft import SFTParams, build_trainer


def _rows(n: int) -> list[dict]:
    return [
        {
            "instruction_id": f"i{i}",
            "messages": [
                {"role": "user", "content": f"Return {i}."},
                {"role": "assistant", "content": f"def f():\n    return {i}"},
            ],
        }
        for i in range(n)
    ]


def test_packing_with_the_paper_template(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = _rows(24)
    common = {
        "max_seq_len": 512,
        "per_device_train_batch_size": 8,
        "validation_fraction": 0.0,
        "chat_template": bundled_template("deepseek_coder"),
    }
    unpacked, _, _ = build_trainer(tiny_model_dir, rows, [], tmp_path / "a", SFTParams(**common))
    packed, tokenizer, mode = build_trainer(
        tiny_model_dir, rows, [], tmp_path / "b", SFTParams(**common, packing=True)
    )
    assert mode == "assistant_only"
    assert len(unpacked.train_dataset) == 24
    assert len(packed.train_dataset) <= 24 // 2  # several examples per 512-token sequence
    # steps per epoch follow the packed sequences: ceil(sequences / 8)
    assert len(packed.get_train_dataloader()) < len(unpacked.get_train_dataloader()) == 3
    example = packed.train_dataset[0]
    batch = packed.data_collator([example])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    labelled = tokenizer.decode(ids[labels != -100])
    # responses only: every packed example's answer and its end-of-turn, no prompt text
    assert labelled.count("<|EOT|>") == len(example["seq_lengths"]) > 1
    assert labelled.count("def f():") == len(example["seq_lengths"])
    assert "Return" not in labelled and "### Instruction" not in labelled
