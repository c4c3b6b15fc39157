"""A Ray cluster of several nodes on this one machine, for tests, benchmarks and trying it out.

Each node is `ray start --block` in its own process group, so killing that group loses exactly
that node (raylet, object store, workers) and stopping the cluster ends only its own processes
(`ray stop --force` would end every Ray process of the machine). The nodes get the project on
PYTHONPATH, so tasks can import it as on a real cluster whose image has it installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_NODES = (  # each node as [id, alive, is the head], from a short-lived driver of its own
    "import json,ray,sys; ray.init(address=sys.argv[1], log_to_driver=False,"
    " logging_level='ERROR'); print(json.dumps([[n['NodeID'], n['Alive'],"
    " 'node:__internal_head__' in n.get('Resources', {})] for n in ray.nodes()]))"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_env() -> dict[str, str]:
    """This environment, plus the project on PYTHONPATH, without usage stats or a Ray address."""
    env = dict(os.environ)
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
    )
    env.pop("WC_RAY_ADDRESS", None)
    return env


START_ATTEMPTS = 3


class NodeExited(RuntimeError):
    """A node's `ray start` ended during the cluster's start."""

    def __init__(self, index: int, log_tail: str):
        role = "head" if index == 0 else "worker"
        super().__init__(f"Ray node {index} ({role}) exited; the end of its log:\n{log_tail}")
        self.index = index


@dataclass
class LocalCluster:
    """A head and worker nodes on 127.0.0.1, each `num_cpus` CPUs and its own Ray temp dir, in
    a private temp folder."""

    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="wcray-")))
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=node_env)
    nodes: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # process id -> its node's log

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, nodes: int = 2, num_cpus: int = 1) -> LocalCluster:
        """Start the head and `nodes - 1` workers; return when all are alive. A node that gives
        up during its start (Ray allows a raylet 30 s to register, too little on a machine
        under heavy load) is started again, up to START_ATTEMPTS times."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                if not self.nodes:
                    self.add_node(head=True, num_cpus=num_cpus)
                while len(self.nodes) < nodes:
                    self.add_node(head=False, num_cpus=num_cpus)
                self.wait_for_nodes(nodes)
                return self
            except NodeExited as exited:
                if attempt == START_ATTEMPTS:
                    self.stop()
                    raise
                if exited.index == 0:  # the head: start over, on a fresh port
                    for process in reversed(self.nodes):
                        self.kill(process)
                    self.nodes.clear()
                    self.port = free_port()
                else:
                    self.nodes.pop(exited.index)
            except BaseException:
                self.stop()
                raise
        return self

    def add_node(self, *, head: bool, num_cpus: int = 1) -> subprocess.Popen:
        ray = str(Path(sys.executable).with_name("ray"))
        index = len(self.logs)  # each node its own Ray temp dir (sessions, sockets, logs)
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus), "--block"]
        common += ["--temp-dir", str(self.temp_dir / f"ray-{index}")]
        if head:
            args = [ray, "start", "--head", "--port", str(self.port), "--include-dashboard=false"]
            args += ["--disable-usage-stats", *common]
        else:
            args = [ray, "start", "--address", self.address, *common]
        path = self.temp_dir / f"node-{index}.log"
        with path.open("w") as log:
            process = subprocess.Popen(
                args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.nodes.append(process)
        self.logs[process.pid] = path
        if head:
            self.wait_for_nodes(1)
        return process

    def alive_nodes(self) -> int:
        """Nodes the cluster reports alive (0 while it does not answer: a loaded machine can
        take longer than one probe's minute to start the head)."""
        return sum(alive for _, alive, _ in self._node_table())

    def node_roles(self) -> dict[str, str]:
        """Each alive node's Ray id -> "head" or "worker" (the ids `cluster.json` names)."""
        return {
            node_id: "head" if head else "worker"
            for node_id, alive, head in self._node_table()
            if alive
        }

    def _node_table(self) -> list[list]:
        try:
            done = subprocess.run(
                [sys.executable, "-c", _NODES, self.address],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            return []
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if done.returncode == 0 and lines else []

    def wait_for_nodes(self, count: int, timeout_s: float = 240) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for index, process in enumerate(self.nodes):
                if process.poll() is not None:
                    raise NodeExited(index, self._log_tail(process))
            if self.alive_nodes() >= count:
                return
            time.sleep(1)
        raise TimeoutError(f"{count} Ray nodes not up after {timeout_s}s (logs: {self.temp_dir})")

    def _log_tail(self, process: subprocess.Popen, lines: int = 15) -> str:
        text = self.logs[process.pid].read_text(errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def kill(self, process: subprocess.Popen) -> None:
        """Lose one node: SIGKILL its whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """Kill every node of this cluster (workers first) and remove its temp folder."""
        for process in reversed(self.nodes):
            self.kill(process)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m gpu_ops.cluster.local --nodes 2`: start a local cluster, print its address and
    each node's process group, keep it up until Ctrl-C or SIGTERM, then stop it."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--nodes", type=int, default=2, help="head + workers (default 2)")
    parser.add_argument("--num-cpus", type=int, default=1, help="CPUs per node (default 1)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    cluster = LocalCluster().start(nodes=args.nodes, num_cpus=args.num_cpus)
    try:
        print(f"export WC_RAY_ADDRESS={cluster.address}", flush=True)
        for index, node in enumerate(cluster.nodes):
            role = "head" if index == 0 else "worker"
            print(f"# {role} node: lose it with `kill -9 -{node.pid}`", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
