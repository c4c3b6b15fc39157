"""Which node ran how many tasks of which step, and for how long (the driver's own record).

Why a ledger in the driver: workers never write shared files, so the counts come back with the
results. Only results that reached the driver count: a task lost with its node and run again
elsewhere is counted once, where it finished.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class NodeWork:
    """One node's share of the run."""

    node_id: str
    address: str = ""
    tasks: dict[str, int] = field(default_factory=dict)  # step -> tasks finished
    seconds: dict[str, float] = field(default_factory=dict)  # step -> task wall seconds

    def as_json(self) -> dict:
        return {
            "node_id": self.node_id,
            "address": self.address,
            "tasks": dict(sorted(self.tasks.items())),
            "wall_seconds": round(sum(self.seconds.values()), 3),
            "wall_seconds_by_step": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
        }


class Ledger:
    """Per node, the tasks and wall seconds of each step since the last `reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._label: str | None = None  # one step runs at a time in a driver
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.nodes: dict[str, NodeWork] = {}
            self.address: str | None = None

    @property
    def step(self) -> str:
        return self._label or "unlabelled"

    @contextmanager
    def stepping(self, label: str) -> Iterator[None]:
        previous, self._label = self._label, label
        try:
            yield
        finally:
            self._label = previous

    def record(self, node_id: str, address: str, seconds: float, step: str | None = None) -> None:
        step = step or self.step
        with self._lock:
            work = self.nodes.setdefault(node_id, NodeWork(node_id, address))
            work.tasks[step] = work.tasks.get(step, 0) + 1
            work.seconds[step] = work.seconds.get(step, 0.0) + seconds

    def report(self) -> dict:
        with self._lock:
            nodes = sorted(self.nodes.values(), key=lambda w: w.node_id)
            return {"ray_address": self.address, "nodes": [w.as_json() for w in nodes]}

    def summary_line(self) -> str:
        """One line for the run summary: nodes, tasks and seconds each."""
        report = self.report()
        if not report["nodes"]:
            if os.environ.get("WC_RAY_ADDRESS"):
                return f"cluster: no Ray tasks this run ({os.environ['WC_RAY_ADDRESS']})"
            return "cluster: local processes (no Ray address)"
        parts = [
            f"{n['node_id'][:8]} {sum(n['tasks'].values())} tasks {n['wall_seconds']:.1f}s"
            for n in report["nodes"]
        ]
        return f"cluster: {len(parts)} node(s) at {report['ray_address']}: " + ", ".join(parts)

    def write(self, path: Path) -> Path:
        """Write the report as JSON (atomically: a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.report(), indent=2) + "\n")
        partial.replace(path)
        return path


LEDGER = Ledger()


def cluster_step(label: str):
    """Attribute the tasks started inside this block to the step `label`."""
    return LEDGER.stepping(label)
