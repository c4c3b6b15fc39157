"""Baselines of the benchmarks: old code read from this checkout's git history at bench time,
never copied into the tree (so it is no second product and no duplicate)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
# gpu_ops/sandbox.py before issue 13 (private root, cgroup, keyring and stdin fixes): namespaces,
# read-only host view, rlimits only
SANDBOX_BEFORE = ("3eae98d", "gpu_ops/sandbox.py")


def module_from_git(commit: str, path: str, name: str) -> ModuleType:
    """`path` as it was at `commit`, imported as the module `name` (from a temporary file)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{commit}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        raise RuntimeError(
            f"the baseline {path} at {commit} is read from git: it needs a checkout with that "
            f"history (a full clone, not a shallow one or an export): {detail}"
        ) from error
    with tempfile.TemporaryDirectory(prefix="wc-baseline-") as folder:
        file = Path(folder) / f"{name}.py"
        file.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve their annotations through it
        spec.loader.exec_module(module)
    return module


def sandbox_before() -> ModuleType:
    """The sandbox as it was before issue 13 (the baseline of bench/bench_sandbox.py)."""
    return module_from_git(*SANDBOX_BEFORE, "sandbox_before")
