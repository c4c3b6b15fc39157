"""The selection stage's sections: instruction embeddings and KCenterGreedy selection."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
)

from wc_foundation.config.base import _Strict


class EmbeddingConfig(_Strict):
    model: str | None = Field(default=None, description="None = bundled all-MiniLM-L6-v2")
    batch_size: Annotated[int, Field(ge=1)] = 64
    device: str = "auto"


class SelectionConfig(_Strict):
    k: Annotated[float, Field(gt=0)] = 0.5
    first_center: Literal["medoid", "random"] | Annotated[int, Field(ge=0)] = "medoid"
    seed: int = 0

    @field_validator("k")
    @classmethod
    def _k(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError(
                f"k={value}: give an absolute count (integer >= 1) or a fraction in (0, 1)"
            )
        return value
