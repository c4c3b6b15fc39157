"""Per-endpoint concurrency of served experts, against real local HTTP servers (http.server in
threads, OpenAI-shaped replies: bench/counting_server.py) that count the requests they hold at
once.

Up to `max_concurrency` requests are in flight per endpoint, never more, and the limit is
reached on every endpoint; through the call cache each reply is committed as it arrives, so no
request waits for a batch's slowest and a failed request loses nothing finished beside it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.counting_server import CountingEndpoint
from gpu_ops.errors import BackendError
from gpu_ops.llm import ModelSpec, SamplingParams, load_model
from gpu_ops.llm.cache import CallCache


@pytest.fixture
def endpoints() -> Iterator[list[tuple[str, CountingEndpoint]]]:
    """Two endpoints, each its own server."""
    started = [CountingEndpoint() for _ in range(2)]
    yield [(endpoint.url, endpoint) for endpoint in started]
    for endpoint in started:
        endpoint.close()


def spec(urls: list[str], **kwargs: object) -> ModelSpec:
    settings = {"max_retries": 2, "retry_backoff_s": 0.01, "request_timeout_s": 30.0} | kwargs
    return ModelSpec(slug="served", model="m", backend="openai", endpoints=tuple(urls), **settings)


def ask(contents: list[str]) -> list[list[dict]]:
    return [[{"role": "user", "content": c}] for c in contents]


def test_in_flight_per_endpoint_reaches_the_limit_and_never_exceeds_it(
    endpoints: list[tuple[str, CountingEndpoint]],
) -> None:
    model = load_model(spec([url for url, _ in endpoints], max_concurrency=3))
    contents = [str(i) for i in range(30)]
    replies = model.chat(ask(contents), SamplingParams(seed=0))
    assert [r.text for r in replies] == [f"echo:{c}" for c in contents]  # in input order
    assert [state.peak for _, state in endpoints] == [3, 3]  # reached, never exceeded
    assert sorted(c for _, s in endpoints for c in s.answered) == sorted(contents)


def test_a_limit_of_one_sends_one_at_a_time(endpoints: list[tuple[str, CountingEndpoint]]) -> None:
    url, state = endpoints[0]
    load_model(spec([url], max_concurrency=1)).chat(ask(list("abcdef")), SamplingParams(seed=0))
    assert state.peak == 1


def test_each_reply_is_committed_as_it_arrives(
    endpoints: list[tuple[str, CountingEndpoint]], tmp_path: Path
) -> None:
    """One request is held by its server; every other reply is already in the cache (not
    waiting for the batch's slowest), and the held one is committed when it comes."""
    (url, state), _ = endpoints
    cache = CallCache(tmp_path / "calls.sqlite")
    model = load_model(spec([url], max_concurrency=4, batch_size=16), cache)
    contents = ["slow", *(str(i) for i in range(9))]
    out: list = []
    caller = threading.Thread(
        target=lambda: out.append(model.chat(ask(contents), SamplingParams(seed=0)))
    )
    caller.start()
    watcher = CallCache(tmp_path / "calls.sqlite")  # as another driver would see it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(watcher) < 9:
        time.sleep(0.02)
    assert len(watcher) == 9 and caller.is_alive()  # 9 committed while one is still held
    state.release.set()
    caller.join(timeout=30)
    assert [g.text for g in out[0]] == [f"echo:{c}" for c in contents]
    assert len(watcher) == 10
    again = load_model(spec([url], max_concurrency=4), CallCache(tmp_path / "calls.sqlite"))
    again.chat(ask(contents), SamplingParams(seed=0))
    assert again.model_calls == 0 and len(state.answered) == 10  # all hits


def test_a_failed_request_loses_nothing_finished_beside_it(
    endpoints: list[tuple[str, CountingEndpoint]], tmp_path: Path
) -> None:
    (url, state), _ = endpoints
    state.delay_s = 0.05
    cache = CallCache(tmp_path / "calls.sqlite")
    model = load_model(spec([url], max_concurrency=2), cache)
    contents = [*(str(i) for i in range(3)), "refused", *(str(i) for i in range(3, 6))]
    with pytest.raises(BackendError, match=r"HTTP 400.*not retried"):
        model.chat(ask(contents), SamplingParams(seed=0))
    finished = len(state.answered)
    assert finished >= 3 and len(cache) == finished  # each finished reply was kept
    rerun = load_model(spec([url], max_concurrency=2), cache)
    with pytest.raises(BackendError):
        rerun.chat(ask(contents), SamplingParams(seed=0))
    assert len(state.answered) == 6  # the rerun asked only what had not been answered


def test_a_retry_waits_for_the_survivor_rather_than_retake_a_dead_endpoint(
    endpoints: list[tuple[str, CountingEndpoint]],
) -> None:
    """A dead endpoint's slots are always free (its requests fail at once) while the survivor's
    are busy: a request that failed on the dead one must wait for the survivor, not spend its
    remaining attempts on the dead one (CI failed so: four attempts, all on the dead one)."""
    (url, state), _ = endpoints
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    model = load_model(spec([dead, url], max_concurrency=1, max_retries=2))
    contents = [str(i) for i in range(8)]
    replies = model.chat(ask(contents), SamplingParams(seed=0))
    assert [r.text for r in replies] == [f"echo:{c}" for c in contents]
    assert state.peak == 1 and sorted(state.answered) == sorted(contents)
