"""Training and evaluation are deterministic on one machine: one seed, one set of weights, one
pass@1 (issue 26, item 6). Both go the way the demo's comparison goes: SFT in a child process
(`run_sft_subprocess`), then greedy decoding of the demo world's benchmark in the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from gpu_ops.evaluation.benchmarks import generate_completions, load_benchmark, summarize
from gpu_ops.evaluation.humaneval import evaluate_completions
from gpu_ops.llm import ModelSpec, load_model
from gpu_ops.training.sft import run_sft_subprocess
from wc_demo import world
from wc_demo.experts import build_demo_target
from wc_demo.world import Task

TASKS = 6  # benchmark tasks evaluated (two per arena family)


def sft_rows(n: int = 48) -> list[dict]:
    """Arena-family training tasks with their reference answers, as the SFT export writes them."""
    tasks: list[Task] = [t for t in world.training_tasks(seed=0) if t.family != "words"][::60][:n]
    return [
        {
            "instruction_id": task.key,
            "messages": [
                {"role": "user", "content": task.instruction},
                {"role": "assistant", "content": task.response},
            ],
        }
        for task in tasks
    ]


def train(base: Path, dataset: Path, out: Path, seed: int) -> Path:
    params = {
        "learning_rate": 3e-3,
        "warmup_ratio": 0.05,
        "max_steps": 6,
        "max_seq_len": 256,
        "per_device_train_batch_size": 8,
        "validation_fraction": 0.0,
        "save_steps": 10_000,
        "seed": seed,
    }
    job = {"model_path": str(base), "dataset_path": str(dataset), "out_dir": str(out)}
    report = run_sft_subprocess({**job, "params": params})
    return Path(report.output_dir)


def weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(model_dir / "model.safetensors")


def evaluate(model_dir: Path) -> tuple[float, dict[str, list[str]], pl.DataFrame]:
    """pass@1 as `evaluate_model` measures it (greedy, no call cache: a cache hit would hide
    nondeterminism), with the completions it scored."""
    problems = load_benchmark("demo-world", TASKS)
    model = load_model(ModelSpec(slug="target", model=str(model_dir), device="cpu", batch_size=4))
    try:
        completions = generate_completions(model, problems, temperature=0.0, max_new_tokens=48)
    finally:
        model.close()
    results = evaluate_completions(problems, completions, timeout_s=5, allow_weak_isolation=True)
    return float(summarize(results, 1)["pass@1"][0]), completions, results.sort("task_id")


@pytest.mark.slow
def test_one_seed_gives_one_set_of_weights_and_one_pass_at_1(tmp_path: Path, monkeypatch) -> None:
    import torch

    monkeypatch.setenv("WC_MODEL_CACHE", str(tmp_path / "cache"))
    base = build_demo_target(tmp_path / "models", quick=True)
    dataset = tmp_path / "train.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in sft_rows()), encoding="utf-8")

    first = train(base, dataset, tmp_path / "first", seed=7)
    second = train(base, dataset, tmp_path / "second", seed=7)
    a, b, before = weights(first), weights(second), weights(base)
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    assert not all(torch.equal(a[name], before[name]) for name in a)  # it did train

    pass_first, completions_first, results_first = evaluate(first)
    pass_second, completions_second, results_second = evaluate(second)
    assert len(results_first) == TASKS
    assert completions_first == completions_second  # greedy decoding: token for token
    assert pass_first == pass_second
    columns = ["task_id", "passed", "error_kind"]
    assert results_first.select(columns).equals(results_second.select(columns))
