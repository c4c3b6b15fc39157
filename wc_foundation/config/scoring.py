"""The scoring stage's section: difficulty / quality scores and the keep threshold."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
)

from wc_foundation.config.base import _sampling, _Strict


class ScoringConfig(_Strict):
    scorers: Literal["experts"] | tuple[str, ...] = "experts"
    mode: Literal["generate", "logprob"] = "generate"
    min_score: Annotated[float, Field(ge=1, le=10)] = 6
    score_own_instructions: bool = False
    max_new_tokens: Annotated[int, Field(ge=1)] = 512
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0

    def sampling(self):
        """What the scoring stage samples with (generate mode)."""
        return _sampling(self.temperature, self.top_p, self.max_new_tokens)
