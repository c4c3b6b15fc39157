"""Functional behaviour of the sandbox API (the hostile programs live in test_sandbox_redteam.py)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from gpu_ops.sandbox import SANDBOX_STATUSES, TIERS, run_code, run_many, sandbox_capabilities


def test_capabilities_report_the_active_tier() -> None:
    caps = sandbox_capabilities()
    assert caps["isolation"] in TIERS
    assert caps["separate_process"] is True
    assert set(caps["rlimits"]) >= {"CPU", "AS", "NPROC", "FSIZE"}
    if caps["isolation"] != "process":
        assert caps["network_isolated"] and caps["pid_namespace"] and caps["private_root"]
    assert (caps["isolation"] == "full") == (caps["missing_for_full"] == [])


def test_ok_program_returns_stdout_and_isolation_name() -> None:
    result = run_code("print('hello', 6 * 7)\n")
    assert result.status == "ok"
    assert result.returncode == 0
    assert result.stdout == "hello 42\n"
    assert result.isolation == sandbox_capabilities()["isolation"]
    assert 0 < result.wall_s < 5


def test_stdin_is_fed_to_the_program() -> None:
    result = run_code(
        "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n", stdin="1 2 3\n"
    )
    assert (result.status, result.stdout) == ("ok", "6\n")


def test_runs_as_main_with_scratch_cwd_and_importable_files() -> None:
    code = (
        "import os, helper\n"
        "if __name__ == '__main__':\n"
        "    open('out.txt', 'w').write('x')\n"
        "    print(helper.VALUE, os.path.exists('out.txt'), os.path.basename(os.getcwd()))\n"
    )
    result = run_code(code, files={"helper.py": "VALUE = 7\n", "data/in.txt": "abc"})
    assert (result.status, result.stdout) == ("ok", "7 True work\n")


def test_common_stdlib_modules_work() -> None:
    code = (
        "import collections, heapq, itertools, functools, math, re, json, random, string, bisect\n"
        "import datetime, fractions, decimal, statistics, typing, hashlib, dataclasses, subprocess, tempfile\n"
        "print(tempfile.mkstemp()[1].startswith(tempfile.gettempdir()))\n"
    )
    result = run_code(code)
    assert (result.status, result.stdout) == ("ok", "True\n"), result.stderr


def test_exception_is_error_with_traceback() -> None:
    result = run_code("raise ValueError('boom')\n")
    assert result.status == "error"
    assert result.returncode == 1
    assert "ValueError: boom" in result.stderr


def test_exit_code_is_kept() -> None:
    result = run_code("import sys\nsys.exit(3)\n")
    assert (result.status, result.returncode) == ("error", 3)


def test_syntax_error_is_error() -> None:
    result = run_code("def f(:\n")
    assert result.status == "error"
    assert "SyntaxError" in result.stderr


def test_stderr_is_capped_too() -> None:
    result = run_code("import sys\nsys.stderr.write('e' * 50000)\n", max_output_bytes=1000)
    assert result.status == "output_limit"
    assert len(result.stderr) == 1000


def test_every_status_is_known() -> None:
    assert set(SANDBOX_STATUSES) == {
        "ok", "error", "timeout", "memory", "killed", "output_limit", "sandbox_error"
    }  # fmt: skip


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout_s": 0},
        {"memory_mb": 8},
        {"max_processes": 0},
        {"max_output_bytes": 0},
        {"files": {"../x": "y"}},
        {"files": {"/etc/x": "y"}},
        {"files": {"main.py": ""}},
    ],
)
def test_bad_arguments_raise_input_error(kwargs: dict) -> None:
    before = set(Path(tempfile.gettempdir()).glob("wc-sandbox-*"))
    with pytest.raises(InputError):
        run_code("print(1)\n", **kwargs)
    assert set(Path(tempfile.gettempdir()).glob("wc-sandbox-*")) <= before  # nothing left behind


def test_run_many_keeps_order_and_runs_concurrently() -> None:
    codes = [f"import time\ntime.sleep(0.6)\nprint({i})\n" for i in range(4)]
    start = time.monotonic()
    results = run_many(codes, workers=4, timeout_s=10)
    elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(4)]
    assert all(r.status == "ok" for r in results)
    assert elapsed < 4 * 0.6  # sleeping programs overlap
    assert run_many([]) == []


def test_run_many_isolates_failures() -> None:
    results = run_many(
        ["print(1)\n", "raise SystemExit(2)\n", "while True: pass\n"], workers=3, timeout_s=1
    )
    assert [r.status for r in results] == ["ok", "error", "timeout"]


def test_run_many_rejects_a_single_string() -> None:
    with pytest.raises(InputError):
        run_many("print(1)")


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop of the fallback tier needs root")
def test_process_fallback_tier_still_drops_root_and_kills_its_group() -> None:
    # The weakest tier (no namespaces): separate process, rlimits, clean env, random uid.
    from gpu_ops.sandbox import _execute

    code = "import os, json, subprocess\nprint(os.getuid())\nopen('/etc/passwd', 'a')\n"
    result = _execute(code, isolation="process", timeout_s=5)
    assert result.status == "error"
    assert int(result.stdout) != 0  # stdlib importable by the dropped uid, which is not root
    assert "PermissionError" in result.stderr
    bomb = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    result = _execute(bomb, isolation="process", timeout_s=1, max_processes=8)
    assert result.status == "timeout"
    leftover = "import subprocess\nsubprocess.Popen(['sleep', '60'])\nprint('bye')\n"
    result = _execute(leftover, isolation="process", timeout_s=5)
    assert (result.status, result.stdout) == ("ok", "bye\n")
    assert result.wall_s < 3  # the group is killed shortly after the leader exits
