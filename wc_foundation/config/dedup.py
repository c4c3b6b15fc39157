"""The dedup stage's section: MinHash-LSH near-duplicate detection."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
)

from wc_foundation.config.base import _Strict


class DedupConfig(_Strict):
    threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    num_perm: Annotated[int, Field(ge=16, le=1024)] = 128
    shingle_size: Annotated[int, Field(ge=1, le=10)] = 1
