"""An OpenAI-shaped chat endpoint on loopback (`http.server` in threads) that counts the requests
it holds at once, for the served-experts bench (bench/bench_served.py) and the concurrency tests
(tests/gpu_ops/test_llm_concurrency.py).

Each chat request is answered `echo:<last message>` after `latency(content)` seconds (by default
`delay_s`). Two contents are scripted for tests: "slow" is held until `release` is set, and
"refused" gets HTTP 400 (neither is counted in `answered`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class CountingEndpoint:
    """One server: requests in flight now, the most at once, and the contents it answered."""

    def __init__(self, delay_s: float = 0.15, latency: Callable[[str], float] | None = None):
        self.delay_s = delay_s
        self.latency = latency
        self.in_flight = 0
        self.peak = 0
        self.answered: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def seconds_for(self, content: str) -> float:
        return self.latency(content) if self.latency else self.delay_s

    def close(self) -> None:
        self.release.set()  # a held request must not keep shutdown() waiting
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(endpoint: CountingEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            content = body["messages"][-1]["content"]
            with endpoint.lock:
                endpoint.in_flight += 1
                endpoint.peak = max(endpoint.peak, endpoint.in_flight)
            # A request leaves the count before its reply is written: once the client has the
            # reply it may send the next request on that slot, which this thread, still
            # finishing the write, would otherwise count as a fifth (measured under load: peak 4
            # against a limit of 3, the client never having had 4 open).
            try:
                if content == "slow":
                    endpoint.release.wait(60)  # held until the test lets it go
                time.sleep(endpoint.seconds_for(content))
            finally:
                with endpoint.lock:
                    endpoint.in_flight -= 1
            if content == "refused":
                return self._send(400, {"error": "scripted"})
            with endpoint.lock:
                endpoint.answered.append(content)
            reply = {"role": "assistant", "content": f"echo:{content}"}
            self._send(
                200,
                {
                    "choices": [{"message": reply, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                },
            )

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
