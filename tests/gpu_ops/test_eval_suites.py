"""MBPP, HumanEval+ and MBPP+ loaded from small fixture files in their published formats and
checked in the sandbox: reference solutions pass, solutions that only fit the base tests fail
the plus inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from gpu_ops.evaluation.benchmarks import evaluate_model, load_benchmark
from gpu_ops.evaluation.humaneval import evaluate_completions, float_tolerance
from gpu_ops.evaluation.suites import detect_format, load_suite, parse_benchmark_spec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "evaluation"
MBPP = FIXTURES / "mbpp_tiny.jsonl"
MBPP_PLUS = FIXTURES / "MbppPlus_tiny.jsonl"
HUMANEVAL_PLUS = FIXTURES / "HumanEvalPlus_tiny.jsonl"
MBPP_PLUS_HUB = FIXTURES / "mbppplus_hub_tiny.jsonl"  # evalplus/mbppplus as the Hub serves it


def passed(problems: list[dict], completions: dict[str, str]) -> dict[str, bool]:
    by_id = {p["task_id"]: p for p in problems}
    results = evaluate_completions(by_id, {k: [v] for k, v in completions.items()}, timeout_s=20)
    return dict(zip(results["task_id"], results["passed"], strict=True))


def test_formats_are_detected() -> None:
    first = lambda path: json.loads(path.read_text().splitlines()[0])  # noqa: E731
    assert detect_format(first(MBPP)) == "mbpp"
    assert detect_format(first(MBPP_PLUS)) == "evalplus"
    assert detect_format(first(HUMANEVAL_PLUS)) == "evalplus"
    assert detect_format(first(MBPP_PLUS_HUB)) == "mbpp_hub_plus"
    with pytest.raises(InputError, match="unknown benchmark format"):
        detect_format({"question": "x"})


def test_mbpp_prompt_names_the_function_and_reference_passes() -> None:
    problems = load_suite(str(MBPP))
    assert [p["task_id"] for p in problems] == ["Mbpp/901", "Mbpp/902"]
    first = problems[0]
    assert first["entry_point"] == "largest_of_three"
    assert first["prompt"].startswith('"""\nWrite a function to return the largest')
    assert "assert largest_of_three(1, 2, 3) == 3" in first["prompt"]
    solutions = {p["task_id"]: "\n" + p["canonical_solution"] + "\n" for p in problems}
    assert passed(problems, solutions) == {"Mbpp/901": True, "Mbpp/902": True}
    wrong = {"Mbpp/901": "\ndef largest_of_three(a, b, c):\n    return c\n"}
    assert passed(problems, wrong) == {"Mbpp/901": False}


def test_hub_mbpp_plus_script_calls_the_candidate() -> None:
    # The Hub's script calls the function by name at module level; check binds that name to the
    # candidate, so the reference run records each call and the completion only answers them.
    problems = load_suite(str(MBPP_PLUS_HUB))
    assert [(p["task_id"], p["entry_point"]) for p in problems] == [("Mbpp/904", "max_of_list")]
    assert passed(problems, {"Mbpp/904": "\n" + problems[0]["canonical_solution"] + "\n"}) == {
        "Mbpp/904": True
    }
    # Right on the first input only: the script's later calls must reach the candidate too.
    first_only = "\ndef max_of_list(values):\n    return values[-1]\n"
    assert passed(problems, {"Mbpp/904": first_only}) == {"Mbpp/904": False}


def test_plus_inputs_catch_what_base_tests_miss() -> None:
    problems = load_suite(str(HUMANEVAL_PLUS))
    assert problems[0]["prompt"].startswith("def clamp(")
    correct = "    return max(low, min(x, high))\n"
    # Passes both base inputs, fails the plus input (-5, -10, -6).
    base_only = "    return 0 if x < low else (3 if x > high else x)\n"
    assert passed(problems, {"HumanEval/900": correct}) == {"HumanEval/900": True}
    assert passed(problems, {"HumanEval/900": base_only}) == {"HumanEval/900": False}


def test_mbpp_plus_uses_atol_for_floats() -> None:
    problems = load_suite(str(MBPP_PLUS))
    by_id = {p["task_id"]: p for p in problems}
    assert by_id["Mbpp/903"]["entry_point"] == "mean_of"
    # EvalPlus's per-task atol travels with the problem to the parent-side comparison.
    assert (by_id["Mbpp/903"]["atol"], by_id["Mbpp/901"]["atol"]) == (1e-9, 0.0)
    close = (
        "\ndef mean_of(values):\n    return sum(v for v in values) / float(len(values)) + 1e-12\n"
    )
    off = "\ndef mean_of(values):\n    return round(sum(values) / len(values), 1)\n"
    largest = "\ndef largest_of_three(a, b, c):\n    return sorted([a, b, c])[-1]\n"
    assert passed(problems, {"Mbpp/903": close, "Mbpp/901": largest}) == {
        "Mbpp/903": True,
        "Mbpp/901": True,
    }
    assert passed(problems, {"Mbpp/903": off}) == {"Mbpp/903": False}


def test_float_tolerance_follows_evalplus_and_refuses_bad_values() -> None:
    assert float_tolerance({"task_id": "HumanEval/0"}) == {}  # HumanEval: harness defaults
    assert float_tolerance({"task_id": "t", "atol": 0}) == {"abs_tol": 1e-6, "rel_tol": 1e-7}
    assert float_tolerance({"task_id": "t", "atol": 1e-9}) == {"abs_tol": 1e-9, "rel_tol": 1e-7}
    for bad in (-1.0, float("nan"), float("inf"), "1e-6", True):
        with pytest.raises(InputError, match="atol must be"):
            float_tolerance({"task_id": "t", "atol": bad})


def test_benchmark_specs_and_pass_at_1_per_benchmark() -> None:
    from fakes import FakeChatModel

    assert parse_benchmark_spec("mbpp+:/d/MbppPlus.jsonl") == ("mbpp+", "/d/MbppPlus.jsonl")
    assert parse_benchmark_spec("humaneval") is None
    assert parse_benchmark_spec("/data/x.jsonl") is None
    with pytest.raises(InputError, match="give a source"):
        parse_benchmark_spec("mbpp:")
    problems = load_benchmark(f"mbpp:{MBPP}")
    reference = {p["prompt"]: p["canonical_solution"] for p in problems}

    def reply(prompt, sampling):  # a chat model answering with the reference in a code block
        for stub, code in reference.items():
            if stub.strip() in prompt:
                return f"```python\n{code}\n```"
        return "no idea"

    summary, results = evaluate_model(FakeChatModel(reply_fn=reply), benchmark=f"mbpp:{MBPP}")
    assert summary["pass@1"].to_list() == [1.0] and results.height == 2


def test_hub_ids_fail_clearly_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(InputError, match="cannot load dataset 'evalplus/no-such-suite'"):
        load_suite("hf:evalplus/no-such-suite")
    with pytest.raises(InputError, match="not found"):
        load_suite("/no/such/MbppPlus.jsonl")
