"""SFT precision: fp32 master weights and optimizer state under bf16 autocast (checked on CPU),
the bundled DeepSeek-Coder template for base targets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gpu_ops.errors import InputError
from gpu_ops.llm.chat_template import bundled_template
from gpu_ops.training.sft import SFTParams, autocast_bf16, build_trainer


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


def test_precision_choice() -> None:
    assert autocast_bf16("auto", on_cuda=True, cuda_bf16=True) is True
    assert autocast_bf16("auto", on_cuda=False, cuda_bf16=False) is False
    assert autocast_bf16("bf16", on_cuda=False, cuda_bf16=False) is True  # CPU autocast
    assert autocast_bf16("fp32", on_cuda=True, cuda_bf16=True) is False
    with pytest.raises(InputError, match="does not support bfloat16"):
        autocast_bf16("bf16", on_cuda=True, cuda_bf16=False)
    with pytest.raises(InputError, match="precision"):
        SFTParams(precision="fp16")


def test_bf16_training_keeps_fp32_master_weights_and_optimizer_state(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """At the paper's lr 1e-5, fp32 masters keep (almost) every update; bf16 storage loses most."""
    params = SFTParams(
        learning_rate=1e-5,
        warmup_ratio=0.0,
        lr_scheduler_type="constant",
        max_steps=3,
        per_device_train_batch_size=4,
        validation_fraction=0.0,
        max_seq_len=64,
        precision="bf16",
        save_steps=1000,
    )
    trainer, _, _ = build_trainer(tiny_model_dir, _rows(12), [], tmp_path, params)
    assert trainer.args.bf16 is True  # autocast on: the forward runs in bf16
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    trained = dict(trainer.model.named_parameters())
    assert {p.dtype for p in trained.values()} == {torch.float32}
    moments = [
        value
        for state in trainer.optimizer.state.values()
        for value in state.values()
        if torch.is_tensor(value) and value.dim() > 0
    ]
    assert moments and {m.dtype for m in moments} == {torch.float32}
    weight = "model.layers.0.mlp.down_proj.weight"
    delta = trained[weight].detach() - before[weight]
    changed_fp32 = (delta != 0).float().mean().item()
    # The same update applied to bf16-stored weights: most of it rounds away.
    start = before[weight].to(torch.bfloat16)
    changed_bf16 = ((start + delta.to(torch.bfloat16)) != start).float().mean().item()
    assert changed_fp32 > 0.95
    assert changed_bf16 < 0.5


def test_bundled_template_trains_the_response_only(tiny_model_dir: Path, tmp_path: Path) -> None:
    params = SFTParams(
        max_steps=1,
        validation_fraction=0.0,
        max_seq_len=256,
        chat_template=bundled_template("deepseek_coder"),
    )
    trainer, tokenizer, mode = build_trainer(tiny_model_dir, _rows(2), [], tmp_path, params)
    assert mode == "assistant_only"
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    labelled = tokenizer.decode(ids[labels != -100])
    assert labelled.startswith("def f():") and labelled.rstrip().endswith("<|EOT|>")
    assert "### Instruction" not in labelled
