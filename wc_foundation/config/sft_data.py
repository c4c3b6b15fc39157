"""The sft_data stage's sections: winner selection, decontamination and the export."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
)

from wc_foundation.config.base import WorldName, _Strict


class WinnerConfig(_Strict):
    alpha: float = 0.7

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"alpha={value} is outside [0, 1]: it weighs global vs local scores")
        return value


class DecontaminationConfig(_Strict):
    ngram: Annotated[int, Field(ge=3, le=64)] = 13
    # humaneval: word n-gram overlap; demo-world: any instruction asking for a held-out
    # composition of the demo world, however worded (the world reads instructions back)
    benchmarks: tuple[Literal["humaneval"] | WorldName, ...] = ("humaneval",)
    extra_jsonl: tuple[str, ...] = ()


class ExportConfig(_Strict):
    """The exported SFT dataset: its license and the row-quality filter."""

    license: str = Field(
        default="other",
        description="Hub license id for the dataset card; the rows are model outputs, so the "
        "experts' licenses apply (e.g. llama3.3, qwen, deepseek): 'other' until you decide",
    )
    drop_flagged_rows: bool = Field(
        default=True,
        description="drop rows with U+FFFD in the text or Python code blocks that do not parse "
        "(counted in the card either way)",
    )
    earlier_winners: tuple[str, ...] = Field(
        default=(),
        description="sft_winners Parquet files of earlier rounds (written by `warriorcoder "
        "flywheel`): their rows join this run's winners before decontamination; an instruction "
        "this run decided keeps this run's winner, else the latest file's",
    )


class PreferenceConfig(_Strict):
    """Which battles become preference pairs (chosen = the winner, rejected = the loser).

    A pair is kept only when it is decided: the LLM votes of both presentation orders name the
    same winner as all votes together, and the vote margin reaches `min_margin`.
    """

    min_margin: float = Field(
        default=0.5,
        description="(votes for the winner - votes for the loser) / all votes of the battle, "
        "ties included; a pair below it is left out",
    )

    @field_validator("min_margin")
    @classmethod
    def _margin(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            raise ValueError(
                f"min_margin={value} is outside (0, 1]: it is a share of the battle's votes "
                "(1 = unanimous), and 0 would keep undecided battles"
            )
        return value
