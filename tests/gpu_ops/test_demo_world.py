"""The demo world: compositions, phrasing that reads back, hidden tests, the held-out split."""

from __future__ import annotations

import random

import pytest

from gpu_ops.evaluation.benchmarks import load_benchmark
from gpu_ops.evaluation.humaneval import evaluate_completions
from wc_demo import world


def test_every_task_reads_back_to_its_composition() -> None:
    tasks = world.all_tasks(seed=3)
    assert len(tasks) > 4000
    assert all(world.parse_instruction(t.instruction) == (t.family, t.steps) for t in tasks)
    assert {t.family for t in tasks} == {"text", "lists", "numbers", "words"}
    assert set(world.ARENA_FAMILIES) | set(world.JUDGING_FAMILIES) == set(world.FAMILY_BY_NAME)
    assert not set(world.ARENA_FAMILIES) & set(world.JUDGING_FAMILIES)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Write a Python function solve(s) that takes a string s. Return the result.",
        # a list step on a string
        "Write a Python function solve(s) that takes a string s. Reverse it, then double every "
        "number. Return the result.",
        # the wrong variable for the family
        "Implement solve(n) for a string s: reverse it, then convert it to uppercase, and return "
        "the result.",
        "Write a Python function solve(n) that takes an integer n. Square it. Return the result.",
        "Tell me a joke.",
    ],
)
def test_text_outside_the_world_gets_no_tests(text: str) -> None:
    assert world.parse_instruction(text) is None
    assert world.world_tests(text) == []


def test_hidden_tests_are_the_reference_run_on_fixed_inputs() -> None:
    tests = world.test_asserts("text", ("reverse", "upper"))
    assert tests[0] == "assert solve('hello world') == 'DLROW OLLEH'"
    assert len(tests) == len(world.FAMILY_BY_NAME["text"].inputs)
    assert world.test_asserts("numbers", ("add_three", "square"))[0] == "assert solve(17) == 400"


def test_reference_answer_comments_every_step_in_the_instructions_words() -> None:
    task = world.make_task("lists", ("evens", "sort_desc"), random.Random(0))
    code = world.reference_code(task.family, task.steps, task.phrases)
    lines = code.splitlines()
    assert lines[0] == "def solve(xs):" and lines[-1] == "    return xs"
    assert [line.strip("# ").strip() for line in lines[1:-1:2]] == list(task.phrases)
    assert all(phrase in task.instruction.lower() for phrase in task.phrases)


def test_wrong_answers_fail_the_hidden_tests() -> None:
    rng = random.Random(0)
    tasks = world.training_tasks()
    drawn = [(task, world.wrong_answer(task, rng)) for task in rng.sample(tasks, 200)]
    wrong = [(task, answer) for task, answer in drawn if answer is not None]
    assert len(wrong) > 150
    assert all(answer != task.response for task, answer in wrong)


def test_benchmark_is_held_out_balanced_and_never_in_training() -> None:
    problems = world.benchmark_problems(60)
    assert len(problems) == 60
    assert {p["family"] for p in problems} == {"text", "lists", "numbers"}
    training_keys = {t.key for t in world.training_tasks()}
    for problem in problems:
        assert world.is_benchmark_instruction(problem["instruction"])
        assert problem["task_id"].removeprefix("world/") not in training_keys
    assert not any(world.is_benchmark_instruction(t.instruction) for t in world.training_tasks())


def test_benchmark_loads_by_name_and_its_canonical_solutions_pass_in_the_sandbox() -> None:
    problems = load_benchmark("demo-world", max_problems=6)
    assert len(problems) == 6
    completions = {p["task_id"]: [p["canonical_solution"]] for p in problems}
    wrong = {p["task_id"]: ["def solve(x):\n    return x\n"] for p in problems}
    passed = evaluate_completions(problems, completions, allow_weak_isolation=True)
    assert passed["passed"].all()
    failed = evaluate_completions(problems, wrong, allow_weak_isolation=True)
    assert not failed["passed"].any()


def test_export_drops_every_phrasing_of_a_benchmark_task() -> None:
    import polars as pl

    from gpu_ops.sft_data.decontamination import drop_benchmark_tasks

    problem = world.benchmark_problems(3)[0]
    family, steps = world.parse_instruction(problem["instruction"])
    other_phrasing = world.make_task(family, steps, random.Random(99)).instruction
    training = world.training_tasks()[0].instruction
    rows = pl.DataFrame(
        {
            "instruction_id": ["a", "b", "c"],
            "instruction": [problem["instruction"], other_phrasing, training],
        }
    )
    kept, report = drop_benchmark_tasks(rows, "demo-world", world.benchmark_task_id)
    assert kept["instruction_id"].to_list() == ["c"]
    assert report["task_id"].to_list() == [problem["task_id"]] * 2
    assert set(report["benchmark"]) == {"demo-world"}


def test_no_held_out_behaviour_is_shared_by_any_training_composition() -> None:
    """Held out by behaviour: no composition that mining, judging or SFT can see passes a
    benchmark task's hidden tests (`first_five+upper+lower` behaves as `first_five+lower`: both
    are held out, or neither)."""
    seen = {(t.family, world.behaviour(t.family, t.steps)) for t in world.training_tasks()}
    for name in world.ARENA_FAMILIES:
        family = world.FAMILY_BY_NAME[name]
        heldout = [s for s in world.compositions(family) if world.is_heldout(name, s)]
        assert 100 < len(heldout) < 250, name  # about a tenth of the 1,584 compositions
        assert not {(name, world.behaviour(name, s)) for s in heldout} & seen
    # the judging-only family holds nothing out: all of it is the judges' ground
    words = world.FAMILY_BY_NAME["words"]
    assert not any(world.is_heldout("words", s) for s in world.compositions(words))


def test_benchmark_tasks_have_pairwise_distinct_behaviours() -> None:
    problems = world.benchmark_problems(150)
    assert len(problems) == 150
    behaviours = [world.behaviour(*world.parse_instruction(p["instruction"])) for p in problems]
    assert len(set(behaviours)) == len(behaviours)
    assert {p["family"] for p in problems} == set(world.ARENA_FAMILIES)


def test_reserved_instructions_are_the_judging_familys_tasks() -> None:
    rng = random.Random(5)
    words = world.FAMILY_BY_NAME["words"]
    for steps in rng.sample(list(world.compositions(words)), 50):
        instruction = world.make_task("words", steps, rng).instruction
        assert "judging-only family 'words'" in world.reserved_reason(instruction)
    for task in rng.sample(world.training_tasks(), 300):
        assert (world.reserved_reason(task.instruction) is None) == (task.family != "words")
    for problem in world.benchmark_problems(30):
        assert world.reserved_reason(problem["instruction"]) is None
    # a garbled attempt at a judging task is still the judges' ground (it parses as nothing)
    garbled = "Write a Python function solve(ws) that takes a list of words ws. Shuffle them."
    assert world.parse_instruction(garbled) is None
    assert "'words'" in world.reserved_reason(garbled)
    assert world.reserved_reason("Tell me a joke.") is None
