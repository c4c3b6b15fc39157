"""Which node ran how many tasks of which step, and for how long (the driver's own record).

Why a ledger in the driver: workers never write shared files, so the counts come back with the
results. Only results that reached the driver count: a task lost with its node and run again
elsewhere is counted once, where it finished. With a `live_path` the driver also rewrites the
report while the run goes (at most every LIVE_INTERVAL_S, `"complete": false`), so an operator,
or the acceptance run (scripts/cluster_acceptance.py), sees which node is doing what mid-step.
The live copy sits in `logs/` (LIVE_REPORT), not in `reports/`: the runner takes every file a
step changes under `reports/` for that step's output, and a later step rewriting it would make
the earlier one look stale to the next run.
"""

from __future__ import annotations

import json
import os
import threading
import time
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


LIVE_INTERVAL_S = 0.5
REPORT = "reports/cluster.json"  # under $WC_HOME: the run's report, written when it ends
LIVE_REPORT = "logs/cluster.live.json"  # under $WC_HOME: the same, kept current while it runs


class Ledger:
    """Per node, the tasks and wall seconds of each step since the last `reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._label: str | None = None  # one step runs at a time in a driver
        self.reset()

    def reset(self, live_path: Path | None = None) -> None:
        """Forget the work so far; with `live_path`, keep that file current as results arrive."""
        with self._lock:
            self.nodes: dict[str, NodeWork] = {}
            self.address: str | None = None
            self.live_path = live_path
            self._written_at = 0.0

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
            due = self.live_path is not None and time.monotonic() - self._written_at
        if due and due >= LIVE_INTERVAL_S:
            self._written_at = time.monotonic()
            self.write(self.live_path, complete=False)

    def report(self, complete: bool = True) -> dict:
        with self._lock:
            nodes = sorted(self.nodes.values(), key=lambda w: w.node_id)
            return {
                "ray_address": self.address,
                "complete": complete,
                "nodes": [w.as_json() for w in nodes],
            }

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

    def write(self, path: Path, complete: bool = True) -> Path:
        """Write the report as JSON (atomically: a reader never sees half a file);
        `complete=False` while the run still goes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.report(complete), indent=2) + "\n")
        partial.replace(path)
        return path


LEDGER = Ledger()


def cluster_step(label: str):
    """Attribute the tasks started inside this block to the step `label`."""
    return LEDGER.stepping(label)
