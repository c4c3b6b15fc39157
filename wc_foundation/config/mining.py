"""The mining stage's section: Magpie-style pre-query sampling per expert."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from gpu_ops.worlds import find_world, reserves
from wc_foundation.config.base import WorldName, _Strict


class SamplingSetting(_Strict):
    """One point of the mining sampling grid."""

    temperature: Annotated[float, Field(ge=0.0, le=2.0)]
    top_p: Annotated[float, Field(gt=0.0, le=1.0)]

    @property
    def setting_id(self) -> str:
        return f"t{self.temperature:g}-p{self.top_p:g}"


class MiningConfig(_Strict):
    languages: tuple[str, ...] = ("python",)
    sampling_grid: tuple[SamplingSetting, ...] = (
        SamplingSetting(temperature=1.0, top_p=1.0),
        SamplingSetting(temperature=1.1, top_p=0.995),
        SamplingSetting(temperature=1.2, top_p=0.99),
    )
    system_prompt: str = Field(
        default="paper",
        description="'paper' (step-by-step guidance on {language} coding problems), 'none' (no system "
        "turn, the model's own default), or a custom text where {language} is replaced",
    )
    samples_per_setting: Annotated[int, Field(ge=1)] = 1000
    max_new_tokens: Annotated[int, Field(ge=1)] = 2048
    seed: int = 0
    min_instruction_chars: Annotated[int, Field(ge=0)] = 16
    max_instruction_chars: Annotated[int, Field(ge=1)] = 4000
    reserved_worlds: tuple[WorldName, ...] = Field(
        default=(),
        description="worlds whose reserved instructions (World.reserved_reason: e.g. the tasks the "
        "judges were trained on) the cleaning drops before they reach the arena (drop_reason "
        "`reserved`); name every world whose judges or tasks the arena uses, e.g. demo-world",
    )

    @field_validator("reserved_worlds")
    @classmethod
    def _reserving(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        idle = [name for name in value if not reserves(find_world(name))]
        if idle:
            raise ValueError(
                f"reserved_worlds: {idle} keep no instruction out (no reserved_reason)"
            )
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("languages must name at least one programming language")
        return value

    def system_prompts(self) -> dict[str, str | None] | None:
        """The per-language override for `gpu_ops.curation.mining.mine_instructions` (None = the paper's)."""
        if self.system_prompt == "paper":
            return None
        if self.system_prompt == "none":
            return dict.fromkeys(self.languages)
        return {
            language: self.system_prompt.replace("{language}", language)
            for language in self.languages
        }

    @field_validator("sampling_grid")
    @classmethod
    def _grid(cls, value: tuple[SamplingSetting, ...]) -> tuple[SamplingSetting, ...]:
        if not value:
            raise ValueError("sampling_grid needs at least one {temperature, top_p} setting")
        ids = [s.setting_id for s in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"sampling_grid repeats a setting: {ids}")
        return value

    @model_validator(mode="after")
    def _char_bounds(self) -> MiningConfig:
        if self.min_instruction_chars >= self.max_instruction_chars:
            raise ValueError(
                f"min_instruction_chars ({self.min_instruction_chars}) must be below "
                f"max_instruction_chars ({self.max_instruction_chars})"
            )
        return self
