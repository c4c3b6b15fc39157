"""The judging probe (scripts/judge_learnability.py): its pairs, line labels and deeper model."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from wc_demo import world

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location(
        "judge_learnability", REPO / "scripts/judge_learnability.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["other-family", "same-family", "mistakes"])
def test_every_failing_answer_is_of_its_kind_and_fails_the_hidden_tests(probe, kind) -> None:
    tasks = world.training_tasks(seed=0)
    by_response = {task.response: task for task in tasks}
    rng = random.Random(0)
    drawn = 0
    while drawn < 30:
        task = rng.choice(tasks)
        answer = probe.failing_answer(task, kind, tasks, rng)
        if answer is None:
            continue
        drawn += 1
        assert answer != task.response
        if kind == "mistakes":
            continue  # world.wrong_answer's own contract (tests/gpu_ops/test_demo_world.py)
        other = by_response[answer]  # another training task's passing answer
        assert (other.family == task.family) == (kind == "same-family")
        if kind == "same-family":
            assert world.test_asserts(task.family, other.steps) != world.test_asserts(
                task.family, task.steps
            )


def test_line_labels_mark_only_the_lines_that_differ(probe) -> None:
    passing = "a\nb\nc\n"
    labels = probe._line_labels(passing, "a\nX\nc\n")
    assert labels == [0, 0, 1, 1, 0, 0]
    assert probe._line_labels(passing, passing) == [0] * len(passing)


def test_prompts_end_at_the_verdict_and_label_the_answers(probe, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    prompts = probe.JudgePrompts(AutoTokenizer.from_pretrained(tiny_model_dir))
    task = world.training_tasks(seed=0)[0]
    wrong = world.wrong_answer(task, random.Random(3)) or world.training_tasks(seed=0)[-1].response
    ids, labels = prompts.encode(task.instruction, task.response, wrong, task.response)
    assert len(ids) == len(labels)
    assert prompts.tokenizer.decode(ids).endswith("[[")
    assert 1 in labels and 0 in labels  # the differing lines of the wrong answer, and the rest
    assert labels[0] == -100 and labels[-1] == -100  # nothing outside the answers is labelled
    assert set(prompts.encode(task.instruction, task.response, wrong)[1]) == {-100}


def test_stacked_layers_start_as_identities(probe, tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
        deeper = probe.stacked(model, len(model.model.layers) + 2).eval()
        after = deeper(input_ids=ids).logits
    assert len(deeper.model.layers) == len(model.model.layers) + 2
    assert model.config.num_hidden_layers == len(model.model.layers)  # the input is left as is
    assert torch.allclose(before, after, atol=1e-5)


def test_matching_prompts_ask_for_a_phrase_that_is_there_or_is_not(probe, tiny_model_dir) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = probe.matching_prompts(tokenizer, world.training_tasks(seed=0), 200, random.Random(1))
    assert 60 < sum(label for _, label in rows) < 140  # yes and no about equally often
    for ids, label in rows[:40]:
        text = tokenizer.decode(ids)
        instruction, phrase = text.split("Is this step asked for: ")
        phrase = phrase.split("<|end|>")[0].strip()
        assert (phrase.lower() in instruction.lower()) == (label == 0)
