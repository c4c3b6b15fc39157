"""SFT throughput on the tiny Llama: tokens/s with and without packing, in one process.

Data: demo-world tasks (wc_demo.world) as single-turn chats; two- and three-step tasks give
sequence lengths that vary as in real SFT data. Each configuration trains the same random-init model for the same
number of optimizer steps with `train_sft`; tokens are the non-padding input tokens TRL counts.
Packing (TRL best-fit-decreasing, padding-free) fills every row, so it should process more real
tokens per second than padded batches. The baseline is the unpacked run.

    python -m bench.bench_sft [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.timing import PeakMemory
from gpu_ops.training.sft import SFTParams, train_sft
from wc_demo.tiny_model import build_tiny_model, build_tokenizer
from wc_demo.world import example_frame, sft_rows


def _train(
    model_dir: Path, dataset: Path, out: Path, *, packing: bool, steps: int
) -> dict[str, Any]:
    params = SFTParams(
        learning_rate=1e-3,
        max_steps=steps,
        max_seq_len=512,
        per_device_train_batch_size=8,
        packing=packing,
        validation_fraction=0.0,
        logging_steps=steps,
        save_steps=10_000,
    )
    with PeakMemory() as memory:
        report = train_sft(model_dir, dataset, out, params)
    return {
        "steps": report.steps,
        "tokens": report.tokens,
        "seconds": report.seconds,
        "tokens_per_s": round(report.tokens / report.seconds, 1),
        "final_train_loss": round(report.final_train_loss or float("nan"), 4),
        "peak_rss_mib": memory.peak_mib,
    }


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    """Full: 30 optimizer steps per configuration; quick: 6; smoke: 2."""
    steps = 2 if smoke else 6 if quick else 30
    with tempfile.TemporaryDirectory(prefix="bench_sft_") as tmp:
        root = Path(tmp)
        tokenizer = build_tokenizer(root / "tokenizer")
        model = build_tiny_model(
            root / "model", tokenizer_dir=tokenizer, max_position_embeddings=512
        )
        rows = sft_rows(example_frame())
        dataset = root / "data.jsonl"
        dataset.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        padded = _train(model, dataset, root / "padded", packing=False, steps=steps)
        packed = _train(model, dataset, root / "packed", packing=True, steps=steps)
    return {
        "benchmark": "sft",
        "model": "tiny llama (64 hidden, 2 layers, 2k vocab), CPU",
        "examples": len(rows),
        "steps_per_config": steps,
        "batch_size": 8,
        "padded": padded,
        "packed": packed,
        "packing_speedup_tokens_per_s": round(packed["tokens_per_s"] / padded["tokens_per_s"], 2),
    }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    packed, padded = result["packed"], result["padded"]
    return [
        (
            "SFT (`bench_sft`)",
            f"tiny Llama, CPU, batch {result['batch_size']}, length 512, "
            f"{result['steps_per_config']} steps: tokens/s with and without packing",
            f"{packed['tokens_per_s']:,} vs {padded['tokens_per_s']:,} tokens/s "
            f"({result['packing_speedup_tokens_per_s']}x with packing); peak RSS "
            f"{max(packed['peak_rss_mib'], padded['peak_rss_mib']):,.0f} MiB",
            "report",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="6 steps per configuration instead of 30"
    )
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
