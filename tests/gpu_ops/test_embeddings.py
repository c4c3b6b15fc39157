"""Embeddings with the bundled all-MiniLM-L6-v2: shape, unit norms, input order, parity with encode."""

import numpy as np
import polars as pl
import pytest

from gpu_ops.curation.embeddings import (
    bundled_model_dir,
    embed_file,
    embed_texts,
    load_embedding_model,
)
from gpu_ops.errors import InputError

TEXTS = [
    "Write a Python function that reverses a string.",
    "sort",
    "Explain the difference between a process and a thread in operating systems, with examples.",
    "How do I read a CSV file in Rust?",
    "Fix the off-by-one error in this loop.",
]


@pytest.fixture(scope="module")
def model():
    return load_embedding_model(device="cpu")


def test_bundled_model_dir_has_weights():
    assert (bundled_model_dir() / "model.safetensors").is_file()


def test_shape_norms_and_parity_with_encode(model):
    vectors = embed_texts(model, TEXTS, batch_size=2)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reference = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose((vectors * reference).sum(axis=1), 1.0, atol=1e-5)


def test_order_restored(model):
    vectors = embed_texts(model, TEXTS, batch_size=2)
    reversed_vectors = embed_texts(model, TEXTS[::-1], batch_size=3)
    np.testing.assert_allclose(reversed_vectors[::-1], vectors, atol=1e-5)
    assert embed_texts(model, [], batch_size=2).shape == (0, 384)


def test_bad_arguments(model):
    with pytest.raises(InputError):
        embed_texts(model, TEXTS, batch_size=0)
    with pytest.raises(InputError):
        embed_texts(model, ["ok", None])
    with pytest.raises(InputError, match="cannot load"):
        load_embedding_model("/nonexistent/model/dir", device="cpu")


def test_embed_file_npy_and_parquet(tmp_path, model):
    source = tmp_path / "in.jsonl"
    pl.DataFrame({"uid": ["a", "b", "c"], "prompt": TEXTS[:3]}).write_ndjson(source)
    npy = embed_file(source, text_field="prompt", out_path=tmp_path / "e.npy", model=model)
    matrix = np.load(npy)
    np.testing.assert_allclose(matrix, embed_texts(model, TEXTS[:3]), atol=1e-6)
    parquet = embed_file(
        source, text_field="prompt", id_field="uid", out_path=tmp_path / "e.parquet", model=model
    )
    frame = pl.read_parquet(parquet)
    assert frame["id"].to_list() == ["a", "b", "c"]
    np.testing.assert_allclose(np.array(frame["embedding"].to_list()), matrix, atol=1e-6)
    with pytest.raises(InputError, match=r"\.npy or \.parquet"):
        embed_file(source, text_field="prompt", out_path=tmp_path / "e.csv", model=model)
