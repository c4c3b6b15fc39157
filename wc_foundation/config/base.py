"""What every config section shares: strict models, slugs, roles, the config error."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
)

from gpu_ops.worlds import find_world, installed_names

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


RESERVED_JUDGE_SLUGS = {"execution"}


Backend = Literal["transformers", "vllm", "openai"]


Role = Literal["miner", "scorer", "competitor", "judge"]


ALL_ROLES: tuple[Role, ...] = ("miner", "scorer", "competitor", "judge")


class ConfigError(ValueError):
    """A config problem, with every offending field named."""


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf`/`.nan` in YAML is a typo, never a setting (and `int(inf)` in a
    # validator would crash instead of naming the field).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_slug(value: str) -> str:
    if not SLUG_PATTERN.match(value):
        raise ValueError(
            f"slug {value!r} is not usable as a partition key: use 1-63 characters of "
            "lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def _sampling(temperature: float, top_p: float, max_new_tokens: int):
    """A `gpu_ops.llm.SamplingParams` (imported lazily: config stays light)."""
    from gpu_ops.llm import SamplingParams

    return SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)


def _installed_world(name: str) -> str:
    if find_world(name) is None:
        raise ValueError(f"{name!r} names no installed world (gpu_ops.worlds): {installed_names()}")
    return name


WorldName = Annotated[str, AfterValidator(_installed_world)]  # a world plugin, e.g. demo-world
