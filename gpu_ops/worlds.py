"""Task worlds: plugins that can read an instruction back, give its hidden tests, and pose a
benchmark of their own.

A world is looked up by the name a config gives it (`judging.execution.hidden_tests`,
`evaluation.benchmarks`, `decontamination.benchmarks`). Worlds register themselves as installed
packages, under the entry-point group `warriorcoder.worlds` of their pyproject: gpu_ops knows the
protocol, never a world (the demo world, `wc_demo`, is one such plugin).

A world may also keep instructions out of the arena (`ReservingWorld.reserved_reason`, optional):
the tasks its judges learned to judge on, say. The cleaning drops them, for the worlds that
`mining.reserved_worlds` names (`reserved_reasons`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from gpu_ops.errors import InputError

ENTRY_POINT_GROUP = "warriorcoder.worlds"


@runtime_checkable
class World(Protocol):
    """What the product asks of a world."""

    name: str

    def hidden_tests(self, instruction: str) -> list[str]:
        """Assert lines that decide an instruction written in the world's phrasing (empty when
        the world cannot read it)."""
        ...

    def benchmark_problems(self, max_problems: int | None = None) -> list[dict[str, Any]]:
        """HumanEval-shaped records of the world's held-out tasks (`instruction` set, `prompt`
        empty: asked as the instruction, the reply's code is the whole program)."""
        ...

    def benchmark_task_id(self, instruction: str) -> str | None:
        """The benchmark's task_id when an instruction, however worded, asks for a held-out
        task; None otherwise (the recognizer of decontamination and of the comparison)."""
        ...


@runtime_checkable
class ReservingWorld(Protocol):
    """The optional part of a world: instructions it keeps out of the arena."""

    def reserved_reason(self, instruction: str) -> str | None:
        """Why the world keeps this instruction out of the arena (for example: it asks for a task
        the judges were trained on, so judging it would grade the judges on their training data);
        None for any instruction the arena may use."""
        ...


@cache
def installed_worlds() -> dict[str, World]:
    """Every world an installed package registers, by name (loaded once per process)."""
    worlds: dict[str, World] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        world = entry.load()
        if not isinstance(world, World) or world.name != entry.name:
            raise InputError(
                f"entry point {entry.value!r} of {ENTRY_POINT_GROUP} is not a World named "
                f"{entry.name!r}"
            )
        worlds[entry.name] = world
    return worlds


def find_world(name: str) -> World | None:
    """The installed world of that name, or None."""
    return installed_worlds().get(name)


def installed_names() -> str:
    """The installed worlds' names, for an error message (with the fix when there is none)."""
    names = ", ".join(sorted(installed_worlds()))
    return names or "none (a world registers itself when its package is installed: `make install`)"


def get_world(name: str, *, role: str = "world") -> World:
    """The installed world of that name; a clear error naming the installed ones otherwise."""
    world = find_world(name)
    if world is None:
        raise InputError(f"unknown {role} {name!r}; known: {installed_names()}")
    return world


def recognizer(world: World) -> Callable[[str], bool]:
    """Whether an instruction asks for one of the world's held-out tasks."""
    return lambda instruction: world.benchmark_task_id(instruction) is not None


def reserves(world: World) -> bool:
    """Whether a world keeps some instructions out of the arena (implements `reserved_reason`)."""
    return isinstance(world, ReservingWorld)


def reserved_reasons(names: Sequence[str]) -> Callable[[str], str | None]:
    """Why any of the named worlds keeps an instruction out of the arena, as
    "<world>: <reason>" (the first world that does), or None.

    A clear error for an unknown name or a world that reserves nothing (naming it would be a
    mistake that silently keeps nothing out)."""
    reserving: list[ReservingWorld] = []
    for name in names:
        world = get_world(name, role="reserving world")
        if not reserves(world):
            raise InputError(
                f"world {name!r} keeps no instruction out of the arena (no reserved_reason)"
            )
        reserving.append(world)

    def reason(instruction: str) -> str | None:
        for name, world in zip(names, reserving, strict=True):
            if (why := world.reserved_reason(instruction)) is not None:
                return f"{name}: {why}"
        return None

    return reason
