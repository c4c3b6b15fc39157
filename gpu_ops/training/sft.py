"""Supervised fine-tuning of a target model on chat `messages` with TRL's SFTTrainer.

The loss covers assistant tokens only (the paper's reference code also trained on the prompt,
a defect). The validation split is carved by instruction id, so the same instruction never sits
on both sides and the split is stable when rows are reordered. A run is identified by its data
hash, model and parameters: re-running resumes from the last checkpoint, and a finished run is
skipped. `run_sft_subprocess` trains in a child process so training memory never lives in the
orchestrator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.failpoints import failpoint
from gpu_ops.training.launch import is_main_process, worker_command, world_size

LogCallback = Callable[[dict[str, Any]], None]

REPORT_FILE = "sft_report.json"
RUN_FILE = "sft_run.json"
LOG_FILE = "train_log.jsonl"
MODEL_SUBDIR = "model"
CHECKPOINT_SUBDIR = "checkpoints"

PRECISIONS = ("auto", "bf16", "fp32")

# Fields that change how far a run goes or how it is logged, not what it computes.
_NON_IDENTITY_FIELDS = frozenset(
    {"stop_after_steps", "logging_steps", "save_total_limit", "accelerate_config", "num_machines"}
)


@dataclass(frozen=True)
class SFTParams:
    """SFT hyperparameters; defaults follow the paper (lr 1e-5, warmup 0.2, cosine, 3 epochs, 2048)."""

    learning_rate: float = 1e-5
    warmup_ratio: float = 0.2
    lr_scheduler_type: str = "cosine"
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    max_seq_len: int = 2048  # clamped to the model's max_position_embeddings
    per_device_train_batch_size: int = 4
    per_device_eval_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    weight_decay: float = 0.0
    seed: int = 42
    logging_steps: int = 10
    eval_steps: int | None = None  # None: evaluate once per epoch
    save_steps: int = 200
    save_total_limit: int = 2
    validation_fraction: float = 0.05
    packing: bool = False
    use_lora: bool = False  # for large targets: train LoRA adapters, merge them on save
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    chat_template: str | None = None  # Jinja template for base models that have none
    # "auto": bf16 autocast on a GPU that supports it, else fp32; "bf16": autocast anywhere
    # (CPU too: slow, used to check the GPU path); "fp32": no autocast. The weights and the
    # optimizer state are fp32 in every case (fp32 master weights): at lr 1e-5 most updates
    # of bf16-stored weights would round away.
    precision: str = "auto"
    gradient_checkpointing: bool = True  # only applied on CUDA
    stop_after_steps: int | None = None  # stop early (checkpoint kept) and continue in a later call
    train_on_prompt: bool = False  # loss on user turns too: only for demo experts that must mine
    # Training processes in all (one per GPU): global batch = per-device batch x accumulation x
    # num_processes. More than 1 starts the worker under `accelerate launch` (DDP; FSDP or
    # DeepSpeed ZeRO-3 with `accelerate_config`, an accelerate YAML file).
    num_processes: int = 1
    num_machines: int = 1  # > 1: the worker is started on each node by hand (launch.py)
    accelerate_config: str | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (
                self.num_train_epochs > 0 or self.max_steps > 0,
                "num_train_epochs or max_steps must be > 0",
            ),
            (self.max_seq_len >= 16, "max_seq_len must be >= 16"),
            (self.per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1"),
            (self.per_device_eval_batch_size >= 1, "per_device_eval_batch_size must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.logging_steps >= 1, "logging_steps must be >= 1"),
            (self.save_steps >= 1, "save_steps must be >= 1"),
            (self.eval_steps is None or self.eval_steps >= 1, "eval_steps must be >= 1"),
            (0 <= self.validation_fraction < 1, "validation_fraction must be in [0, 1)"),
            (self.num_processes >= 1, "num_processes must be >= 1"),
            (
                self.num_machines >= 1 and self.num_processes % self.num_machines == 0,
                "num_machines must be >= 1 and divide num_processes (processes in all)",
            ),
            (
                self.precision in PRECISIONS,
                f"precision must be one of {PRECISIONS}, got {self.precision!r}",
            ),
            (
                self.stop_after_steps is None or self.stop_after_steps >= 1,
                "stop_after_steps must be >= 1",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"SFTParams: {message}")

    def identity(self) -> dict[str, Any]:
        """The fields that define what a run computes (used in the run key)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in _NON_IDENTITY_FIELDS}


