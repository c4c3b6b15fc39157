"""Served experts that fail, at the Dagster level: their partitions fail, the others complete.

One local expert and six experts behind the OpenAI backend, served by a fake server on loopback:
one healthy, and one each that answers HTTP 500, HTTP 429, malformed JSON, answers too slowly,
or is down (a closed port). The mining step runs every partition: the healthy ones write their
tables, each failing one retries a bounded number of times and fails with a message naming its
fault, no partial table is written for it, and the pipeline stops with one error listing them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from dagster_wc.orchestration.runner import PipelineError, run_pipeline
from wc_foundation.storage import Home, lake_partitions

pytestmark = pytest.mark.timeout(300)
ATTEMPTS = 2
FAULTS = {
    "e500": "HTTP 500",
    "e429": "HTTP 429",
    "badjson": "malformed reply",
    "slow": "timeout",
    "down": "server down",
}


class FaultyServer(ThreadingHTTPServer):
    """Behaviour by the first path segment (/ok/v1/..., /e500/v1/...); counts requests."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: Counter[str] = Counter()


class _Handler(BaseHTTPRequestHandler):
    server: FaultyServer

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        behaviour = self.path.strip("/").split("/")[0]
        self.server.requests[behaviour] += 1
        if behaviour == "slow":
            time.sleep(6.0)
        if behaviour in ("e500", "e429"):
            self._send(int(behaviour[1:]), b'{"error": "scripted"}')
        elif behaviour == "badjson":
            self._send(200, b'{"choices": [')
        else:
            reply = {
                "choices": [
                    {"text": "Write a function that adds two numbers.", "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 8},
            }
            self._send(200, json.dumps(reply).encode())

    def _send(self, status: int, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the slow case)


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    httpd = FaultyServer()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_failing_served_experts_fail_alone(tmp_path, tiny_model_dir, server):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    served = {name: f"{base}/{name}/v1" for name in ["ok", *FAULTS]}
    served["down"] = f"http://127.0.0.1:{closed_port()}/v1"
    experts = [f"  - {{slug: local, model: '{tiny_model_dir}', family: tiny}}"]
    for name, url in served.items():
        experts.append(
            f"  - {{slug: served-{name}, model: served-model, backend: openai, endpoints: ['{url}'],"
            f" tokenizer: '{tiny_model_dir}', family: served-{name}, max_retries: {ATTEMPTS},"
            " request_timeout_s: 2.0}"
        )
    config = tmp_path / "arena.yaml"
    config.write_text(
        "experts:\n" + "\n".join(experts) + "\n"
        "mining: {languages: [python], sampling_grid: [{temperature: 1.0, top_p: 1.0}],\n"
        "         samples_per_setting: 1, max_new_tokens: 8}\n"
    )
    home = Home.resolve(tmp_path / "home")

    with pytest.raises(PipelineError) as raised:
        run_pipeline(config, home, stages=["registry", "mining"])

    failures = dict(raised.value.failures)
    assert set(failures) == {f"instructions_mined[served-{name}]" for name in FAULTS}
    for name, fault in FAULTS.items():
        message = failures[f"instructions_mined[served-{name}]"]
        assert "BackendError" in message and fault in message, message
        assert f"after {ATTEMPTS} attempts" in message
    assert str(raised.value).count("instructions_mined[") == len(FAULTS)
    # bounded retries: exactly ATTEMPTS requests per failing prompt (one prompt each)
    for name in ("e500", "e429", "badjson", "slow"):
        assert server.requests[name] == ATTEMPTS, name
    # the healthy partitions completed and were kept; nothing partial for the failed ones
    assert lake_partitions(home, "instructions_mined") == ["local", "served-ok"]
    assert "instructions_mined[local]" in raised.value.summary.steps_run
    # the pipeline stopped before the stage's dbt step
    assert not any(label.startswith("dbt: mining") for label in raised.value.summary.steps_run)
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    statuses = Counter(r.dagster_run.status for r in instance.get_run_records())
    assert statuses[dg.DagsterRunStatus.FAILURE] == len(FAULTS)
