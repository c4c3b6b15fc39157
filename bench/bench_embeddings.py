"""Embedding throughput: `embed_texts` vs plain `SentenceTransformer.encode`, same texts, same model.

Texts: seeded synthetic instructions of mixed length (5-60 words). Both sides use batch size 64
and produce L2-normalized vectors; we report sentences/s (median of runs) and the cosine agreement
(min over texts) between the two outputs, and the peak RSS while `embed_texts` runs (model
loaded: the stage's steady footprint).

    python -m bench.bench_embeddings [--quick]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from bench.timing import PeakMemory, median_seconds
from gpu_ops.curation.embeddings import embed_texts, load_embedding_model

SENTENCE_WORDS = (
    "write a python function that sorts list of integers explain how recursion works in rust "
    "fix the bug in this javascript loop implement binary search tree with insert delete and "
    "find parse json file read csv compute average handle errors gracefully async await"
)


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = SENTENCE_WORDS.split()
    return [" ".join(rng.choice(words, size=int(rng.integers(5, 61)))) for _ in range(n)]


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    """Full: 256 texts; quick: 32; smoke: 8 (one run)."""
    n, repeats = (8, 1) if smoke else (32, 3) if quick else (256, 3)
    texts = make_texts(n)
    with PeakMemory() as memory:
        model = load_embedding_model(device="auto")
        ours = embed_texts(model, texts, batch_size=64)
    plain = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    project_s = median_seconds(lambda: embed_texts(model, texts, batch_size=64), repeats)
    plain_s = median_seconds(
        lambda: model.encode(texts, batch_size=64, normalize_embeddings=True), repeats
    )
    return {
        "benchmark": "embeddings",
        "model": "all-MiniLM-L6-v2 (bundled)",
        "device": str(model.device),
        "texts": n,
        "repeats": repeats,
        "project_sentences_per_s": round(n / project_s, 1),
        "encode_sentences_per_s": round(n / plain_s, 1),
        "speed_ratio": round(plain_s / project_s, 2),
        "min_cosine_agreement": float((ours * plain).sum(axis=1).min()),
        "memory": memory.as_dict(),
    }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    return [
        (
            "embeddings (`bench_embeddings`)",
            f"{result['texts']} texts, bundled all-MiniLM-L6-v2, {result['device']}: "
            "`embed_texts` (length-sorted batches) vs plain `model.encode`",
            f"{result['project_sentences_per_s']} vs {result['encode_sentences_per_s']} "
            f"sentences/s ({result['speed_ratio']}x); minimum cosine agreement "
            f"{result['min_cosine_agreement']:.7f}; peak RSS (load + embed) "
            f"{result['memory']['peak_rss_mib']:,.0f} MiB",
            "report",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 texts instead of 256")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