@dataclass(frozen=True)
class SFTReport:
    """What a training run did; saved as out_dir/sft_report.json."""

    data_hash: str
    steps: int
    tokens: int
    seconds: float
    final_train_loss: float | None
    final_eval_loss: float | None
    loss_history: list[dict[str, float]]
    output_dir: str
    run_key: str = ""
    completed: bool = True
    resumed_from: str | None = None
    train_rows: int = 0
    eval_rows: int = 0
    loss_mode: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> SFTReport:
        names = {f.name for f in dataclasses.fields(SFTReport)}
        return SFTReport(**{k: v for k, v in data.items() if k in names})


class SFTWorkerError(RuntimeError):
    """The SFT child process failed; the message names the exit code and the last log lines."""


# ---------------------------------------------------------------- data


def load_sft_rows(dataset_path: str | Path) -> list[dict[str, Any]]:
    """Rows {"instruction_id", "messages"} from a JSONL or Parquet file, validated."""
    path = Path(dataset_path)
    if not path.is_file():
        raise InputError(f"SFT dataset not found: {path}")
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
    elif path.suffix in {".jsonl", ".json"}:
        frame = pl.read_ndjson(path)
    else:
        raise InputError(f"SFT dataset must be .jsonl or .parquet, got {path.name}")
    missing = {"messages", "instruction_id"} - set(frame.columns)
    if missing:
        raise InputError(f"SFT dataset {path.name} lacks columns {sorted(missing)}")
    rows = []
    for i, row in enumerate(frame.select("instruction_id", "messages").iter_rows(named=True)):
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"] or []]
        if not messages or messages[-1]["role"] != "assistant":
            raise InputError(f"SFT dataset row {i}: messages must end with an assistant turn")
        if any(m["role"] not in {"system", "user", "assistant"} for m in messages):
            raise InputError(f"SFT dataset row {i}: unknown role in messages")
        rows.append({"instruction_id": str(row["instruction_id"]), "messages": messages})
    if not rows:
        raise InputError(f"SFT dataset {path.name} is empty")
    return rows


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes (the data hash of a training run)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_validation_id(instruction_id: str, validation_fraction: float) -> bool:
    """Deterministic split by instruction id: a hash bucket below the fraction is held out."""
    bucket = int(hashlib.sha256(instruction_id.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return bucket < validation_fraction


def split_by_instruction(
    rows: list[dict[str, Any]], validation_fraction: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, validation) rows; all rows of one instruction id land on the same side."""
    train = [r for r in rows if not is_validation_id(r["instruction_id"], validation_fraction)]
    valid = [r for r in rows if is_validation_id(r["instruction_id"], validation_fraction)]
    if not train:
        raise InputError("the validation split took every row; lower validation_fraction")
    return train, valid


# ---------------------------------------------------------------- training


def run_key(model_path: str | Path, data_hash: str, params: SFTParams) -> str:
    """Identity of a run: same key -> resume or reuse; another key -> start over."""
    payload = {"model": str(Path(model_path).resolve()), "data": data_hash, **params.identity()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def train_sft(
    model_path: str | Path,
    dataset_path: str | Path,
    out_dir: str | Path,
    params: SFTParams | None = None,
    log_callback: LogCallback | None = None,
) -> SFTReport:
    """Fine-tune `model_path` on the chat dataset; save an HF model dir under out_dir/model.

    A finished run with the same key is returned as is; an unfinished one resumes from its
    last checkpoint under out_dir/checkpoints.
    """
    params = params or SFTParams()
    out = Path(out_dir)
    if not Path(dataset_path).is_file():
        raise InputError(f"SFT dataset not found: {dataset_path}")
    if world_size() != params.num_processes:
        raise InputError(
            f"SFT expects {params.num_processes} training process(es) but the launcher started "
            f"{world_size()}: the global batch would silently change"
        )
    main = is_main_process()
    if not main:
        log_callback = None  # rank 0 alone logs and writes run files

    def emit(record: dict[str, Any]) -> None:
        if main:
            _emit(log_callback, out, record)

    data_hash = file_hash(dataset_path)
    key = run_key(model_path, data_hash, params)
    finished = _finished_report(out, key)
    if finished is not None:
        emit({"event": "skipped", "run_key": key})
        return finished
    if main:
        _prepare_run_dir(out, key)
    rows = load_sft_rows(dataset_path)
    train_rows, eval_rows = split_by_instruction(rows, params.validation_fraction)
    started = time.perf_counter()
    trainer, tokenizer, loss_mode = build_trainer(model_path, train_rows, eval_rows, out, params)
    trainer.accelerator.wait_for_everyone()  # the run folder is ready on every rank
    for callback in _trainer_callbacks(emit, params.stop_after_steps):
        trainer.add_callback(callback)
    last = _last_checkpoint(out / CHECKPOINT_SUBDIR)
    emit(
        {
            "event": "start",
            "run_key": key,
            "resume_from": last,
            "train_rows": len(train_rows),
            "eval_rows": len(eval_rows),
        },
    )
    result = trainer.train(resume_from_checkpoint=last)
    completed = trainer.state.global_step >= trainer.state.max_steps
    history = _loss_history(trainer.state.log_history)
    eval_loss = None
    if completed and eval_rows:
        last_eval = [
            h for h in history if "eval_loss" in h and h["step"] == trainer.state.global_step
        ]
        eval_loss = (
            last_eval[-1]["eval_loss"] if last_eval else float(trainer.evaluate()["eval_loss"])
        )
        history = _loss_history(trainer.state.log_history)
    train_losses = [h["loss"] for h in history if "loss" in h]
    report = SFTReport(
        data_hash=data_hash,
        steps=int(trainer.state.global_step),
        tokens=int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0),
        seconds=round(time.perf_counter() - started, 3),
        final_train_loss=train_losses[-1] if train_losses else float(result.training_loss),
        final_eval_loss=eval_loss,
        loss_history=history,
        output_dir=str(out / MODEL_SUBDIR),
        run_key=key,
        completed=completed,
        resumed_from=last,
        train_rows=len(train_rows),
        eval_rows=len(eval_rows),
        loss_mode=loss_mode,
        params=dataclasses.asdict(params),
    )
    if completed:
        _save_final_model(trainer, tokenizer, out / MODEL_SUBDIR, params)
        if main:
            _atomic_write(out / REPORT_FILE, report.to_json())
    emit({"event": "end", "completed": completed, "steps": report.steps})
    return report


def build_trainer(
    model_path: str | Path,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    out_dir: str | Path,
    params: SFTParams,
) -> tuple[Any, Any, str]:
    """An SFTTrainer with assistant-only labels; returns (trainer, tokenizer, loss_mode).

    loss_mode "assistant_only": the template marks assistant turns with {% generation %}, so every
    assistant turn is trained. "completion_only": other templates; the conversation is split into
    prompt (all but the last turn) and completion (the last assistant turn) and only the
    completion is trained. "full" (SFTParams.train_on_prompt): every token is trained.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    from trl.chat_template_utils import has_generation_markers

    model, tokenizer, on_cuda, bf16 = load_for_training(
        model_path, params, "set SFTParams.chat_template"
    )
    max_len = min(
        params.max_seq_len,
        getattr(model.config, "max_position_embeddings", None) or params.max_seq_len,
    )
    if params.train_on_prompt:
        loss_mode = "full"
    elif has_generation_markers(tokenizer.chat_template):
        loss_mode = "assistant_only"
    else:
        loss_mode = "completion_only"
    to_example = _prompt_completion_example if loss_mode == "completion_only" else _messages_example
    train_ds = Dataset.from_list([to_example(r) for r in train_rows])
    eval_ds = Dataset.from_list([to_example(r) for r in eval_rows]) if eval_rows else None
    eval_strategy = "no" if eval_ds is None else ("steps" if params.eval_steps else "epoch")
    config = SFTConfig(
        output_dir=str(Path(out_dir) / CHECKPOINT_SUBDIR),
        learning_rate=params.learning_rate,
        warmup_steps=params.warmup_ratio,  # a float in [0, 1) is a ratio of total steps
        lr_scheduler_type=params.lr_scheduler_type,
        num_train_epochs=params.num_train_epochs,
        max_steps=params.max_steps,
        per_device_train_batch_size=params.per_device_train_batch_size,
        per_device_eval_batch_size=params.per_device_eval_batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        weight_decay=params.weight_decay,
        seed=params.seed,
        data_seed=params.seed,
        logging_steps=params.logging_steps,
        logging_first_step=True,
        eval_strategy=eval_strategy,
        eval_steps=params.eval_steps,
        save_strategy="steps",
        save_steps=params.save_steps,
        save_total_limit=params.save_total_limit,
        max_length=max_len,
        packing=params.packing,
        assistant_only_loss=loss_mode == "assistant_only",
        completion_only_loss=loss_mode == "completion_only",
        bf16=bf16,
        # CPU autocast (precision "bf16" without a GPU), and several CPU processes (gloo)
        use_cpu=not on_cuda and (bf16 or params.num_processes > 1),
        gradient_checkpointing=params.gradient_checkpointing and on_cuda,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_cuda,
    )
    peft_config = None
    if params.use_lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=params.lora_r,
            lora_alpha=params.lora_alpha,
            lora_dropout=params.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    return trainer, tokenizer, loss_mode


def load_for_training(model_path: str | Path, params: Any, template_hint: str) -> tuple:
    """(model, tokenizer, on_cuda, bf16) for a trainer: quiet progress bars, the run's seed, the
    tokenizer with its chat template (``params.chat_template`` overrides; none is an error naming
    ``template_hint``) and a pad token, and the model in fp32. fp32 master weights always: bf16
    training runs as autocast over them (the Trainer's ``bf16=True``), so the optimizer keeps fp32
    weights and moments. ``params`` has seed, precision and chat_template."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    set_seed(params.seed)
    on_cuda = torch.cuda.is_available()
    bf16 = autocast_bf16(params.precision, on_cuda, on_cuda and torch.cuda.is_bf16_supported())
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    if params.chat_template:
        tokenizer.chat_template = params.chat_template
    if not tokenizer.chat_template:
        raise InputError(f"{model_path} has no chat template; {template_hint}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
    return model, tokenizer, on_cuda, bf16


def autocast_bf16(precision: str, on_cuda: bool, cuda_bf16: bool) -> bool:
    """Whether training runs under bf16 autocast (see SFTParams.precision)."""
    if precision == "bf16" and on_cuda and not cuda_bf16:
        raise InputError("precision 'bf16': this GPU does not support bfloat16; use auto or fp32")
    return precision == "bf16" or (precision == "auto" and cuda_bf16)


def _messages_example(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": row["messages"]}


def _prompt_completion_example(row: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": row["messages"][:-1], "completion": row["messages"][-1:]}


def _save_final_model(trainer: Any, tokenizer: Any, model_dir: Path, params: SFTParams) -> None:
    """Save a plain HF model dir (LoRA merged) with the tokenizer and its chat template.

    Every rank takes part (FSDP and ZeRO-3 gather the sharded weights); rank 0 writes.
    """
    tmp = model_dir.with_name(model_dir.name + ".tmp")
    main = trainer.accelerator.is_main_process
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if params.use_lora:
        if main:
            trainer.model.merge_and_unload().save_pretrained(str(tmp), safe_serialization=True)
    else:
        trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if main:
        tokenizer.save_pretrained(str(tmp))
        shutil.rmtree(model_dir, ignore_errors=True)
        os.replace(tmp, model_dir)
    trainer.accelerator.wait_for_everyone()


def read_finished_report(out_dir: str | Path) -> SFTReport:
    """The report of a completed SFT run in `out_dir`; InputError when there is none.

    Readers (evaluation) take the model path from here rather than rebuilding it.
    """
    path = Path(out_dir) / REPORT_FILE
    try:
        report = SFTReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"no finished SFT run in {out_dir}: {REPORT_FILE} is missing") from None
    except (json.JSONDecodeError, TypeError) as error:
        raise InputError(f"{path} is not a valid SFT report: {error}") from None
    if not report.completed:
        raise InputError(f"the SFT run in {out_dir} did not complete ({report.steps} steps)")
    return report


def _finished_report(out: Path, key: str) -> SFTReport | None:
    path = out / REPORT_FILE
    if not path.is_file() or not (out / MODEL_SUBDIR / "config.json").is_file():
        return None
    try:
        report = SFTReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError):
        return None
    return report if report.run_key == key and report.completed else None


def _prepare_run_dir(out: Path, key: str) -> None:
    """Keep checkpoints of the same run (to resume); clear those of any other run."""
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / RUN_FILE
    previous = (
        json.loads(run_file.read_text(encoding="utf-8")).get("run_key")
        if run_file.is_file()
        else None
    )
    if previous != key:
        for name in (CHECKPOINT_SUBDIR, MODEL_SUBDIR, REPORT_FILE, LOG_FILE):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        _atomic_write(run_file, json.dumps({"run_key": key}))


def _last_checkpoint(checkpoints: Path) -> str | None:
    if not checkpoints.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoints))


def _loss_history(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    keep = ("step", "epoch", "loss", "eval_loss", "learning_rate")
    history = []
    for entry in log_history:
        if "loss" in entry or "eval_loss" in entry:
            history.append({k: float(entry[k]) for k in keep if k in entry})
    return history


def _emit(callback: LogCallback | None, out: Path, record: dict[str, Any]) -> None:
    """Append a record to out/train_log.jsonl and hand it to the callback."""
    record = {"time": round(time.time(), 3), **record}
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOG_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    if callback is not None:
        callback(record)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _trainer_callbacks(emit: Callable[[dict[str, Any]], None], stop_after: int | None) -> list[Any]:
    """Trainer callbacks, built lazily so importing this module does not import transformers."""
    from transformers import TrainerCallback

    class JsonLog(TrainerCallback):
        """Forwards every Trainer log (loss, eval_loss, learning rate) as a JSON record."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                clean = {k: v for k, v in logs.items() if isinstance(v, int | float | str)}
                emit({"event": "log", "step": int(state.global_step), **clean})

        def on_save(self, args, state, control, **kwargs):
            emit({"event": "checkpoint", "step": int(state.global_step)})
            failpoint("sft.checkpoint")  # the checkpoint is on disk: a crash here must resume

    class StopAfter(TrainerCallback):
        """Stops after N optimizer steps, saving a checkpoint there to resume from later."""

        def on_step_end(self, args, state, control, **kwargs):
            if stop_after is not None and state.global_step >= stop_after:
                control.should_save = True
                control.should_training_stop = True
            return control

    return [JsonLog(), StopAfter()]


# ---------------------------------------------------------------- child process


def run_sft_subprocess(
    job: dict[str, Any],
    log_callback: LogCallback | None = None,
    *,
    python: str | None = None,
    tail_lines: int = 20,
) -> SFTReport:
    """Run train_sft in a child process (`python -m gpu_ops.training.sft_worker JOB.json`, or
    `accelerate launch ... -m gpu_ops.training.sft_worker JOB.json` for several processes).

    job: {"model_path", "dataset_path", "out_dir", "params": {SFTParams fields}}. The child's
    JSON-lines log is streamed to log_callback. On failure raises SFTWorkerError naming the exit
    code and the last log lines; checkpoints already written stay for the next attempt.
    """
    missing = {"model_path", "dataset_path", "out_dir"} - set(job)
    if missing:
        raise InputError(f"SFT job lacks keys {sorted(missing)}")
    SFTParams(**job.get("params", {}))  # fail fast on bad params, in this process
    out = Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    job_path = out / "sft_job.json"
    _atomic_write(job_path, json.dumps(job, indent=2, sort_keys=True, default=str))
    params = SFTParams(**job.get("params", {}))
    if params.num_machines > 1 and Path(job["dataset_path"]).is_file():
        # A multi-node run is started by hand on each node; once it finished, reuse it here.
        key = run_key(job["model_path"], file_hash(job["dataset_path"]), params)
        finished = _finished_report(out, key)
        if finished is not None:
            return finished
    command = worker_command(
        job_path,
        python or sys.executable,
        num_processes=params.num_processes,
        num_machines=params.num_machines,
        accelerate_config=params.accelerate_config,
    )
    report = stream_worker(command, out, log_callback, tail_lines=tail_lines, what="SFT")
    return SFTReport.from_dict(report)


def stream_worker(
    command: list[str],
    out: Path,
    log_callback: LogCallback | None,
    *,
    tail_lines: int = 20,
    what: str = "SFT",
) -> dict[str, Any]:
    """Run a training worker, stream its JSON-lines log to log_callback, return its report.

    Raises SFTWorkerError naming the exit code and the last log lines when the worker fails or
    prints no report; checkpoints already written stay for the next attempt.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    tail: deque[str] = deque(maxlen=tail_lines)
    report: dict[str, Any] | None = None
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            if not line:
                continue
            tail.append(line)
            record = _parse_record(line)
            if record is None:
                continue
            if record.get("event") == "report":
                report = record["report"]
            elif log_callback is not None:
                log_callback(record)
        code = proc.wait()
    if code != 0 or report is None:
        last = "\n".join(tail) or "(no output)"
        raise SFTWorkerError(
            f"{what} worker for {out} exited with code {code}"
            f"{'' if code else ' without a report'}; checkpoints under {out / CHECKPOINT_SUBDIR} "
            f"are kept for resuming. Last log lines:\n{last}"
        )
    return report


def _parse_record(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and "event" in record else None
