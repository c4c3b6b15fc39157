"""Resources: the arena config + home directory, and LLM models with the call cache."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import dagster as dg

from warriorcoder.config import ArenaConfig, ModelConfig, load_config
from warriorcoder.storage import Home


class ArenaResource(dg.ConfigurableResource):
    """The validated arena config and the home directory every stage reads and writes."""

    config_path: str
    home_dir: str | None = None

    @cached_property
    def home(self) -> Home:
        return Home.resolve(self.home_dir).ensure()

    @cached_property
    def arena_config(self) -> ArenaConfig:
        return load_config(self.config_path, home=self.home.root)

    @contextmanager
    def chat_model(self, model: ModelConfig, purpose: str = "llm") -> Iterator:
        """Load one model with the persistent call cache; release it when the stage is done.

        `purpose` is the asset asking (it names the cache's crash point for fault tests)."""
        from gpu_ops.llm import load_model
        from gpu_ops.state_db import open_call_cache

        cache = open_call_cache(self.home.llm_cache, self.arena_config.compute.state_url)
        loaded = load_model(model.to_model_spec(), cache=cache, purpose=purpose)
        try:
            yield loaded
        finally:
            close = getattr(loaded, "close", None)
            if close is not None:
                close()
            cache.close()
