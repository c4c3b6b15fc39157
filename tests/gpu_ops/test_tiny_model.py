"""The tiny-model factory: loadable, deterministic, cached, with a TRL-ready chat template."""

import hashlib
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gpu_ops.errors import InputError
from wc_demo.tiny_model import CHAT_TEMPLATE, build_tiny_model, build_tokenizer


def _digest(directory: Path, name: str) -> str:
    return hashlib.sha256((directory / name).read_bytes()).hexdigest()


def test_model_loads_and_runs(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert len(tokenizer) == model.config.vocab_size == 2048
    ids = tokenizer("def add(a, b):\n    return a + b", return_tensors="pt").input_ids
    assert tokenizer.decode(ids[0]) == "def add(a, b):\n    return a + b"
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], 2048)
    assert (tiny_model_dir / "model.safetensors").is_file()


def test_chat_template_roles_and_generation_prompt(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tokenizer.chat_template == CHAT_TEMPLATE
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|bos|><|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n"
    )
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|user|>\nHi<|end|>\n<|assistant|>\n")
    with pytest.raises(Exception, match="unknown role"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_assistant_mask_covers_only_the_response(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(masked) == "Hello there<|end|>"


def test_builds_are_deterministic_and_reused(tmp_path: Path, tiny_model_dir: Path) -> None:
    tok_dir = build_tokenizer(tmp_path / "tok")
    model_dir = build_tiny_model(tmp_path / "model", tokenizer_dir=tok_dir)
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert _digest(model_dir, name) == _digest(tiny_model_dir, name)
    mtime = (model_dir / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tmp_path / "model", tokenizer_dir=tok_dir) == model_dir
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == mtime


def test_different_seed_gives_different_weights(tmp_path: Path, tiny_tokenizer_dir: Path) -> None:
    other = build_tiny_model(tmp_path / "m1", tokenizer_dir=tiny_tokenizer_dir, seed=1)
    base = build_tiny_model(tmp_path / "m0", tokenizer_dir=tiny_tokenizer_dir, seed=0)
    assert _digest(other, "model.safetensors") != _digest(base, "model.safetensors")


def test_incomplete_output_is_rebuilt(tmp_path: Path, tiny_tokenizer_dir: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")  # a half-written earlier build
    build_tiny_model(target, tokenizer_dir=tiny_tokenizer_dir)
    assert AutoModelForCausalLM.from_pretrained(target).config.num_hidden_layers == 2


def test_bad_input_is_rejected(tmp_path: Path, tiny_tokenizer_dir: Path) -> None:
    with pytest.raises(InputError, match="num_heads"):
        build_tiny_model(tmp_path / "m", tokenizer_dir=tiny_tokenizer_dir, hidden_size=30)
    with pytest.raises(InputError, match="vocab_size"):
        build_tokenizer(tmp_path / "t", vocab_size=10)
    with pytest.raises(InputError, match="corpus_files"):
        build_tokenizer(tmp_path / "t", corpus_files=[tmp_path / "missing.py"])
