"""Batched generation vs one prompt per call, on the tiny Llama, in one process.

The same seeded requests go through the transformers backend twice: once in batches of
`batch_size` (left padding, one KV-cached decode loop per batch) and once one prompt per call
(what the reference scripts do). Outputs must match (per-request seeds make a sample independent
of its batch); the ratio of tokens/s is the speedup. Median of several runs.

    python -m bench.bench_generation [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from gpu_ops.llm import Generation, ModelSpec, SamplingParams, load_model
from gpu_ops.tiny_model import build_tiny_model, build_tokenizer


def tiny_model_dir(root: Path | None = None) -> Path:
    """The bench's tiny model, built once into the temp dir (reused across runs)."""
    root = root or Path(tempfile.gettempdir()) / "wc_bench_tiny"
    return build_tiny_model(root / "model", tokenizer_dir=build_tokenizer(root / "tokenizer"))


def median_run(fn, repeats: int) -> tuple[float, list[Generation]]:
    times, out = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def run(quick: bool = False) -> dict:
    n_prompts, max_new_tokens, batch_size, repeats = (16, 16, 16, 3) if quick else (64, 64, 32, 3)
    model_dir = tiny_model_dir()
    model = load_model(ModelSpec(slug="tiny-bench", model=str(model_dir), batch_size=batch_size))
    systems = [f"You help with task {i}." + " Be precise." * (i % 5) for i in range(n_prompts)]
    prompts = [model.render_prequery(s) for s in systems]
    params = [
        SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=max_new_tokens, seed=i)
        for i in range(n_prompts)
    ]
    model.generate(prompts[:2], params[:2])  # warm-up
    batched_s, batched = median_run(lambda: model.generate(prompts, params), repeats)
    single_s, single = median_run(
        lambda: [model.generate([p], [s])[0] for p, s in zip(prompts, params, strict=True)], repeats
    )
    tokens = sum(g.completion_tokens for g in batched)
    return {
        "benchmark": "generation",
        "model": "tiny llama (2 layers, hidden 64)",
        "device": str(model.device),
        "prompts": n_prompts,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "repeats": repeats,
        "completion_tokens": tokens,
        "batched_seconds": round(batched_s, 3),
        "single_seconds": round(single_s, 3),
        "batched_tokens_per_s": round(tokens / batched_s),
        "single_tokens_per_s": round(tokens / single_s),
        "speedup": round(single_s / batched_s, 2),
        "outputs_identical": batched == single,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="16 prompts x 16 tokens instead of 64 x 64"
    )
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
