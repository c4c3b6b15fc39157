"""Session-wide fixtures shared by all test modules."""

from pathlib import Path

import pytest

from gpu_ops.tiny_model import build_tiny_model, build_tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE tokenizer with the tiny chat template (built once per session)."""
    return build_tokenizer(tmp_path_factory.mktemp("tiny") / "tokenizer")


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_tokenizer_dir: Path) -> Path:
    """A random-init 2-layer Llama HF directory (config, safetensors, tokenizer)."""
    return build_tiny_model(tiny_tokenizer_dir.parent / "model", tokenizer_dir=tiny_tokenizer_dir)
