"""Preference training of the SFT target with TRL: DPO on the pairs, or KTO on them unpaired.

The battles' preference pairs (`gpu_ops.sft_data.preferences`: prompt, chosen, rejected) train
the SFT target further. DPO reads them as they are; KTO reads each pair as two unpaired rows,
the chosen response desirable and the rejected one undesirable. The run machinery is the SFT
stage's: a run key over model, data and settings (a finished run is reused, an unfinished one
resumes from its last checkpoint), the JSON-lines log, the report, and a child process so
training memory never lives in the orchestrator (`preference_worker`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.training.sft import (
    CHECKPOINT_SUBDIR,
    MODEL_SUBDIR,
    REPORT_FILE,
    LogCallback,
    SFTParams,
    SFTReport,
    _atomic_write,
    _emit,
    _finished_report,
    _last_checkpoint,
    _loss_history,
    _prepare_run_dir,
    _save_final_model,
    _trainer_callbacks,
    file_hash,
    load_for_training,
    stream_worker,
)

METHODS = ("dpo", "kto")
WORKER_MODULE = "gpu_ops.training.preference_worker"


@dataclass(frozen=True)
class PreferenceParams:
    """DPO / KTO settings; defaults are TRL's usual ones (beta 0.1) with a small learning rate."""

    method: str = "dpo"
    beta: float = 0.1
    learning_rate: float = 5e-7
    # DPO only: weight of an SFT term, the chosen answer's negative log-likelihood (RPO, Pang et
    # al. 2024), against the likelihood displacement that lowers chosen and rejected alike
    sft_weight: float = 0.0
    num_train_epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 1024
    precision: str = "auto"
    seed: int = 0
    logging_steps: int = 1
    save_steps: int = 200
    chat_template: str | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.method in METHODS, f"method must be one of {METHODS}, got {self.method!r}"),
            (self.beta > 0, "beta must be > 0"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.sft_weight >= 0, "sft_weight must be >= 0"),
            (
                self.sft_weight == 0 or self.method == "dpo",
                "sft_weight (the chosen answer's SFT term) applies to dpo only",
            ),
            (
                self.num_train_epochs > 0 or self.max_steps > 0,
                "num_train_epochs or max_steps must be > 0",
            ),
            (self.per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.max_length >= 16, "max_length must be >= 16"),
            (self.precision in ("auto", "bf16", "fp32"), "precision must be auto, bf16 or fp32"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"PreferenceParams: {message}")


def load_preference_rows(dataset_path: str | Path) -> list[dict[str, Any]]:
    """Rows {prompt, chosen, rejected} (chat messages) from the preference export."""
    path = Path(dataset_path)
    if not path.is_file():
        raise InputError(f"preference dataset not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"preference dataset {path.name} is empty: nothing to train on")
    try:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path)
    except pl.exceptions.PolarsError as error:
        raise InputError(f"preference dataset {path.name} cannot be read: {error}") from None
    missing = {"prompt", "chosen", "rejected"} - set(frame.columns)
    if missing:
        raise InputError(f"preference dataset {path.name} lacks columns {sorted(missing)}")
    rows = [
        {key: [{"role": m["role"], "content": m["content"]} for m in row[key]] for key in row}
        for row in frame.select("prompt", "chosen", "rejected").iter_rows(named=True)
    ]
    if not rows:
        raise InputError(f"preference dataset {path.name} has no pairs: nothing to train on")
    return rows


