"""The sweeps' unit of work: fine-tune the demo target on one condition's rows at one seed, then
evaluate it on the benchmark, task by task.

Each run is keyed by the content of what decides its result (the rows, the SFT settings with the
seed, the target's weights, the evaluation settings), and its per-task outcome is kept under
``<home>/sweeps/runs/<key>.json``: a condition that two studies share (alpha 0.7 is the arena; a
one-expert subset is that single expert) trains once, and a rerun of the sweep trains nothing.

A run is a child process (``python -m wc_demo.sweep_runs JOB.json``), as the SFT stage trains
in one, so its memory is returned when it ends and two runs can share two cores. Training is the
SFT stage's `train_sft` with the target's settings (`dagster_wc.defs.training.sft_params`); the
evaluation is `evaluate_model` with the config's evaluation settings, as the evaluation stage
and `demo_effect` measure every model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_ops.errors import InputError
from gpu_ops.llm.identity import weights_fingerprint
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import Home


@dataclass(frozen=True)
class Request:
    """One condition at one seed: the target is fine-tuned on ``rows`` with SFT seed ``seed``."""

    label: str  # for logs: "share-0.03/arena/seed-2"
    rows: tuple[str, ...]  # the training rows, one JSON line each
    seed: int


def request(label: str, rows: Sequence[dict], seed: int) -> Request:
    return Request(label, tuple(json.dumps(row, sort_keys=True) for row in rows), seed)


@dataclass
class Runner:
    """Runs requests at most ``workers`` at a time and keeps every result under ``home``."""

    home: Home
    config: ArenaConfig  # its target and evaluation sections decide every run
    benchmark: str
    workers: int = 2
    log: Any = print
    # extra environment of every run's child (a part of its key when set): scripts/machine_spread.py
    # emulates other machines' CPU kernels and thread counts with it
    environment: Mapping[str, str] = field(default_factory=dict)
    _target_id: str = field(default="", init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False)
    _started: dict[str, Future] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.config.target is None:
            raise InputError("the sweep's config has no `target` to fine-tune")
        if self.workers < 1:
            raise InputError(f"workers must be >= 1, got {self.workers}")
        self._target_id = weights_fingerprint(self.config.target.model)

    @property
    def folder(self) -> Path:
        return self.home.root / "sweeps" / "runs"

    def key(self, req: Request) -> str:
        """What decides the run's result, hashed: rows, SFT settings and seed, target, eval."""
        inputs = {
            "rows": list(req.rows),
            "sft": self._sft_params(req.seed),
            "target": self._target_id,
            "evaluation": self._evaluation(),
            "benchmark": self.benchmark,
        }
        if self.environment:
            inputs["environment"] = dict(sorted(self.environment.items()))
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]

    def submit(self, requests: Sequence[Request]) -> None:
        """Start every request not kept nor started yet; they run while the caller goes on
        (the sweep builds the next share's arena meanwhile). Identical requests run once."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers)
        new = 0
        for req in requests:
            key = self.key(req)
            if key not in self._started and not self._kept(key):
                self._started[key] = self._pool.submit(self._run_one, key, req)
                new += 1
        if new:
            self.log(f"sweep: {new} SFT+eval run(s) queued, {self.workers} at a time")

    def run(self, requests: Sequence[Request]) -> list[dict]:
        """Every request's result (pass_at_1, passed {task_id: 0/1}, ...), in request order,
        once every started run has finished. Kept results are read back. A failing run raises
        after the others finished, naming its label and its log; finished results stay kept."""
        self.submit(requests)
        try:
            failures = [error for f in self._started.values() if (error := f.result())]
        finally:
            self._pool.shutdown()
            self._pool, self._started = None, {}
        if failures:
            raise InputError("sweep runs failed: " + "; ".join(failures))
        return [self._read(self.key(req)) for req in requests]

    def _kept(self, key: str) -> bool:
        return (self.folder / f"{key}.json").is_file()

    def _read(self, key: str) -> dict:
        return json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))

    def _run_one(self, key: str, req: Request) -> str | None:
        work = self.folder / f"{key}.work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "train.jsonl").write_text("".join(r + "\n" for r in req.rows), encoding="utf-8")
        job = {
            "model_path": self.config.target.model,
            "target": self.config.target.model_dump(mode="json"),
            "dataset_path": str(work / "train.jsonl"),
            "out_dir": str(work / "sft"),
            "params": self._sft_params(req.seed),
            "evaluation": self._evaluation(),
            "benchmark": self.benchmark,
            "prepared_dir": str(self.home.benchmarks),
            "llm_cache": str(self.home.llm_cache),
            "state_url": self.config.compute.state_url,
            "result_path": str(self.folder / f"{key}.json"),
        }
        (work / "job.json").write_text(json.dumps(job, indent=2), encoding="utf-8")
        log_path = self.folder / f"{key}.log"
        threads = str(max(1, (os.cpu_count() or 1) // self.workers))
        env = {**os.environ, "OMP_NUM_THREADS": threads, **self.environment}
        started = time.perf_counter()
        with log_path.open("w", encoding="utf-8") as log:
            code = subprocess.run(
                [sys.executable, "-m", "wc_demo.sweep_runs", str(work / "job.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
            ).returncode
        if code != 0 or not self._kept(key):
            return f"{req.label} (exit {code}; log {log_path})"
        shutil.rmtree(work, ignore_errors=True)  # the model is not needed once evaluated
        result = self._read(key)
        self.log(
            f"sweep: {req.label}: pass@1 {result['pass_at_1']:.3f} "
            f"({time.perf_counter() - started:.0f} s)"
        )
        return None

    def _sft_params(self, seed: int) -> dict:
        from dagster_wc.defs.training import sft_params, template_text

        target = self.config.target
        sft = target.sft.model_copy(update={"seed": seed})
        return {**sft_params(sft), "chat_template": template_text(target.chat_template)}

    def _evaluation(self) -> dict:
        settings = self.config.evaluation
        names = ("samples_per_problem", "temperature", "max_new_tokens", "max_problems")
        names += ("timeout_s", "prompts", "allow_weak_isolation")
        return {name: getattr(settings, name) for name in names}


def run_job(job: dict) -> dict:
    """Train and evaluate one job (in the child); returns the result that is kept."""
    import polars as pl

    from gpu_ops.evaluation.benchmarks import evaluate_model
    from gpu_ops.state_db import open_call_cache
    from gpu_ops.training.sft import SFTParams, train_sft
    from wc_foundation.config.training import TargetConfig

    started = time.perf_counter()
    report = train_sft(
        job["model_path"], job["dataset_path"], job["out_dir"], SFTParams(**job["params"])
    )
    settings = job["evaluation"]
    target = TargetConfig.model_validate(job["target"])
    spec = target.model_copy(update={"model": report.output_dir, "slug": "sweep-target"})
    cache = open_call_cache(job["llm_cache"], job["state_url"])
    try:
        summary, results = evaluate_model(
            spec.to_model_spec(),
            benchmark=job["benchmark"],
            samples=settings["samples_per_problem"],
            temperature=settings["temperature"],
            max_new_tokens=settings["max_new_tokens"],
            max_problems=settings["max_problems"],
            timeout_s=settings["timeout_s"],
            cache=cache,
            prompts=settings["prompts"],
            allow_weak_isolation=settings["allow_weak_isolation"],
            prepared_dir=job["prepared_dir"],
        )
    finally:
        cache.close()
    rates = results.group_by("task_id").agg(pl.col("passed").cast(pl.Float64).mean())
    passed = {str(task): float(rate) for task, rate in rates.iter_rows()}
    return {
        "pass_at_1": float(summary["pass@1"][0]),
        "passed": passed,
        "train_rows": report.train_rows,
        "steps": report.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "weights_sha256": weights_sha256(Path(report.output_dir)),
    }


def weights_sha256(model_dir: Path) -> str:
    """One content hash of the trained weights (the *.safetensors files, or pytorch_model*.bin
    without them) under ``model_dir``: two runs with equal hashes trained bit-identical models.
    Other files are left out: training_args.bin, for one, holds the run's own output folder."""
    files = sorted(model_dir.rglob("*.safetensors")) or sorted(
        model_dir.rglob("pytorch_model*.bin")
    )
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(model_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m wc_demo.sweep_runs JOB.json", file=sys.stderr)
        return 2
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = run_job(job)
    out = Path(job["result_path"])
    partial = out.with_name(out.name + ".tmp")  # a crash mid-write leaves no torn result
    partial.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
    os.replace(partial, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
