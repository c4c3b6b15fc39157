"""The caches in a real Postgres (started by the test, no mock): two drivers share them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.arena.execution_judge import score_responses
from gpu_ops.llm import CachedChatModel, SamplingParams
from gpu_ops.state_db import (
    PostgresCallCache,
    PostgresExecutionCache,
    StateStoreError,
    import_sqlite_cache,
    open_call_cache,
    open_execution_cache,
)
from tests.gpu_ops.fakes import FakeChatModel
from wc_foundation.config import ConfigError, parse_config

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]

DRIVER = """
import json, sys
from gpu_ops.llm import CachedChatModel, SamplingParams
from gpu_ops.state_db import open_call_cache
from tests.gpu_ops.fakes import FakeChatModel

cache = open_call_cache("/nonexistent/unused.sqlite", sys.argv[1])
model = FakeChatModel(identity="shared-expert")
cached = CachedChatModel(model, cache, batch_size=2)
out = cached.generate(json.loads(sys.argv[2]), SamplingParams(temperature=0.0, max_new_tokens=8))
print(json.dumps({"texts": [g.text for g in out], "batches": len(model.calls)}))
"""


def _other_driver(url: str, prompts: list[str]) -> dict:
    """A second driver: its own process, its own connection, the same database."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, url, json.dumps(prompts)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_call_made_by_one_driver_is_a_hit_for_the_other(postgres_url: str) -> None:
    prompts = ["def add(a, b):", "def mul(a, b):", "def neg(a):"]
    first = _other_driver(postgres_url, prompts)
    assert first["batches"] == 2  # three misses in batches of two

    cache = open_call_cache(Path("/nonexistent/unused.sqlite"), postgres_url)
    assert isinstance(cache, PostgresCallCache)
    model = FakeChatModel(identity="shared-expert")
    here = CachedChatModel(model, cache, batch_size=2)
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    texts = [g.text for g in here.generate(prompts, greedy)]
    assert texts == first["texts"]
    assert model.calls == [] and here.hits == 3 and here.misses == 0

    # a new call made here is, in turn, a hit over there
    here.generate(["def sub(a, b):"], greedy)
    assert len(model.calls) == 1
    again = _other_driver(postgres_url, [*prompts, "def sub(a, b):"])
    assert again["batches"] == 0
    assert len(cache) >= 4
    cache.close()


def test_execution_outcomes_are_shared_between_drivers(postgres_url: str) -> None:
    rows = pl.DataFrame(
        {
            "instruction_id": ["i1", "i1", "i2"],
            "expert": ["a", "b", "a"],
            "instruction": ["Add two numbers. add(1, 2) == 3"] * 2 + ["Print hello."],
            "response": [
                "```python\ndef add(a, b):\n    return a + b\n```",
                "```python\ndef add(a, b):\n    return a - b\n```",
                "```python\nprint('hello')\n```",
            ],
        }
    )
    kwargs = {"timeout_s": 5, "allow_weak_isolation": True}
    first_cache = open_execution_cache(Path("/nonexistent/x.sqlite"), postgres_url)
    assert isinstance(first_cache, PostgresExecutionCache)
    first = score_responses(rows, cache=first_cache, **kwargs)
    assert first_cache.sandbox_runs > 0
    second_cache = PostgresExecutionCache(postgres_url)  # another driver's connection
    second = score_responses(rows, cache=second_cache, **kwargs)
    assert second_cache.sandbox_runs == 0 and second_cache.misses == 0
    assert second.equals(first)
    first_cache.close()
    second_cache.close()


def test_a_refusing_postgres_url_names_the_database_not_the_password(tmp_path: Path) -> None:
    url = f"postgresql://wc:secret@/arena?host={tmp_path}&port=1"
    with pytest.raises(StateStoreError, match=r"cannot connect to the state database") as caught:
        open_call_cache(tmp_path / "x.sqlite", url)
    assert "secret" not in str(caught.value) and "wc:***@" in str(caught.value)


