"""Served experts: per-endpoint concurrency with streamed commits against the batch barrier.

Four OpenAI-compatible endpoints on loopback (bench/counting_server.py) answer each chat
request after a latency drawn from a heavy-tailed distribution (from the request's content, times
the endpoint's factor): one endpoint is three times slower than the others, as a replica on a
busier GPU is. The same 256 requests go through the call cache twice, in the same process:
- baseline, the batch barrier: batches of `batch_size` (16) requests, each batch waiting for its
  slowest before the next starts and committed whole;
- streamed: every miss at once, `max_concurrency` (4) in flight per endpoint, each reply
  committed as it arrives.
Both keep the same in-flight limit per endpoint and give the same replies; the ratio is the
wall time of the barrier over the streamed run. The servers record the most requests they held
at once (never above the limit).

    python -m bench.bench_served            # 256 requests
    python -m bench.bench_served --quick    # 96 requests
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bench.counting_server import CountingEndpoint
from gpu_ops.llm import ModelSpec, SamplingParams, load_model
from gpu_ops.llm.cache import CachedChatModel, CallCache

ENDPOINTS = 4
PER_ENDPOINT = 4
BATCH = 16
SLOW_FACTOR = 3.0


def latency(content: str, factor: float) -> float:
    """Seconds for one request: mostly 20-80 ms, one in eight 300-600 ms (long generations)."""
    draw = int(hashlib.sha256(content.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    base = 0.3 + 2.4 * (draw - 0.875) if draw > 0.875 else 0.02 + 0.06 * draw / 0.875
    return base * factor


class Unstreamed:
    """The served model without `streams_results`: the call cache's batch loop (the barrier)."""

    def __init__(self, model: Any):
        self.model = model
        self.spec = model.spec
        self.identity = model.identity

    def chat(self, conversations: Any, sampling: Any) -> Any:
        return self.model.chat(conversations, sampling)

    def close(self) -> None:
        self.model.close()


@contextmanager
def endpoints() -> Iterator[list[CountingEndpoint]]:
    """`ENDPOINTS` servers, the first `SLOW_FACTOR` times slower than the others."""
    factors = [SLOW_FACTOR if i == 0 else 1.0 for i in range(ENDPOINTS)]
    started = [CountingEndpoint(latency=partial(latency, factor=f)) for f in factors]
    try:
        yield started
    finally:
        for endpoint in started:
            endpoint.close()


def _run(servers: list[CountingEndpoint], requests: int, streamed: bool, folder: Path) -> dict:
    spec = ModelSpec(
        slug="served",
        model="m",
        backend="openai",
        endpoints=tuple(s.url for s in servers),
        max_concurrency=PER_ENDPOINT,
        batch_size=BATCH,
        request_timeout_s=30.0,
    )
    for server in servers:
        server.peak = 0
    inner = load_model(spec)
    cache = CallCache(folder / f"calls-{'streamed' if streamed else 'batched'}.sqlite")
    model = CachedChatModel(inner if streamed else Unstreamed(inner), cache)  # type: ignore[arg-type]
    asks = [[{"role": "user", "content": f"request {i}"}] for i in range(requests)]
    started = time.perf_counter()
    replies = model.chat(asks, SamplingParams(seed=0))
    seconds = time.perf_counter() - started
    model.close()
    return {
        "seconds": seconds,
        "texts": [r.text for r in replies],
        "peaks": [s.peak for s in servers],
        "committed": len(cache),
    }


def run(quick: bool = False) -> dict[str, Any]:
    requests = 96 if quick else 256
    with endpoints() as servers, tempfile.TemporaryDirectory(prefix="wc-served-") as folder:
        batched = _run(servers, requests, streamed=False, folder=Path(folder))
        streamed = _run(servers, requests, streamed=True, folder=Path(folder))
    if batched["texts"] != streamed["texts"]:
        raise RuntimeError("the streamed replies differ from the batched ones")
    if max(streamed["peaks"]) > PER_ENDPOINT or max(batched["peaks"]) > PER_ENDPOINT:
        raise RuntimeError(f"an endpoint held more than {PER_ENDPOINT} requests at once")
    return {
        "requests": requests,
        "endpoints": ENDPOINTS,
        "max_concurrency_per_endpoint": PER_ENDPOINT,
        "batch_size": BATCH,
        "batched_s": round(batched["seconds"], 3),
        "streamed_s": round(streamed["seconds"], 3),
        "speedup_streamed_vs_batched": round(batched["seconds"] / streamed["seconds"], 2),
        "peak_in_flight_per_endpoint": {"batched": batched["peaks"], "streamed": streamed["peaks"]},
        "committed": {"batched": batched["committed"], "streamed": streamed["committed"]},
        "same_replies": True,
    }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    return [
        (
            "Served experts (`bench_served`)",
            f"{result['requests']} chat requests to {result['endpoints']} loopback endpoints "
            f"(one 3x slower, heavy-tailed latency), {result['max_concurrency_per_endpoint']} in "
            f"flight per endpoint: batches of {result['batch_size']} waiting for their slowest "
            "over streamed per-reply commits, same replies",
            f"**{result['speedup_streamed_vs_batched']}x** ({result['batched_s']} s -> "
            f"{result['streamed_s']} s)",
            "report",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="96 requests")
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick), indent=2))


if __name__ == "__main__":
    main()
