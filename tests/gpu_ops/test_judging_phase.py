"""Phase 2 of the demo experts: judge prompts labelled by execution, trained as the arena reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_ops.arena.judging import _judge_logprob
from gpu_ops.errors import InputError
from gpu_ops.llm import ModelSpec, load_model
from gpu_ops.prompts import VERDICT_PREFIX
from wc_demo import world
from wc_demo.judging_phase import (
    VERDICTS,
    JudgingRecipe,
    VerdictPrompt,
    encode_prompt,
    replay_conversations,
    score_answers,
    train_verdicts,
    verdict_choice_ids,
    verdict_prompts,
)


def test_every_pair_of_answers_is_judged_both_ways_with_the_execution_verdict() -> None:
    answers = {"x": ["ax"], "y": ["ay"], "z": ["az"]}
    scores = {"x": [1.0], "y": [0.5], "z": [0.5]}
    prompts = verdict_prompts(["do it"], answers, scores)
    got = {(p.first, p.second): p.verdict for p in prompts}
    assert got == {
        ("ax", "ay"): "A",
        ("ay", "ax"): "B",
        ("ax", "az"): "A",
        ("az", "ax"): "B",
        ("ay", "az"): "Tie",  # equal scores: the execution judge ties, so must the LLM judge
        ("az", "ay"): "Tie",
    }
    # position carries no information: each verdict for the first answer has its mirror
    assert sum(p.verdict == "A" for p in prompts) == sum(p.verdict == "B" for p in prompts)


@pytest.mark.slow
def test_answers_are_scored_in_the_sandbox_against_the_world_tests() -> None:
    task = world.training_tasks(seed=0)[0]
    wrong = world.wrong_answer(task, __import__("random").Random(0))
    scores = score_answers([task.instruction], {"right": [task.response], "wrong": [wrong]})
    assert scores["right"] == [1.0]
    assert scores["wrong"][0] < 1.0


def test_an_unknown_replay_source_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="replay must be one of"):
        JudgingRecipe(replay="peers")


def _writing(n: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"Reverse word {i}."}, {"role": "assistant", "content": "ref"}]
        for i in range(n)
    ]


def test_reference_replay_is_the_writing_data(tiny_model_dir: Path) -> None:
    recipe = JudgingRecipe(replay="references", replay_rows=2)
    assert replay_conversations(tiny_model_dir, _writing(5), recipe) == _writing(2)


def test_own_answer_replay_keeps_the_instructions_and_samples_the_answers(
    tiny_model_dir: Path,
) -> None:
    """Self-distillation: the writer's own answers replace the references, so the replay keeps
    the expert writing as the writer did (the battles then look like the judging data)."""
    recipe = JudgingRecipe(replay="own-answers", replay_rows=3, max_new_tokens=8)
    rows = replay_conversations(tiny_model_dir, _writing(5), recipe)
    assert 1 <= len(rows) <= 3
    for row in rows:
        assert [m["role"] for m in row] == ["user", "assistant"]
        assert row[0]["content"].startswith("Reverse word ")
        assert row[1]["content"].strip() and row[1]["content"] != "ref"
    assert replay_conversations(tiny_model_dir, _writing(5), recipe) == rows  # seeded


def test_the_prompt_ends_at_the_verdict_prefix(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = encode_prompt(tokenizer, VerdictPrompt("do it", "one", "two", "A"))
    assert tokenizer.decode(ids).endswith(VERDICT_PREFIX)
    choices = verdict_choice_ids(tokenizer)
    assert len({c[0] for c in choices}) == len(VERDICTS)


def test_no_prompts_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no judge prompts"):
        train_verdicts(tiny_model_dir, [], tmp_path / "out", JudgingRecipe(), steps=1)


def test_trained_verdicts_are_what_the_arena_reads(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Overfit three prompts, then judge them through the arena's own logprob path (full choices
    `A]]`/`B]]`/`Tie]]` through the transformers backend): the verdicts must be the trained ones."""
    good = "```python\ndef solve(s):\n    return s[::-1]\n```"
    bad = "I cannot help."
    prompts = [
        VerdictPrompt("Reverse s.", good, bad, "A"),
        VerdictPrompt("Reverse s.", bad, good, "B"),
        VerdictPrompt("Reverse s.", bad, bad, "Tie"),
    ]
    replay = [[{"role": "user", "content": "Reverse s."}, {"role": "assistant", "content": good}]]
    seen = []
    recipe = JudgingRecipe(batch_size=3, learning_rate=1e-2, replay_batch_size=1)
    summary = train_verdicts(
        tiny_model_dir,
        prompts,
        tmp_path / "judge",
        recipe,
        steps=60,
        replay=replay,
        progress=lambda step, loss, _model: seen.append((step, loss)),
        every=20,
    )
    assert [step for step, _ in seen] == [20, 40, 60]
    assert summary["steps"] == 60 and summary["replay_rows"] == 1
    assert summary["final_verdict_loss"] < seen[0][1]
    model = load_model(ModelSpec(slug="judge", model=str(tmp_path / "judge"), device="cpu"))
    shown = [{"instruction": p.instruction, "first": p.first, "second": p.second} for p in prompts]
    verdicts = [row["verdict"] for row in _judge_logprob(model, shown, system=False)]
    assert verdicts == ["first", "second", "tie"]