def kto_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each pair as two unpaired KTO rows: the chosen completion desirable, the rejected not."""
    out = []
    for row in rows:
        out.append({"prompt": row["prompt"], "completion": row["chosen"], "label": True})
        out.append({"prompt": row["prompt"], "completion": row["rejected"], "label": False})
    return out


def preference_run_key(model_path: str | Path, data_hash: str, params: PreferenceParams) -> str:
    """Identity of a run: same key -> resume or reuse; another key -> start over."""
    identity = {k: v for k, v in dataclasses.asdict(params).items() if k != "logging_steps"}
    if not params.sft_weight:  # no SFT term: the key of the runs made before the setting was
        del identity["sft_weight"]  # added, so a finished run stays finished
    payload = {"model": str(Path(model_path).resolve()), "data": data_hash, **identity}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def train_preference(
    model_path: str | Path,
    dataset_path: str | Path,
    out_dir: str | Path,
    params: PreferenceParams,
    log_callback: LogCallback | None = None,
) -> SFTReport:
    """Train `model_path` on the preference pairs; save an HF model dir under out_dir/model."""
    out = Path(out_dir)
    data_hash = file_hash(dataset_path) if Path(dataset_path).is_file() else ""
    rows = load_preference_rows(dataset_path)
    key = preference_run_key(model_path, data_hash, params)
    finished = _finished_report(out, key)
    if finished is not None:
        _emit(log_callback, out, {"event": "skipped", "run_key": key})
        return finished
    _prepare_run_dir(out, key)
    started = time.perf_counter()
    trainer, tokenizer = build_preference_trainer(model_path, rows, out, params)
    for callback in _trainer_callbacks(lambda r: _emit(log_callback, out, r), None):
        trainer.add_callback(callback)
    last = _last_checkpoint(out / CHECKPOINT_SUBDIR)
    _emit(log_callback, out, {"event": "start", "run_key": key, "resume_from": last})
    result = trainer.train(resume_from_checkpoint=last)
    history = _loss_history(trainer.state.log_history)
    losses = [h["loss"] for h in history if "loss" in h]
    report = SFTReport(
        data_hash=data_hash,
        steps=int(trainer.state.global_step),
        tokens=0,
        seconds=round(time.perf_counter() - started, 3),
        final_train_loss=losses[-1] if losses else float(result.training_loss),
        final_eval_loss=None,
        loss_history=history,
        output_dir=str(out / MODEL_SUBDIR),
        run_key=key,
        completed=True,
        resumed_from=last,
        train_rows=len(rows),
        loss_mode=params.method,
        params=dataclasses.asdict(params),
    )
    _save_final_model(trainer, tokenizer, out / MODEL_SUBDIR, SFTParams())
    _atomic_write(out / REPORT_FILE, report.to_json())
    _emit(log_callback, out, {"event": "end", "completed": True, "steps": report.steps})
    return report


def build_preference_trainer(
    model_path: str | Path, rows: list[dict[str, Any]], out: Path, params: PreferenceParams
) -> tuple[Any, Any]:
    """A TRL DPOTrainer (pairs) or KTOTrainer (unpaired rows); the reference model is TRL's
    frozen copy of the starting (SFT) model."""
    from datasets import Dataset

    model, tokenizer, on_cuda, bf16 = load_for_training(
        model_path, params, "set the target's chat_template"
    )
    common = {
        "output_dir": str(out / CHECKPOINT_SUBDIR),
        "beta": params.beta,
        "learning_rate": params.learning_rate,
        "num_train_epochs": params.num_train_epochs,
        "max_steps": params.max_steps,
        "per_device_train_batch_size": params.per_device_train_batch_size,
        "gradient_accumulation_steps": params.gradient_accumulation_steps,
        "max_length": params.max_length,
        "seed": params.seed,
        "data_seed": params.seed,
        "logging_steps": params.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": params.save_steps,
        "save_total_limit": 1,
        "bf16": bf16,
        "use_cpu": not on_cuda,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    if params.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        if params.sft_weight > 0:  # TRL's loss mix: DPO's sigmoid loss + NLL of the chosen
            common |= {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, params.sft_weight]}
        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(**common),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
        )
    else:
        from trl import KTOConfig, KTOTrainer

        trainer = KTOTrainer(
            model=model,
            args=KTOConfig(**common),
            train_dataset=Dataset.from_list(kto_rows(rows)),
            processing_class=tokenizer,
        )
    return trainer, tokenizer


def run_preference_subprocess(
    job: dict[str, Any], log_callback: LogCallback | None = None, *, python: str | None = None
) -> SFTReport:
    """Run train_preference in a child process (`python -m gpu_ops.training.preference_worker
    JOB.json`). job: {"model_path", "dataset_path", "out_dir", "params": {PreferenceParams}}."""
    missing = {"model_path", "dataset_path", "out_dir"} - set(job)
    if missing:
        raise InputError(f"preference job lacks keys {sorted(missing)}")
    PreferenceParams(**job.get("params", {}))  # fail fast on bad params, in this process
    load_preference_rows(job["dataset_path"])  # and on missing or empty pairs
    out = Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    job_path = out / "preference_job.json"
    _atomic_write(job_path, json.dumps(job, indent=2, sort_keys=True, default=str))
    command = [python or sys.executable, "-m", WORKER_MODULE, str(job_path)]
    report = stream_worker(command, out, log_callback, what="preference training")
    return SFTReport.from_dict(report)
