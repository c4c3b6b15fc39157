"""Worlds are plugins: registered by entry point, looked up by name, never named by the product."""

from __future__ import annotations

import random

import pytest

import gpu_ops.worlds as worlds
from gpu_ops.arena.execution_judge import hidden_tests_source
from gpu_ops.errors import InputError
from gpu_ops.evaluation.benchmarks import benchmark_recognizer, load_benchmark
from wc_demo import world as demo
from wc_demo.plugin import WORLD


class ToyWorld:
    """A second world, to show that the product dispatches on the registry alone."""

    name = "toy"

    def hidden_tests(self, instruction: str) -> list[str]:
        return ["assert solve(1) == 2"] if "toy" in instruction else []

    def benchmark_problems(self, max_problems: int | None = None) -> list[dict]:
        return [{"task_id": f"toy/{i}", "instruction": "toy", "prompt": ""} for i in range(3)]

    def benchmark_task_id(self, instruction: str) -> str | None:
        return "toy/0" if instruction == "toy" else None


def test_the_demo_world_registers_itself_by_its_name() -> None:
    assert worlds.installed_worlds()["demo-world"] is WORLD
    assert isinstance(WORLD, worlds.World)
    instruction = demo.all_tasks()[0].instruction
    assert hidden_tests_source("demo-world")(instruction) == demo.world_tests(instruction)


def test_an_unknown_world_names_the_installed_ones() -> None:
    with pytest.raises(InputError, match=r"unknown world 'nowhere'; known: .*demo-world"):
        worlds.get_world("nowhere")
    assert worlds.find_world("humaneval") is None
    assert benchmark_recognizer("humaneval") is None


def test_the_product_looks_worlds_up_in_the_registry(monkeypatch) -> None:
    monkeypatch.setattr(worlds, "installed_worlds", lambda: {"toy": ToyWorld()})
    assert [p["task_id"] for p in load_benchmark("toy", max_problems=2)] == ["toy/0", "toy/1"]
    assert hidden_tests_source("toy")("a toy task") == ["assert solve(1) == 2"]
    recognize = benchmark_recognizer("toy")
    assert recognize("toy") and not recognize("something else")
    with pytest.raises(InputError, match="unknown hidden_tests source 'demo-world'; known: toy"):
        hidden_tests_source("demo-world")


def test_a_world_may_keep_instructions_out_of_the_arena(monkeypatch) -> None:
    """`reserved_reason` is optional: the demo world reserves its judging-only family (the
    judges' training data), a world without the method reserves nothing and cannot be named."""
    assert worlds.reserves(WORLD) and not worlds.reserves(ToyWorld())
    assert isinstance(ToyWorld(), worlds.World)  # the optional method is not part of World
    rng = random.Random(0)
    judged = demo.make_task("words", ("alphabetical", "initials"), rng).instruction
    battled = demo.make_task("text", ("reverse", "upper"), rng).instruction
    reason = worlds.reserved_reasons(["demo-world"])
    assert reason(judged) == f"demo-world: {WORLD.reserved_reason(judged)}"
    assert "words" in reason(judged) and reason(battled) is None
    assert reason("Write a function that adds two numbers.") is None
    assert worlds.reserved_reasons([])(judged) is None
    monkeypatch.setattr(
        worlds, "installed_worlds", lambda: {"toy": ToyWorld(), "demo-world": WORLD}
    )
    with pytest.raises(InputError, match="'toy' keeps no instruction out of the arena"):
        worlds.reserved_reasons(["demo-world", "toy"])
    with pytest.raises(InputError, match="unknown reserving world 'nowhere'"):
        worlds.reserved_reasons(["nowhere"])
