"""Batched generation vs one prompt per call, on the tiny Llama, in one process.

The same seeded requests go through the transformers backend twice: once in batches of
`batch_size` (left padding, one KV-cached decode loop per batch) and once one prompt per call
(what the reference scripts do). Outputs must match (per-request seeds make a sample independent
of its batch); the ratio of tokens/s is the speedup. Median of several runs. Peak RSS is taken
over the batched runs (model loaded, largest batch's KV cache).

    python -m bench.bench_generation [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.timing import PeakMemory, median_timed
from gpu_ops.llm import ModelSpec, SamplingParams, load_model
from wc_demo.tiny_model import build_tiny_model, build_tokenizer


def tiny_model_dir(root: Path | None = None) -> Path:
    """The bench's tiny model, built once into the temp dir (reused across runs)."""
    root = root or Path(tempfile.gettempdir()) / "wc_bench_tiny"
    return build_tiny_model(root / "model", tokenizer_dir=build_tokenizer(root / "tokenizer"))


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    """Full: 64 prompts x 64 new tokens, batch 32; quick: 16 x 16; smoke: 4 x 4, one run."""
    if smoke:
        n_prompts, max_new_tokens, batch_size, repeats = 4, 4, 4, 1
    elif quick:
        n_prompts, max_new_tokens, batch_size, repeats = 16, 16, 16, 3
    else:
        n_prompts, max_new_tokens, batch_size, repeats = 64, 64, 32, 3
    model_dir = tiny_model_dir()
    model = load_model(ModelSpec(slug="tiny-bench", model=str(model_dir), batch_size=batch_size))
    systems = [f"You help with task {i}." + " Be precise." * (i % 5) for i in range(n_prompts)]
    prompts = [model.render_prequery(s) for s in systems]
    params = [
        SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=max_new_tokens, seed=i)
        for i in range(n_prompts)
    ]
    model.generate(prompts[:2], params[:2])  # warm-up
    with PeakMemory() as memory:
        batched, batched_s = median_timed(lambda: model.generate(prompts, params), repeats)
    single, single_s = median_timed(
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
        "memory": memory.as_dict(),
    }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    identical = "outputs identical" if result["outputs_identical"] else "OUTPUTS DIFFER"
    return [
        (
            "generation (`bench_generation`)",
            f"tiny Llama, {result['prompts']} prompts x {result['max_new_tokens']} new tokens: "
            f"batched ({result['batch_size']}) vs one prompt per call",
            f"{result['batched_seconds']} s vs {result['single_seconds']} s: "
            f"**{result['speedup']}x**; {identical} (per-request seeds); peak RSS "
            f"{result['memory']['peak_rss_mib']:,.0f} MiB",
            "report",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="16 prompts x 16 tokens instead of 64 x 64"
    )
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
