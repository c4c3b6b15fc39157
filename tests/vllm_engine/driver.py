"""Runs inside the separate vLLM env (`make vllm-env`): backend vllm through vllm.LLM.

    <vllm env>/bin/python -m tests.vllm_engine.driver stages MODEL_DIR OUT_JSON
    <vllm env>/bin/python -m tests.vllm_engine.driver bad-input OUT_JSON MODEL_DIR...

The engine core is a spawned process, hence the __main__ guard.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from gpu_ops.llm import ModelSpec, load_model


def spec(model_dir: str, **kwargs: object) -> ModelSpec:
    defaults = {"device": "cpu", "dtype": "float32", "max_model_len": 1024, "batch_size": 8}
    return ModelSpec(slug="tiny64", model=model_dir, backend="vllm", **{**defaults, **kwargs})


def stages(model_dir: str, out_path: str) -> None:
    from tests.vllm_engine.stages import run_stages, throughput

    started = time.perf_counter()
    model = load_model(spec(model_dir))
    start_seconds = time.perf_counter() - started
    result = run_stages(model)
    result["engine_start_seconds"] = round(start_seconds, 1)
    result["throughput"] = throughput(model)
    again = run_stages(model)  # the same seeds again: reproducible outputs
    result["rerun_equal"] = {k: again[k] == result[k] for k in ("mined", "responses", "seeded")}
    model.close()
    Path(out_path).write_text(json.dumps(result, indent=2))


def bad_input(out_path: str, *cases: str) -> None:
    """Each case 'name=model_dir[:max_model_len]': the error type and message, and how long."""
    report = {}
    for case in cases:
        name, target = case.split("=", 1)
        model_dir, _, max_len = target.partition(":")
        started = time.perf_counter()
        try:
            model = load_model(spec(model_dir, max_model_len=int(max_len) if max_len else 1024))
        except Exception as exc:  # the test checks type and message
            report[name] = {"error": type(exc).__name__, "message": str(exc)}
        else:
            model.close()
            report[name] = {"error": None, "message": "loaded"}
        report[name]["seconds"] = round(time.perf_counter() - started, 1)
    Path(out_path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"stages": stages, "bad-input": bad_input}[command](*args)
