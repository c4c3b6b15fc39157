"""The demo world as a `gpu_ops.worlds.World`: what the product looks up by `demo-world`."""

from __future__ import annotations

from typing import Any

from wc_demo import world

BENCHMARK_TASKS = 60  # held-out compositions in the benchmark when no cap is given


class DemoWorld:
    """Hidden tests, benchmark and recognizer of the demo world (`wc_demo.world`); it keeps its
    judging-only family out of the arena (`reserved_reason`)."""

    name = "demo-world"

    def hidden_tests(self, instruction: str) -> list[str]:
        return world.world_tests(instruction)

    def benchmark_problems(self, max_problems: int | None = None) -> list[dict[str, Any]]:
        return world.benchmark_problems(max_problems or BENCHMARK_TASKS)

    def benchmark_task_id(self, instruction: str) -> str | None:
        return world.benchmark_task_id(instruction)

    def reserved_reason(self, instruction: str) -> str | None:
        """The world keeps this instruction out of the arena: it is training data of the judges
        (a task of a judging-only family, `world.JUDGING_FAMILIES`)."""
        return world.reserved_reason(instruction)


WORLD = DemoWorld()