def test_env_url_wins_and_sqlite_stays_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WC_STATE_URL", raising=False)
    local = open_call_cache(tmp_path / "calls.sqlite")
    assert type(local).__name__ == "CallCache" and (tmp_path / "calls.sqlite").exists()
    local.close()
    monkeypatch.setenv("WC_STATE_URL", "mysql://nope")
    with pytest.raises(StateStoreError, match="only postgresql:// URLs"):
        open_execution_cache(tmp_path / "x.sqlite")


def test_config_rejects_a_state_url_that_is_not_postgres() -> None:
    experts = [
        {"slug": s, "model": "m", "backend": "openai", "endpoints": ["http://x"]} for s in "ab"
    ]
    with pytest.raises(ConfigError, match=r"compute\.state_url: must be a postgresql:// URL"):
        parse_config({"experts": experts, "compute": {"state_url": "sqlite:///x.db"}})
    config = parse_config({"experts": experts, "compute": {"state_url": "postgresql://h/db"}})
    assert config.compute.state_url == "postgresql://h/db"


KILLED_DRIVER = """
import json, sys
from gpu_ops.llm import CachedChatModel, SamplingParams
from gpu_ops.state_db import open_call_cache
from tests.gpu_ops.fakes import FakeChatModel

cache = open_call_cache("/nonexistent/unused.sqlite", sys.argv[1])
cached = CachedChatModel(FakeChatModel(identity="killed-driver"), cache, batch_size=2, purpose="pg")
cached.generate(json.loads(sys.argv[2]), SamplingParams(temperature=0.0, max_new_tokens=8))
"""


def test_a_killed_driver_resumes_from_the_postgres_cache(postgres_url: str) -> None:
    prompts = [f"def f{i}(x):" for i in range(6)]
    env = dict(os.environ, PYTHONPATH=str(REPO), WC_FAILPOINTS="llm.pg.committed=1")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_DRIVER, postgres_url, json.dumps(prompts)],
        env=env,
        capture_output=True,
        timeout=120,
        cwd=REPO,
    )
    assert killed.returncode == -9  # SIGKILL right after its first batch was committed
    model = FakeChatModel(identity="killed-driver")
    resumed = CachedChatModel(model, PostgresCallCache(postgres_url), batch_size=2)
    out = resumed.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=8))
    assert (resumed.hits, resumed.misses, resumed.model_calls) == (2, 4, 2)
    fresh = FakeChatModel(identity="killed-driver").generate(
        prompts, SamplingParams(temperature=0.0, max_new_tokens=8)
    )
    assert [g.text for g in out] == [g.text for g in fresh]


def test_an_embedded_cache_moves_into_postgres(tmp_path: Path, postgres_url: str) -> None:
    local = open_call_cache(tmp_path / "calls.sqlite")
    local.put_many([(f"moved-{i}", "m", "generate", {"text": str(i)}) for i in range(3)])
    local.close()
    assert import_sqlite_cache(tmp_path / "calls.sqlite", postgres_url) == {"calls": 3}
    shared = PostgresCallCache(postgres_url)
    assert shared.get_many(["moved-0", "moved-2", "absent"]) == {
        "moved-0": {"text": "0"},
        "moved-2": {"text": "2"},
    }
    shared.close()
    with pytest.raises(StateStoreError, match="does not exist"):
        import_sqlite_cache(tmp_path / "nope.sqlite", postgres_url)


def test_the_postgres_caches_keep_every_counter_of_the_embedded_ones(postgres_url: str) -> None:
    from gpu_ops.llm.cache import CallCache
    from gpu_ops.sandbox.result_cache import ExecutionCache

    pairs = (
        (CallCache(":memory:"), PostgresCallCache(postgres_url)),
        (ExecutionCache(), PostgresExecutionCache(postgres_url)),
    )
    for embedded, shared in pairs:
        counters = {k for k, v in vars(embedded).items() if isinstance(v, int)}
        assert counters and counters <= set(vars(shared))
        embedded.close()
        shared.close()
