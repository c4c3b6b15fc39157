"""Real servers for the cluster tests: a Postgres (pgserver) and a two-node Ray cluster.

Both start only when a test asks for them, live in their own temp folders, and are stopped by
killing their own process groups (never `ray stop`, which would end every Ray process of the
machine). pgserver runs Postgres as an unprivileged user itself when the tests run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh Postgres server's URL (a unix socket in a temp folder)."""
    pgserver = pytest.importorskip("pgserver", reason="the `cluster` extra is not installed")
    folder = tmp_path_factory.mktemp("pg")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RayCluster:
    """A head and worker nodes on this machine, each `ray start --block` in its own process
    group (killing the group loses that node)."""

    address: str
    temp_dir: Path
    env: dict[str, str]
    nodes: list[subprocess.Popen] = field(default_factory=list)

    def start_node(self, *, head: bool) -> subprocess.Popen:
        ray = str(Path(sys.executable).with_name("ray"))
        port = self.address.rsplit(":", 1)[1]
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block"]
        args = (
            [
                ray,
                "start",
                "--head",
                "--port",
                port,
                "--include-dashboard=false",
                "--temp-dir",
                str(self.temp_dir),
                "--disable-usage-stats",
                *common,
            ]
            if head
            else [ray, "start", "--address", self.address, *common]
        )
        log = (self.temp_dir.parent / f"node-{len(self.nodes)}.log").open("w")
        process = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.nodes.append(process)
        return process

    def wait_for_nodes(self, count: int, timeout_s: float = 90) -> None:
        """Block until `count` nodes are alive (asked from a throwaway driver process)."""
        code = (
            "import ray,sys; ray.init(address=sys.argv[1], log_to_driver=False, "
            "logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for process in self.nodes:
                if process.poll() is not None and process in self.nodes[:1]:
                    raise RuntimeError(f"the Ray head exited; see {self.temp_dir.parent}")
            done = subprocess.run(
                [sys.executable, "-c", code, self.address],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode == 0 and int(done.stdout.strip().splitlines()[-1]) >= count:
                return
            time.sleep(1)
        raise TimeoutError(f"{count} Ray nodes not up after {timeout_s}s ({self.temp_dir})")

    def kill(self, process: subprocess.Popen) -> None:
        """Kill a node: its `ray start` process group (raylet, workers, object store)."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in reversed(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _ray_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        OMP_NUM_THREADS="1",
        RAY_DEDUP_LOGS="0",
    )
    env.pop("WC_RAY_ADDRESS", None)
    return env


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """A two-node Ray cluster (head + worker, one CPU each) for the tests of one module."""
    pytest.importorskip("ray", reason="the `cluster` extra is not installed")
    from gpu_ops.cluster import shutdown

    folder = tmp_path_factory.mktemp("ray")
    temp_dir = Path("/tmp") / f"wcray-{os.getpid()}-{folder.name}"  # AF_UNIX paths are short
    cluster = RayCluster(f"127.0.0.1:{free_port()}", temp_dir, _ray_env())
    try:
        cluster.start_node(head=True)
        cluster.wait_for_nodes(1)
        cluster.start_node(head=False)
        cluster.wait_for_nodes(2)
        yield cluster
    finally:
        shutdown()  # this process leaves the cluster before it goes away
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
