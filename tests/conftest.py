"""Session-wide fixtures shared by all test modules."""

from pathlib import Path

import pytest

from gpu_ops.demo.tiny_model import build_tiny_model, build_tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE tokenizer with the tiny chat template (built once per session)."""
    return build_tokenizer(tmp_path_factory.mktemp("tiny") / "tokenizer")


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_tokenizer_dir: Path) -> Path:
    """A random-init 2-layer Llama HF directory (config, safetensors, tokenizer)."""
    return build_tiny_model(tiny_tokenizer_dir.parent / "model", tokenizer_dir=tiny_tokenizer_dir)


@pytest.fixture(scope="session")
def demo_models_dir() -> Path:
    """The demo experts and target, built once and cached (shared with `make demo`).

    They live under $WC_DEMO_MODELS, default `<repo>/.warriorcoder/models` — the models folder of
    the default home, so `make test` after `make demo` (or the other way round) builds nothing.
    """
    import os

    from gpu_ops.demo.experts import build_demo_experts, build_demo_target

    models = Path(
        os.environ.get("WC_DEMO_MODELS")
        or Path(__file__).resolve().parents[1] / ".warriorcoder" / "models"
    )
    build_demo_experts(models)
    build_demo_target(models)
    return models


@pytest.fixture(scope="session")
def small_arena_reference(tmp_path_factory: pytest.TempPathFactory, demo_models_dir: Path):
    """One uninterrupted run of tests/small_arena.py's arena, up to the SFT dataset.

    Returns (config path, home). Tests that change the arena copy the home first.
    """
    from dagster_wc.runner import run_pipeline
    from tests.small_arena import UP_TO_SFT, arena_yaml
    from warriorcoder.storage import Home

    root = tmp_path_factory.mktemp("small_arena")
    config = root / "arena.yaml"
    config.write_text(arena_yaml(demo_models_dir))
    home = Home.resolve(root / "home")
    run_pipeline(config, home, stages=UP_TO_SFT)
    return config, home
