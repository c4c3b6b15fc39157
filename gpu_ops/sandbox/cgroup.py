"""Per-run cgroups: one memory and process budget for everything a sandboxed run starts.

RLIMIT_AS is per process and does not count SysV shared memory, memfd or tmpfs contents; a cgroup
memory limit counts all of them (and swap, which is set to zero), so one number bounds the run.
Both cgroup versions are supported, because both exist on the machines this runs on:

v2 (``/sys/fs/cgroup`` or the hybrid ``/sys/fs/cgroup/unified``)
    used when the caller's own cgroup already delegates the ``memory`` and ``pids`` controllers
    (``cgroup.subtree_control``); the run gets a child cgroup with ``memory.max``,
    ``memory.swap.max = 0`` and ``pids.max``.
v1 (``/sys/fs/cgroup/memory`` and ``/sys/fs/cgroup/pids``)
    the dev box and CI (Debian 12 containers, root) mount v1 memory and pids hierarchies, with a
    v2 hierarchy that only has ``hugetlb``. The run gets a child group in each, below the caller's
    own group: ``memory.limit_in_bytes`` (+ ``memory.memsw.limit_in_bytes`` when swap accounting
    exists) and ``pids.max``.

CPU share: where the ``cpu`` controller is also usable (v2: delegated; v1: a writable ``cpu``
hierarchy), the run gets its own cpu group with the default weight (``cpu.weight`` 100 / v1
``cpu.shares`` 1024): the scheduler then shares CPU between runs, not between processes, so a
run that starts many spinning processes gets no more than a run with one. Optional: a machine
without it still has every other limit (``RunCgroup.cpu`` is None).

The sandbox's setup code (still root, before any untrusted code) writes ``0`` to each
``cgroup.procs`` listed in ``RunCgroup.procs_files``, moving itself, and so everything it starts,
into the run's groups: no window in which the code runs outside them. The parent also moves the
run's ``unshare`` into them as soon as it has started (``move_early``), only so that v1's
migration grace period is spent while the interpreter starts. After the run the parent kills
whatever is left and removes the groups; that cleanup never raises.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")
_PREFIX = "wc-sandbox-"


@dataclass(frozen=True)
class CgroupLayout:
    """Where run cgroups are created: a v2 parent, or v1 memory and pids parents."""

    version: int
    memory_parent: Path
    pids_parent: Path
    cpu_parent: Path | None = None


@dataclass(frozen=True)
class RunCgroup:
    """The cgroup(s) of one run."""

    version: int
    memory: Path
    pids: Path
    cpu: Path | None = None

    @property
    def paths(self) -> list[Path]:
        found = [self.memory, self.pids, self.cpu]
        return list(dict.fromkeys(path for path in found if path is not None))

    @property
    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.paths]


def _own_paths() -> dict[str, str]:
    """{controller or '' for v2: path} of this process, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _v2_layout(own: dict[str, str]) -> CgroupLayout | None:
    for mount in (_ROOT, _ROOT / "unified"):
        if not (mount / "cgroup.controllers").is_file() or "" not in own:
            continue
        parent = mount / own[""].lstrip("/")
        try:
            delegated = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if {"memory", "pids"} <= set(delegated) and _writable_dir(parent):
            return CgroupLayout(2, parent, parent, parent if "cpu" in delegated else None)
    return None


def _v1_layout(own: dict[str, str]) -> CgroupLayout | None:
    memory = _ROOT / "memory" / own.get("memory", "/").lstrip("/")
    pids = _ROOT / "pids" / own.get("pids", "/").lstrip("/")
    usable = (memory / "memory.limit_in_bytes").is_file() and (pids / "cgroup.procs").is_file()
    if usable and _writable_dir(memory) and _writable_dir(pids):
        cpu = _ROOT / "cpu" / own.get("cpu", "/").lstrip("/")
        has_cpu = (cpu / "cpu.shares").is_file() and _writable_dir(cpu)
        return CgroupLayout(1, memory, pids, cpu if has_cpu else None)
    return None


@functools.cache
def cgroup_layout() -> CgroupLayout | None:
    """The usable cgroup layout on this machine, or None (not root, read-only, not delegated)."""
    try:
        own = _own_paths()
    except (OSError, ValueError):
        return None
    return _v2_layout(own) or _v1_layout(own)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def create_run_cgroup(layout: CgroupLayout, memory_bytes: int, max_pids: int) -> RunCgroup:
    """A fresh cgroup for one run with its limits set; raises OSError if that fails."""
    name = _PREFIX + secrets.token_hex(8)
    if layout.version == 2:
        path = layout.memory_parent / name
        path.mkdir()
        group = RunCgroup(2, path, path, path if layout.cpu_parent else None)
        try:
            if layout.cpu_parent is not None and (path / "cpu.weight").exists():
                _write(path / "cpu.weight", "100")
            _write(path / "memory.max", str(memory_bytes))
            if (path / "memory.swap.max").exists():
                _write(path / "memory.swap.max", "0")
            _write(path / "pids.max", str(max_pids))
        except OSError:
            remove_run_cgroup(group)
            raise
        return group
    memory, pids = layout.memory_parent / name, layout.pids_parent / name
    cpu = layout.cpu_parent / name if layout.cpu_parent is not None else None
    memory.mkdir()
    group = RunCgroup(1, memory, pids, cpu)
    try:
        pids.mkdir()
        if cpu is not None:
            cpu.mkdir()
            _write(cpu / "cpu.shares", "1024")
        _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():
            _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
        _write(pids / "pids.max", str(max_pids))
    except OSError:
        remove_run_cgroup(group)
        raise
    return group


def move_early(group: RunCgroup, pid: int) -> None:
    """Move ``pid`` (the run's launcher, just started) into the run's groups; never raises.

    Not what keeps the run inside (the setup code joins the groups itself, as its first step):
    the first migration into a cgroup v1 hierarchy waits for an RCU grace period, 10-30 ms on
    the dev box, and a second migration that starts while one is waiting shares its grace period.
    Started here, it runs while the interpreter starts instead of after (measured in
    docs/BENCHMARKS.md, issue 28)."""
    for path in group.procs_files:
        try:
            Path(path).write_text(str(pid))
        except OSError:
            return  # the launcher already exited, or the group is going: the setup code decides


def oom_killed(group: RunCgroup) -> bool:
    """Whether the kernel OOM-killed something in the run's memory cgroup."""
    name = "memory.events" if group.version == 2 else "memory.oom_control"
    try:
        text = (group.memory / name).read_text()
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value) > 0
    return False


def _pids_in(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def remove_run_cgroup(group: RunCgroup, wait_s: float = 2.0) -> bool:
    """Kill what is left in the run's cgroup(s) and remove them; never raises.

    Returns whether every group is gone (a leftover is logged by the caller, not fatal).
    """
    deadline = time.monotonic() + wait_s
    for path in group.paths:
        while path.exists():
            for pid in _pids_in(path):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            try:
                path.rmdir()
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
    return True
