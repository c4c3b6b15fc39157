"""The ratings stage's section: Bradley-Terry and online Elo with bootstrap CIs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
)

from wc_foundation.config.base import _Strict


class RatingConfig(_Strict):
    elo_k: Annotated[float, Field(gt=0)] = 40.0
    initial_rating: float = 1000.0
    scale: Annotated[float, Field(gt=0)] = 400.0
    base: Annotated[float, Field(gt=1)] = 10.0
    bootstrap_rounds: Annotated[int, Field(ge=0)] = 100
    bootstrap_unit: Literal["instruction", "vote"] = Field(
        default="instruction",
        description="what the bootstrap resamples: instructions with all their votes (votes on "
        "one instruction are correlated) or single votes (too-narrow intervals)",
    )
    seed: int = 0
    winner_rating: Literal["bt", "elo"] = Field(
        default="bt", description="rating behind P_global in winner selection"
    )
    elo_winner_value: Literal["median", "online"] = Field(
        default="median",
        description="with winner_rating elo: the bootstrap median, or the single online pass in "
        "the documented battle order (the paper's script)",
    )

    def winner_method(self) -> str:
        """The leaderboard rating winner selection reads: 'bt', 'elo' or 'elo_online'."""
        if self.winner_rating == "elo" and self.elo_winner_value == "online":
            return "elo_online"
        return self.winner_rating
