"""Sentence embeddings across the cluster's nodes, equal to the one-process result.

Why shards of whole batches in the global length order: `embed_texts` batches texts of similar
length, and a batch's padding touches the numbers. Cutting the globally length-sorted texts into
shards of `shard_batches` whole batches gives every node exactly the batches one process would
run, so the vectors do not depend on how many nodes there are. Each worker loads the model once
(per process) and returns vectors; the driver writes the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache, partial

import numpy as np

from gpu_ops.cluster.executor import map_tasks, ray_address
from gpu_ops.curation.embeddings import embed_texts, load_embedding_model

SHARD_BATCHES = 8  # batches per Ray task: big enough to pay for the round trip


def embed_across(
    model_name: str | None,
    texts: Sequence[str],
    *,
    device: str = "auto",
    batch_size: int = 64,
    shard_batches: int = SHARD_BATCHES,
) -> np.ndarray:
    """float32 (n, d) L2-normalized embeddings in input order, on Ray when an address is set."""
    texts = list(texts)
    if ray_address() is None or len(texts) <= batch_size:
        return embed_texts(
            load_embedding_model(model_name, device=device), texts, batch_size=batch_size
        )
    order = np.argsort([-len(text) for text in texts], kind="stable")
    size = batch_size * max(1, shard_batches)
    shards = [
        [texts[i] for i in order[start : start + size]] for start in range(0, len(texts), size)
    ]
    parts = map_tasks(partial(_embed_shard, model_name, device, batch_size), shards)
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out


@lru_cache(maxsize=2)
def _model(model_name: str | None, device: str):
    return load_embedding_model(model_name, device=device)


def _embed_shard(
    model_name: str | None, device: str, batch_size: int, texts: list[str]
) -> np.ndarray:
    """Runs on a worker: one shard, already in descending length order (so the same batches)."""
    return embed_texts(_model(model_name, device), texts, batch_size=batch_size)
