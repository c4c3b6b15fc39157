"""scripts/machine_spread.py: profiles parsed and applied (a child really runs other kernels),
runs keyed by their environment, the spread reported per seed and per profile. The SFT runs
themselves are the sweeps' (tests/test_demo_sweeps.py); the measured spread is in docs/DEMO.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_ops.errors import InputError
from scripts.machine_spread import full_report, margins, parse_profile, spread_report
from tests.test_demo_sweeps import sweep_data
from wc_demo.sweep_runs import Runner, request, weights_sha256
from wc_foundation.config.loading import parse_config
from wc_foundation.storage import Home

TASKS = [f"t{i}" for i in range(10)]


def result(passes: int, weights: str) -> dict:
    passed = {t: float(i < passes) for i, t in enumerate(TASKS)}
    return {"pass_at_1": passes / len(TASKS), "passed": passed, "weights_sha256": weights}


def test_a_profile_is_an_instruction_set_and_a_thread_count():
    name, env = parse_profile("avx2:1")
    assert name == "avx2:1"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["OMP_NUM_THREADS"] == "1"
    assert parse_profile("native:02") == ("native:2", {"OMP_NUM_THREADS": "2"})
    for bad in ["avx512:1", "native", "native:0", "generic:x"]:
        with pytest.raises(InputError, match="ISA:THREADS"):
            parse_profile(bad)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 instruction sets")
@pytest.mark.parametrize(("profile", "capability"), [("avx2:1", "AVX2"), ("generic:1", "DEFAULT")])
def test_a_profile_selects_other_kernels_in_the_child(profile: str, capability: str):
    _, env = parse_profile(profile)
    code = "import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"
    found = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.split() == [capability, "1"]


def test_the_environment_is_part_of_a_runs_key(tmp_path: Path):
    home = Home.resolve(tmp_path / "home")
    config = parse_config(sweep_data(tmp_path))
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "config.json").write_text("{}")
    req = request("a/seed-0", [{"messages": []}], 0)
    plain = Runner(home, config, "demo-world").key(req)
    # no environment: the sweeps' keys (and their kept results) stay as they were
    assert Runner(home, config, "demo-world", environment={}).key(req) == plain
    avx2 = Runner(home, config, "demo-world", environment=parse_profile("avx2:1")[1]).key(req)
    generic = Runner(home, config, "demo-world", environment=parse_profile("generic:1")[1])
    assert len({plain, avx2, generic.key(req)}) == 3


def test_weights_hash_follows_the_weights_only(tmp_path: Path):
    (tmp_path / "model.safetensors").write_bytes(b"\x00\x01")
    (tmp_path / "training_args.bin").write_bytes(b"output_dir=/runs/one")
    first = weights_sha256(tmp_path)
    (tmp_path / "training_args.bin").write_bytes(b"output_dir=/runs/two")  # another run's folder
    assert weights_sha256(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"\x00\x02")
    assert weights_sha256(tmp_path) != first


def test_spread_per_seed_and_per_profile():
    results = {
        ("native:1", 0): result(5, "w0"),
        ("avx2:1", 0): result(5, "w0"),  # same weights, same pass@1
        ("native:1", 1): result(4, "w1"),
        ("avx2:1", 1): result(6, "w2"),
    }
    report = spread_report(results, "native:1")
    assert [row["range"] for row in report["per_seed"]] == [0.0, 0.2]
    assert [row["distinct_weights"] for row in report["per_seed"]] == [1, 2]
    assert report["max_range"] == 0.2 and report["seeds_with_identical_weights"] == 1
    diff = report["per_profile"]["avx2:1"]["minus_native:1"]
    assert diff["difference"] == pytest.approx(0.1) and diff["tasks"] == 10
    assert "minus_native:1" not in report["per_profile"]["native:1"]
    assert report["per_profile"]["avx2:1"]["per_seed"] == [0.5, 0.6]


def test_the_arenas_margin_per_profile():
    results = {
        ("arena", "native:1", 0): result(6, "a"),
        ("best_single_expert", "native:1", 0): result(3, "b"),
        ("arena", "avx2:1", 0): result(5, "c"),
        ("best_single_expert", "avx2:1", 0): result(5, "d"),
        ("arena", "generic:1", 0): result(5, "e"),  # no best single run: no margin
    }
    found = margins(results)
    assert set(found) == {"native:1", "avx2:1"}
    assert found["native:1"]["difference"] == pytest.approx(0.3)
    assert found["avx2:1"]["difference"] == pytest.approx(0.0)

    report = full_report(results, ["arena", "best_single_expert"], "native:1")
    assert report["arena_minus_best_single"] == found
    assert report["best_single_expert"]["profiles"] == ["avx2:1", "native:1"]
    assert report["arena"]["profiles"] == ["avx2:1", "generic:1", "native:1"]
