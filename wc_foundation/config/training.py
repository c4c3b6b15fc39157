"""The training stage's sections: the target model and its SFT settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from wc_foundation.config.base import _Strict
from wc_foundation.config.models import ModelConfig


class LoraConfig(_Strict):
    r: Annotated[int, Field(ge=1)] = 16
    alpha: Annotated[int, Field(ge=1)] = 32
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    target_modules: tuple[str, ...] | Literal["all-linear"] = "all-linear"


class SFTConfig(_Strict):
    learning_rate: Annotated[float, Field(gt=0)] = 1e-5
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.2
    lr_scheduler: str = "cosine"
    epochs: Annotated[float, Field(gt=0)] = 3
    max_seq_len: Annotated[int, Field(ge=16)] = 2048
    per_device_batch_size: Annotated[int, Field(ge=1)] = 8
    gradient_accumulation_steps: Annotated[int, Field(ge=1)] = 1
    packing: bool = False
    precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="auto: bf16 autocast on a bf16 GPU, else fp32; weights and optimizer state "
        "stay fp32 (master weights) in every case",
    )
    num_processes: Annotated[int, Field(ge=1)] = Field(
        default=1,
        description="training processes in all (one per GPU); more than 1 runs `accelerate "
        "launch`. Global batch = per_device_batch_size x gradient_accumulation_steps x this",
    )
    num_machines: Annotated[int, Field(ge=1)] = 1
    accelerate_config: str | None = Field(
        default=None,
        description="accelerate YAML (FSDP or DeepSpeed ZeRO-3), e.g. "
        "configs/accelerate/fsdp_full_shard.yaml; none = DDP",
    )
    lora: LoraConfig | None = None
    validation_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.05
    seed: int = 0
    max_steps: int = -1

    @model_validator(mode="after")
    def _machines_divide_processes(self) -> SFTConfig:
        if self.num_processes % self.num_machines:
            raise ValueError(
                f"num_processes ({self.num_processes}, in all) must be a multiple of "
                f"num_machines ({self.num_machines})"
            )
        return self

    @property
    def global_batch_size(self) -> int:
        """Sequences per optimizer step over all processes."""
        return self.per_device_batch_size * self.gradient_accumulation_steps * self.num_processes


class PreferenceTrainingConfig(_Strict):
    """An optional stage after SFT: the SFT target trained further on the preference pairs.

    `none` (the default) trains nothing; `dpo` uses TRL's DPOTrainer on the pairs as they are,
    `kto` TRL's KTOTrainer on them unpaired (chosen desirable, rejected undesirable).
    """

    method: Literal["none", "dpo", "kto"] = "none"
    beta: Annotated[float, Field(gt=0)] = 0.1
    learning_rate: Annotated[float, Field(gt=0)] = 5e-7
    sft_weight: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="dpo only: weight of an SFT term on the chosen answer (RPO, Pang et al. "
        "2024); DPO alone can lower the chosen answer's likelihood with the rejected one's",
    )
    epochs: Annotated[float, Field(gt=0)] = 1
    max_steps: int = -1
    per_device_batch_size: Annotated[int, Field(ge=1)] = 4
    gradient_accumulation_steps: Annotated[int, Field(ge=1)] = 1
    max_seq_len: Annotated[int, Field(ge=16)] = 1024
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _method_alone(cls, value: object) -> object:
        """`preference: dpo` is short for `preference: {method: dpo}`."""
        return {"method": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _sft_weight_needs_dpo(self) -> PreferenceTrainingConfig:
        if self.sft_weight > 0 and self.method != "dpo":
            raise ValueError(
                f"sft_weight ({self.sft_weight}) adds an SFT term to DPO's loss: it needs "
                f"method: dpo, not {self.method}"
            )
        return self


class TargetConfig(ModelConfig):
    """The model the SFT data trains; its base version is evaluated too."""

    sft: SFTConfig = SFTConfig()
    preference: PreferenceTrainingConfig = PreferenceTrainingConfig()
