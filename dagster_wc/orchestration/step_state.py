"""Which pipeline steps are up to date: code and data versions per step, kept in the home.

A step is up to date when
- its input version is the one it last ran with: its base version (the config sections it
  reads, the local model weights they name, the code it runs and the SQL it reads:
  `dagster_wc.orchestration.versions`), and the current content of every file that the steps of
  its upstream Python assets wrote; and
- what it wrote is still there: its output files have the content it left (a Python step), or the
  warehouse is still the file the last dbt step produced (a dbt step).
A step's outputs are the files under lake/, sft/, models/ and reports/ that changed while it ran.
Nothing is skipped on a guess: a missing record, a changed or deleted file, edits to the code
it runs or to the config sections it reads all make the step run again, and the LLM call cache keeps a re-run cheap.

The state lives in `$WC_HOME/pipeline_state.json` (written atomically). Content digests are
cached by (size, mtime) so an unchanged file is never read twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dagster_wc.orchestration.plan import PipelineShape, Step, upstream_labels
from wc_foundation.storage import Home

TRACKED_FOLDERS = ("lake", "sft", "models", "reports")
STATE_FILE = "pipeline_state.json"
STATE_FORMAT = 1

Stamp = tuple[int, int]  # size, mtime_ns


def home_stamps(home: Home) -> dict[str, Stamp]:
    """(size, mtime_ns) of every file the steps write, by path relative to the home."""
    stamps: dict[str, Stamp] = {}
    for folder in TRACKED_FOLDERS:
        base = home.root / folder
        if not base.is_dir():
            continue
        for dirpath, _dirnames, filenames in os.walk(base):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                stamps[path.relative_to(home.root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return stamps


def warehouse_stamp(home: Home) -> str:
    """Identity of the current warehouse file: each dbt build swaps in a new file (new mtime)."""
    try:
        stat = home.warehouse.stat()
    except FileNotFoundError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


@dataclass
class StepRecord:
    input_version: str
    outputs: dict[str, str] = field(default_factory=dict)  # path -> content digest


class StepState:
    """The per-step records of one home; `save()` writes them back atomically."""

    def __init__(self, home: Home):
        self.home = home
        self.path = home.root / STATE_FILE
        self.steps: dict[str, StepRecord] = {}
        self.digests: dict[str, tuple[int, int, str]] = {}
        self.warehouse = "missing"
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return  # no usable record: every step runs, nothing is lost
        if raw.get("format") != STATE_FORMAT:
            return
        self.steps = {
            label: StepRecord(record["input_version"], dict(record["outputs"]))
            for label, record in raw.get("steps", {}).items()
        }
        self.digests = {path: tuple(value) for path, value in raw.get("digests", {}).items()}
        self.warehouse = raw.get("warehouse", "missing")

    def save(self) -> None:
        payload = {
            "format": STATE_FORMAT,
            "warehouse": self.warehouse,
            "steps": {
                label: {"input_version": r.input_version, "outputs": r.outputs}
                for label, r in sorted(self.steps.items())
            },
            "digests": {path: list(value) for path, value in sorted(self.digests.items())},
        }
        fd, tmp = tempfile.mkstemp(dir=self.home.root, prefix=".pipeline_state.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=1)
        os.replace(tmp, self.path)

    def digest(self, rel: str) -> str:
        """Content digest of a home file ("missing" if absent), cached by its stamp."""
        path = self.home.root / rel
        try:
            stat = path.stat()
        except FileNotFoundError:
            return "missing"
        cached = self.digests.get(rel)
        if cached and cached[:2] == (stat.st_size, stat.st_mtime_ns):
            return cached[2]
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()[:16]
        self.digests[rel] = (stat.st_size, stat.st_mtime_ns, value)
        return value

    def input_version(self, label: str, base: str, upstream_labels: Iterable[str]) -> str:
        """Digest of `base` (the step's config and code) and the current content of the upstream
        outputs."""
        digest = hashlib.sha256(f"{label}\0{base}\0".encode())
        for upstream in sorted(set(upstream_labels)):
            record = self.steps.get(upstream)
            if record is None:
                digest.update(f"{upstream}:never-ran\0".encode())
                continue
            for rel in sorted(record.outputs):
                digest.update(f"{rel}={self.digest(rel)}\0".encode())
        return digest.hexdigest()[:16]

    def step_version(self, step: Step, shape: PipelineShape, plan: list[Step], base: str) -> str:
        """`step`'s input version: `base` and the outputs of the Python steps upstream of it
        (recorded ones, and the plan's own, which may not have run yet)."""
        known = {*self.steps, *(s.label for s in plan if s.kind == "python")}
        return self.input_version(step.label, base, upstream_labels(step, shape, known))

    def is_fresh(self, label: str, input_version: str, *, dbt: bool) -> bool:
        record = self.steps.get(label)
        if record is None or record.input_version != input_version:
            return False
        if dbt:
            return self.warehouse != "missing" and self.warehouse == warehouse_stamp(self.home)
        return all(self.digest(rel) == digest for rel, digest in record.outputs.items())

    def record(
        self,
        label: str,
        input_version: str,
        before: dict[str, Stamp],
        *,
        dbt: bool,
        partition: str | None = None,
    ) -> None:
        """Remember a finished step: its input version and the files that changed while it ran.

        A partition's step owns only its partition's files (`<table>/<partition>.parquet`), so
        sibling partitions that ran at the same time do not claim each other's output."""
        after = home_stamps(self.home)
        changed = [rel for rel, stamp in after.items() if before.get(rel) != stamp]
        if partition is not None:
            changed = [rel for rel in changed if Path(rel).stem == partition]
        previous = self.steps.get(label)
        outputs = {rel: self.digest(rel) for rel in changed}
        if previous is not None:  # a re-run that rewrote nothing still owns what it wrote before
            for rel in previous.outputs:
                if rel not in outputs and rel in after:
                    outputs[rel] = self.digest(rel)
        self.steps[label] = StepRecord(input_version, outputs)
        if dbt:
            self.warehouse = warehouse_stamp(self.home)

    def forget(self, label: str) -> None:
        self.steps.pop(label, None)


@contextmanager
def pipeline_lock(home: Home, *, wait: bool = True) -> Iterator[bool]:
    """One walker of the pipeline per home (`warriorcoder run` or the sensor's chain).

    Yields True when the lock is held; with `wait=False`, False at once if another holds it."""
    home.root.mkdir(parents=True, exist_ok=True)
    with (home.root / ".pipeline.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
