"""Stage 11: TRL SFT of the target model on the exported winners, then (optional) DPO / KTO on
the preference pairs; each in a child process."""

from pathlib import Path

import dagster as dg

from dagster_wc.metadata import png_image
from dagster_wc.orchestration.partitions import NEEDS_TARGET_TAG
from dagster_wc.resources import ArenaResource
from gpu_ops.llm.chat_template import BUNDLED_PREFIX, bundled_template
from gpu_ops.sft_data.preferences import JSONL_NAME as PREFERENCE_PAIRS_FILE
from gpu_ops.training.preference import run_preference_subprocess
from gpu_ops.training.sft import read_finished_report, run_sft_subprocess
from wc_foundation.config import PreferenceTrainingConfig, SFTConfig

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("target",)


def template_text(chat_template: str | None) -> str | None:
    """A configured chat template: `bundled:NAME`, Jinja text, or the path of a file holding it."""
    if chat_template and chat_template.startswith(BUNDLED_PREFIX):
        return bundled_template(chat_template.removeprefix(BUNDLED_PREFIX))
    if chat_template and Path(chat_template).is_file():
        return Path(chat_template).read_text(encoding="utf-8")
    return chat_template


def sft_params(sft: SFTConfig) -> dict:
    """The config's SFT section in `gpu_ops.training.sft.SFTParams` field names."""
    params = {
        "learning_rate": sft.learning_rate,
        "warmup_ratio": sft.warmup_ratio,
        "lr_scheduler_type": sft.lr_scheduler,
        "num_train_epochs": sft.epochs,
        "max_steps": sft.max_steps,
        "max_seq_len": sft.max_seq_len,
        "per_device_train_batch_size": sft.per_device_batch_size,
        "per_device_eval_batch_size": sft.per_device_batch_size,
        "gradient_accumulation_steps": sft.gradient_accumulation_steps,
        "packing": sft.packing,
        "precision": sft.precision,
        "num_processes": sft.num_processes,
        "num_machines": sft.num_machines,
        "accelerate_config": sft.accelerate_config,
        "validation_fraction": sft.validation_fraction,
        "seed": sft.seed,
        "use_lora": sft.lora is not None,
    }
    if sft.lora is not None:
        params.update(lora_r=sft.lora.r, lora_alpha=sft.lora.alpha, lora_dropout=sft.lora.dropout)
    return params


def target_sft_dir(arena: ArenaResource, slug: str) -> Path:
    """Where the target's SFT run keeps checkpoints, the model and sft_report.json."""
    return arena.home.models / "target_sft" / slug


def target_sft_job(arena: ArenaResource, dataset_path: Path, out_dir: Path) -> dict:
    """The SFT child process's job: the target's model, settings and chat template on a dataset."""
    target = arena.arena_config.target
    if target is None:
        raise dg.Failure("the config has no `target` model to train")
    return {
        "model_path": target.model,
        "dataset_path": str(dataset_path),
        "out_dir": str(out_dir),
        "params": {**sft_params(target.sft), "chat_template": template_text(target.chat_template)},
    }


@dg.asset(kinds={"python", "pytorch"}, deps=["sft_dataset"], tags={NEEDS_TARGET_TAG: "true"})
def target_model_sft(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """The fine-tuned target: loss on assistant tokens only, held-out split by instruction id."""
    target = arena.arena_config.target
    if target is None:
        raise dg.Failure("the config has no `target` model to train")
    job = target_sft_job(
        arena, arena.home.sft / "sft_dataset.jsonl", target_sft_dir(arena, target.slug)
    )

    def log(record: dict) -> None:
        if "loss" in record or "eval_loss" in record:
            context.log.info(f"sft {record}")

    report = run_sft_subprocess(job, log_callback=log)
    return dg.MaterializeResult(
        metadata={
            "model_dir": dg.MetadataValue.path(report.output_dir),
            "data_hash": report.data_hash,
            "steps": report.steps,
            "tokens": report.tokens,
            "seconds": round(report.seconds, 1),
            "train_rows": report.train_rows,
            "eval_rows": report.eval_rows,
            "final_train_loss": report.final_train_loss,
            "final_eval_loss": report.final_eval_loss,
            "resumed_from": report.resumed_from or "",
            "loss_curve": loss_plot(report.loss_history),
        }
    )


def target_preference_dir(arena: ArenaResource, slug: str) -> Path:
    """Where the target's preference run keeps checkpoints, the model and its report."""
    return arena.home.models / "target_preference" / slug


def preference_params(settings: PreferenceTrainingConfig) -> dict:
    """The config's `target.preference` in `gpu_ops.training.preference.PreferenceParams` names."""
    return {
        "method": settings.method,
        "beta": settings.beta,
        "learning_rate": settings.learning_rate,
        "sft_weight": settings.sft_weight,
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps,
        "per_device_train_batch_size": settings.per_device_batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "max_length": settings.max_seq_len,
        "precision": settings.precision,
        "seed": settings.seed,
    }


@dg.asset(
    kinds={"python", "pytorch"},
    deps=[target_model_sft, "preference_pairs"],
    tags={NEEDS_TARGET_TAG: "true"},
)
def target_model_preference(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """The SFT target trained further on the preference pairs (`target.preference`: dpo or
    kto); with `none` (the default) nothing is trained and the evaluation leaves it out."""
    target = arena.arena_config.target
    if target is None:
        raise dg.Failure("the config has no `target` model to train")
    settings = target.preference
    if settings.method == "none":
        return dg.MaterializeResult(metadata={"method": "none", "trained": False})
    sft_model = read_finished_report(target_sft_dir(arena, target.slug)).output_dir
    job = {
        "model_path": sft_model,
        "dataset_path": str(arena.home.sft / PREFERENCE_PAIRS_FILE),
        "out_dir": str(target_preference_dir(arena, target.slug)),
        "params": {
            **preference_params(settings),
            "chat_template": template_text(target.chat_template),
        },
    }

    def log(record: dict) -> None:
        if "loss" in record:
            context.log.info(f"{settings.method} {record}")

    report = run_preference_subprocess(job, log_callback=log)
    return dg.MaterializeResult(
        metadata={
            "method": settings.method,
            "trained": True,
            "model_dir": dg.MetadataValue.path(report.output_dir),
            "from_model": dg.MetadataValue.path(sft_model),
            "data_hash": report.data_hash,
            "pairs": report.train_rows,
            "steps": report.steps,
            "seconds": round(report.seconds, 1),
            "final_train_loss": report.final_train_loss,
            "loss_curve": loss_plot(report.loss_history),
        }
    )


def loss_plot(history: list[dict]) -> dg.MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3))
    for key in ("loss", "eval_loss"):
        points = [(h["step"], h[key]) for h in history if key in h and "step" in h]
        if points:
            axis.plot(
                *zip(*points, strict=True), marker="." if key == "eval_loss" else None, label=key
            )
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.legend()
    return png_image(figure)
