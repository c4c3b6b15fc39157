"""Embedding throughput: `embed_texts` vs plain `SentenceTransformer.encode`, same texts, same model.

Texts: seeded synthetic instructions of mixed length (5-60 words). Both sides use batch size 64
and produce L2-normalized vectors; we report sentences/s (median of runs) and the cosine agreement
(min over texts) between the two outputs.

    python -m bench.bench_embeddings [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from gpu_ops.embeddings import embed_texts, load_embedding_model

SENTENCE_WORDS = (
    "write a python function that sorts list of integers explain how recursion works in rust "
    "fix the bug in this javascript loop implement binary search tree with insert delete and "
    "find parse json file read csv compute average handle errors gracefully async await"
)


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = SENTENCE_WORDS.split()
    return [" ".join(rng.choice(words, size=int(rng.integers(5, 61)))) for _ in range(n)]


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool = False) -> dict:
    n, repeats = (32, 3) if quick else (256, 3)
    texts = make_texts(n)
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 texts instead of 256")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
