"""Base models are evaluated with completion-style prompts (the raw stub, stop sequences);
instruction-tuned models through a chat turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import FakeChatModel

from gpu_ops.errors import InputError
from gpu_ops.evaluation.benchmarks import (
    COMPLETION_STOPS,
    cut_at_stop,
    evaluate_model,
    generate_completions,
)
from gpu_ops.llm import SamplingParams

PROBLEMS = [
    {
        "task_id": "Tiny/0",
        "prompt": 'def add(a, b):\n    """Return a + b."""\n',
        "entry_point": "add",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "canonical_solution": "    return a + b\n",
    },
    {
        "task_id": "Tiny/1",
        "prompt": 'def double(x):\n    """Return 2 * x."""\n',
        "entry_point": "double",
        "test": "def check(candidate):\n    assert candidate(4) == 8\n",
        "canonical_solution": "    return 2 * x\n",
    },
]
BODIES = {p["prompt"]: p["canonical_solution"] for p in PROBLEMS}


def base_model_reply(prompt: str, sampling: SamplingParams) -> str:
    """A base model continues the raw stub, then rambles on into another function."""
    return BODIES.get(prompt, "    pass\n") + "\n\ndef unrelated():\n    raise SystemExit(1)\n"


def test_completion_style_sends_the_raw_stub_with_stops() -> None:
    model = FakeChatModel(reply_fn=base_model_reply)
    completions = generate_completions(model, PROBLEMS, prompt_style="completion")
    assert model.calls == [("generate", 2)]
    assert model.seen_prompts == [p["prompt"] for p in PROBLEMS]  # no chat template around it
    assert all(p.stop == COMPLETION_STOPS for p in model.seen_sampling)
    assert completions["Tiny/0"] == ["    return a + b\n\n"]


def test_cut_at_stop_for_backends_that_run_on() -> None:
    assert cut_at_stop("    return 1\n\nprint(f())\n") == "    return 1\n"
    assert cut_at_stop("    return 1\n") == "    return 1\n"


def test_base_model_scores_with_completion_style_not_chat(tmp_path: Path) -> None:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    model = FakeChatModel(reply_fn=base_model_reply)
    summary, _ = evaluate_model(model, benchmark=str(path), prompt_style="completion")
    assert summary["pass@1"].to_list() == [1.0]
    # Through a chat turn the same base model never sees the bare stub: nothing passes.
    chat_summary, _ = evaluate_model(
        FakeChatModel(reply_fn=base_model_reply), benchmark=str(path), prompt_style="chat"
    )
    assert chat_summary["pass@1"].to_list() == [0.0]
    with pytest.raises(InputError, match="prompt_style"):
        generate_completions(model, PROBLEMS, prompt_style="fim")  # type: ignore[arg-type]
