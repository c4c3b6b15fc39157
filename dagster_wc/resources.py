"""Resources: the arena config + home directory, and LLM models with the call cache.

A run in this process (`warriorcoder run`) loads its config once and hands it to every step
(`config_for_run`); a run that Dagster launches elsewhere (the UI, the sensor's runs) loads the
file named in the resource's config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import polars as pl

from wc_foundation.config import ArenaConfig, ModelConfig, load_config
from wc_foundation.storage import Home, StorageError, read_lake_table

_RUN_CONFIGS: dict[tuple[str, str], ArenaConfig] = {}  # (config path, home) -> the run's config


def _run_key(config_path: str | Path, home: Home) -> tuple[str, str]:
    return str(Path(config_path).resolve()), str(home.root.resolve())


@contextmanager
def config_for_run(config_path: str | Path, home: Home, config: ArenaConfig) -> Iterator[None]:
    """While the block runs, every `ArenaResource` of this config file and home uses `config`
    instead of reading the file again: one load per run."""
    key = _run_key(config_path, home)
    _RUN_CONFIGS[key] = config
    try:
        yield
    finally:
        _RUN_CONFIGS.pop(key, None)


class ArenaResource(dg.ConfigurableResource):
    """The validated arena config and the home directory every stage reads and writes."""

    config_path: str
    home_dir: str | None = None

    @cached_property
    def home(self) -> Home:
        return Home.resolve(self.home_dir).ensure()

    @cached_property
    def arena_config(self) -> ArenaConfig:
        loaded = _RUN_CONFIGS.get(_run_key(self.config_path, self.home))
        return loaded or load_config(self.config_path, home=self.home.root)

    def lake_table_or_none(self, table: str) -> pl.DataFrame | None:
        """A lake table, or None when no step has written it yet (what the asset checks read)."""
        try:
            return read_lake_table(self.home, table)
        except StorageError:
            return None

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
