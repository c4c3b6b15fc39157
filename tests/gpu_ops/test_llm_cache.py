"""The call cache: keys, hit/miss accounting, batch commits, resume after a killed run."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpu_ops.llm import CachedChatModel, CallCache, ModelSpec, SamplingParams, load_model
from gpu_ops.llm.cache import call_key

PROMPTS = [f"<|bos|><|user|>\nquestion number {i}<|end|>\n<|assistant|>\n" for i in range(6)]


def _params() -> list[SamplingParams]:
    return [
        SamplingParams(temperature=1.0, max_new_tokens=6, seed=10 + i) for i in range(len(PROMPTS))
    ]


def _spec(model_dir: Path) -> ModelSpec:
    return ModelSpec(slug="tiny", model=str(model_dir), device="cpu", batch_size=2)


def test_keys_are_canonical_and_sensitive() -> None:
    base = call_key("m", "generate", "p", {"seed": 1, "temperature": 1.0}, None)
    assert base == call_key("m", "generate", "p", {"temperature": 1.0, "seed": 1}, None)
    assert (
        len(
            {
                base,
                call_key("m2", "generate", "p", {"seed": 1, "temperature": 1.0}, None),
                call_key("m", "chat", "p", {"seed": 1, "temperature": 1.0}, None),
                call_key("m", "generate", "q", {"seed": 1, "temperature": 1.0}, None),
                call_key("m", "generate", "p", {"seed": 2, "temperature": 1.0}, None),
                call_key("m", "generate", "p", {"seed": 1, "temperature": 1.0}, ["A"]),
            }
        )
        == 6
    )


def test_second_run_makes_no_model_calls(tiny_model_dir: Path, tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    first = load_model(_spec(tiny_model_dir), cache=cache)
    assert isinstance(first, CachedChatModel)
    out1 = first.generate(PROMPTS, _params())
    scores1 = first.choice_logprobs(PROMPTS[:3], ["A", "B"])
    chat1 = first.chat(
        [[{"role": "user", "content": "hi"}]], SamplingParams(seed=1, max_new_tokens=4)
    )
    assert (first.misses, first.hits, first.model_calls) == (10, 0, 3 + 2 + 1)

    again = load_model(_spec(tiny_model_dir), cache=CallCache(tmp_path / "calls.sqlite"))
    assert again.generate(PROMPTS, _params()) == out1
    assert again.choice_logprobs(PROMPTS[:3], ["A", "B"]) == scores1
    assert (
        again.chat([[{"role": "user", "content": "hi"}]], SamplingParams(seed=1, max_new_tokens=4))
        == chat1
    )
    assert (again.model_calls, again.misses, again.hits) == (0, 0, 10)
    assert again.cache.stats()["entries"] == 10


def test_duplicates_and_unseeded_sampling(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = load_model(_spec(tiny_model_dir), cache=CallCache(tmp_path / "c.sqlite"))
    seeded = SamplingParams(seed=5, max_new_tokens=4)
    a, b = model.generate([PROMPTS[0], PROMPTS[0]], seeded)
    assert a == b and model.misses == 1  # identical requests are computed once
    unseeded = SamplingParams(seed=None, max_new_tokens=4)
    model.generate([PROMPTS[0]] * 3, unseeded)
    model.generate([PROMPTS[0]] * 3, unseeded)
    assert model.misses == 1 + 6  # a fresh sample every time, never cached
    model.generate([PROMPTS[1]], SamplingParams(temperature=0, max_new_tokens=4))
    model.generate([PROMPTS[1]], SamplingParams(temperature=0, max_new_tokens=4))
    assert model.hits == 1  # greedy is deterministic: cached


_KILLED_RUN = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from gpu_ops.llm import CallCache, ModelSpec, SamplingParams, load_model

    model_dir, db, marker, prompts_json = sys.argv[1:5]
    prompts = json.loads(prompts_json)
    spec = ModelSpec(slug="tiny", model=model_dir, device="cpu", batch_size=2)
    model = load_model(spec, cache=CallCache(db))
    inner_generate, calls = model.model.generate, []

    def hang_on_second_batch(batch, params):
        if calls:  # batch 1 is committed by now: signal the test and wait to be killed
            Path(marker).write_text("ready")
            time.sleep(600)
        calls.append(len(batch))
        return inner_generate(batch, params)

    model.model.generate = hang_on_second_batch
    params = [SamplingParams(temperature=1.0, max_new_tokens=6, seed=10 + i) for i in range(len(prompts))]
    model.generate(prompts, params)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_killed_run_resumes_without_repeating_finished_calls(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    db, marker, script = tmp_path / "calls.sqlite", tmp_path / "ready", tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    args = [
        sys.executable,
        str(script),
        str(tiny_model_dir),
        str(db),
        str(marker),
        json.dumps(PROMPTS),
    ]
    proc = subprocess.Popen(args, env=env)
    try:
        deadline = time.monotonic() + 100
        while not marker.exists():
            assert proc.poll() is None, "the generating subprocess exited early"
            assert time.monotonic() < deadline, "the first batch was never committed"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 2

    resumed = load_model(_spec(tiny_model_dir), cache=CallCache(db))
    out = resumed.generate(PROMPTS, _params())
    assert (resumed.hits, resumed.misses, resumed.model_calls) == (2, 4, 2)
    fresh = load_model(_spec(tiny_model_dir)).generate(PROMPTS, _params())
    assert out == fresh  # the cached batch equals what the model produces
