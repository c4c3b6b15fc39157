"""The flywheel's section: how `warriorcoder flywheel` turns rounds of the arena.

No stage reads it, so it is in no step's version: each round runs a config derived from this one
(`warriorcoder.flywheel`), and that derived config is what the steps hash.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from wc_foundation.config.base import Role, _Strict


class FlywheelConfig(_Strict):
    """Rounds of the arena where round n's trained target joins round n+1 as an expert."""

    rounds: Annotated[int, Field(ge=1, le=50)] = Field(
        default=2, description="rounds `warriorcoder flywheel` runs (its --rounds overrides)"
    )
    control: bool = Field(
        default=True,
        description="beside each round >= 2, a control round: the same new mining and budget "
        "without the newly joined target, to separate what the target brings from more data",
    )
    target_start: Literal["base", "previous"] = Field(
        default="base",
        description="each round's SFT starts from the base target (base) or continues from the "
        "previous round's trained target (previous)",
    )
    joined_roles: tuple[Role, ...] = Field(
        default=("competitor",),
        description="the roles of a trained target when it joins as an expert; never 'judge' "
        "(it has no measured judging skill) and 'miner' only if its SFT trained the user turn",
    )

    @field_validator("joined_roles")
    @classmethod
    def _roles(cls, value: tuple[Role, ...]) -> tuple[Role, ...]:
        if "competitor" not in value:
            raise ValueError(
                "joined_roles must include 'competitor': a joined target is there to answer"
            )
        if "judge" in value:
            raise ValueError(
                "joined_roles must not include 'judge': a trained target has no measured "
                "judging skill (its votes would add noise to every battle it judges)"
            )
        if len(set(value)) != len(value):
            raise ValueError(f"joined_roles {list(value)} repeat a role")
        return value
