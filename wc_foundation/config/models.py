"""Where a model lives and how to call it: experts and extra judges (the target: training)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from wc_foundation.config.base import ALL_ROLES, Backend, Role, _check_slug, _Strict


class ModelConfig(_Strict):
    """Where a model lives and how to call it (experts, extra judges and the target)."""

    slug: str
    model: str = Field(description="HF model id or local path")
    backend: Backend = "transformers"
    family: str | None = Field(
        default=None, description="model family, for same-family judge exclusion"
    )
    endpoints: tuple[str, ...] = Field(
        default=(), description="OpenAI-compatible base URLs (openai backend)"
    )
    api_key_env: str | None = Field(default=None, description="env var holding the API key")
    tokenizer: str | None = Field(
        default=None, description="tokenizer id/path when it differs from model"
    )
    chat_template: str | None = Field(
        default=None, description="Jinja text or path overriding the template"
    )
    default_system_prompt: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    max_model_len: Annotated[int, Field(ge=16)] | None = None
    revision: str | None = None
    batch_size: Annotated[int, Field(ge=1)] = 16
    request_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    max_retries: Annotated[int, Field(ge=1, description="attempts per request, openai backend")] = 5
    max_concurrency: Annotated[int, Field(ge=1)] = 16

    _slug = field_validator("slug")(_check_slug)

    @field_validator("endpoints")
    @classmethod
    def _endpoints_are_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.match(r"^https?://[^\s/]+", url):
                raise ValueError(f"endpoint {url!r} is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _backend_needs(self) -> ModelConfig:
        if self.backend == "openai" and not self.endpoints:
            raise ValueError(
                f"model {self.slug!r} uses backend 'openai' but has no endpoints: "
                "give at least one base URL such as http://localhost:8000/v1"
            )
        if self.backend != "openai" and self.endpoints:
            raise ValueError(
                f"model {self.slug!r} lists endpoints but its backend is {self.backend!r}: "
                "endpoints are only used by backend 'openai'"
            )
        return self

    def to_model_spec(self):
        """The `gpu_ops.llm.ModelSpec` for this model (imported lazily: config stays light)."""
        from gpu_ops.llm import ModelSpec

        return ModelSpec(
            slug=self.slug,
            model=self.model,
            backend=self.backend,
            endpoints=tuple(self.endpoints),
            api_key_env=self.api_key_env,
            tokenizer=self.tokenizer,
            chat_template=self.chat_template,
            default_system_prompt=self.default_system_prompt,
            dtype=self.dtype,
            device=self.device,
            tensor_parallel_size=self.tensor_parallel_size,
            max_model_len=self.max_model_len,
            revision=self.revision,
            batch_size=self.batch_size,
            request_timeout_s=self.request_timeout_s,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
        )


class ExpertConfig(ModelConfig):
    """An arena expert: mines, scores, competes and judges unless its roles say otherwise."""

    roles: tuple[Role, ...] = ALL_ROLES
    enabled: bool = True

    @field_validator("roles")
    @classmethod
    def _roles_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("roles must name at least one of " + ", ".join(ALL_ROLES))
        if len(set(value)) != len(value):
            raise ValueError(f"roles {list(value)} repeat a role")
        return value
