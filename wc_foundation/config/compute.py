"""The `compute` section: where the arena's work and shared state live (one machine or a cluster).

Why a section of its own: these settings say where to run, never what to compute, so they are
in no stage hash: the same arena gives the same results on one machine or on N nodes.
The env vars `WC_RAY_ADDRESS` and `WC_STATE_URL` override the file (one config, many hosts).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from wc_foundation.config.base import _Strict


class ComputeConfig(_Strict):
    """`compute:` in the arena config."""

    ray_address: str | None = Field(
        default=None,
        description="a Ray cluster (host:port of its head, or 'auto'): sandbox runs, embeddings and rating "
        "bootstraps run as Ray tasks on its nodes; unset: local processes (env WC_RAY_ADDRESS)",
    )
    state_url: str | None = Field(
        default=None,
        description="a postgresql:// URL holding the LLM call cache and the execution cache, "
        "shared by every driver; unset: SQLite files under $WC_HOME/cache (env WC_STATE_URL)",
    )

    @field_validator("state_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value and not re.match(r"^postgres(ql)?://", value):
            raise ValueError(
                "must be a postgresql:// URL (leave it unset for the embedded SQLite caches)"
            )
        return value or None
