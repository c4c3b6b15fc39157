"""Session-wide fixtures shared by all test modules.

`make test` runs the suite on two pytest-xdist workers (one per core, a test file per worker);
the tests marked `vllm_engine` run beside it in a pytest process of their own (tests/vllm_engine).
The expensive fixtures (the demo experts, the reference arena) are built once for both workers:
the first worker builds them in the run's shared temp folder under a file lock, the other waits
and reuses them. Tests that change an arena copy its home first.

With `--dist loadfile` the run ends when the busier worker does, so the longest files start first
(tests/suite_order.py).
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from wc_demo.tiny_model import build_tiny_model, build_tokenizer


def pytest_configure(config: pytest.Config) -> None:
    """Keep the collection order below for xdist's work queue (its default reorders files by
    their number of tests, which put the demo arena's six long tests late)."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, the files in tests/suite_order.py's order (the longest first); a file's
    tests keep their order. A run without xdist keeps pytest's order."""
    if not hasattr(config, "workerinput"):
        return
    from tests.suite_order import file_of, file_order

    order = file_order(item.nodeid for item in items)
    items.sort(key=lambda item: order[file_of(item.nodeid)])


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this run sees (the parent of the per-worker base temp)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Serialize a build across worker processes; the second one then finds it done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    """The demo experts, judge and target, built once and cached (shared with `make demo`).

    They live under $WC_DEMO_MODELS, default `<repo>/.warriorcoder/models` — the models folder of
    the default home, so `make test` after `make demo` (or the other way round) builds nothing.
    """
    import os

    from wc_demo.experts import build_demo_experts, build_demo_judge, build_demo_target

    models = Path(
        os.environ.get("WC_DEMO_MODELS")
        or Path(__file__).resolve().parents[1] / ".warriorcoder" / "models"
    )
    with build_lock(models / ".build.lock"):
        build_demo_experts(models)
        build_demo_judge(models)
        build_demo_target(models)
    return models


@pytest.fixture(scope="session")
def small_arena_reference(tmp_path_factory: pytest.TempPathFactory, demo_models_dir: Path):
    """One uninterrupted run of tests/small_arena.py's arena, up to the SFT dataset.

    Returns (config path, home). Tests that change the arena copy the home first.
    """
    from dagster_wc.orchestration.runner import run_pipeline
    from tests.small_arena import UP_TO_SFT, arena_yaml
    from wc_foundation.storage import Home

    root = shared_dir(tmp_path_factory) / "small_arena"
    config = root / "arena.yaml"
    home = Home.resolve(root / "home")
    with build_lock(root.parent / "small_arena.lock"):
        if not (root / "built").exists():
            root.mkdir(parents=True, exist_ok=True)
            config.write_text(arena_yaml(demo_models_dir))
            run_pipeline(config, home, stages=UP_TO_SFT)
            (root / "built").touch()
    return config, home


@pytest.fixture(scope="session")
def fixture_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse dbt builds from the synthetic fixture lake (tests/fixtures/lake_fixture.py),
    built once for both workers. Tests read it read-only; a test that writes copies it first."""
    from tests.dbt.dbt_runner import build_fixture_warehouse

    root = shared_dir(tmp_path_factory) / "wc_dbt_fixture"
    with build_lock(root.parent / "wc_dbt_fixture.lock"):
        return build_fixture_warehouse(root)
