"""Crash points: parsing, no-op when unarmed, and a real SIGKILL at the n-th hit."""

import subprocess
import sys

import pytest

from gpu_ops.failpoints import armed_points, failpoint


def test_armed_points_parse_counts():
    assert armed_points("a=2, b ,c=1") == {"a": 2, "b": 1, "c": 1}
    assert armed_points(None) == {} and armed_points("") == {}
    with pytest.raises(ValueError, match="count >= 1"):
        armed_points("a=0")


def test_unarmed_points_do_nothing(monkeypatch):
    monkeypatch.delenv("WC_FAILPOINTS", raising=False)
    failpoint("llm.generate.committed")
    monkeypatch.setenv("WC_FAILPOINTS", "other.point=1")
    failpoint("llm.generate.committed")


def test_the_nth_hit_kills_the_process_with_sigkill():
    code = (
        "from gpu_ops.failpoints import failpoint\n"
        "for i in range(5):\n"
        "    print(i, flush=True)\n"
        "    failpoint('demo.point')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"WC_FAILPOINTS": "demo.point=3", "PYTHONPATH": "."},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == -9
    assert result.stdout.split() == ["0", "1", "2"]
