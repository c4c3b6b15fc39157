"""Smoke tests of the benchmark suite: every benchmark runs at tiny sizes and the report renders.

Why: benchmarks are run rarely and by hand, so a refactor can break one unnoticed. These run
each `run(smoke=True)` and check the structure and sanity of the figures (never their speed:
timings on a shared machine are noise), then render the report from the results.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import run_all
from bench.timing import MIB, PeakMemory, median_timed, run_command, timed

SMOKE_RESULTS: dict[str, dict[str, Any]] = {}


def _positive(*values: float) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in values)


def _check_summary(name: str, result: dict[str, Any]) -> None:
    rows = run_all.summary_rows(name, result)
    assert rows and all(len(row) == 4 and all(isinstance(c, str) for c in row) for row in rows)
    assert "see the details below" not in rows[0][1]  # the module's own summary worked
    SMOKE_RESULTS[name] = result


def _check_memory(memory: dict[str, Any]) -> None:
    assert memory["peak_rss_mib"] >= memory["start_rss_mib"] > 0
    assert memory["added_mib"] >= 0


def test_timing_helpers() -> None:
    value, seconds = timed(lambda: 41 + 1)
    assert value == 42 and seconds >= 0
    value, seconds = median_timed(lambda: sum(range(1000)), repeats=3)
    assert value == 499500 and seconds >= 0
    with PeakMemory() as memory:
        block = np.ones(64 * MIB // 8)  # 64 MiB, touched
        del block
    if memory.reset:
        assert memory.as_dict()["added_mib"] >= 50


def test_run_command_reports_the_child_peak() -> None:
    command = [sys.executable, "-c", "b = bytearray(96 * 2**20); print(len(b))"]
    result = run_command(command, poll_seconds=0.005)
    assert result.returncode == 0 and result.output.strip() == str(96 * 2**20)
    if Path("/proc/self/status").exists():
        assert result.peak_rss_mib >= 90  # polled VmHWM of the child, not of this process
        assert result.peak_rss_mib < 1024


def test_dedup_smoke() -> None:
    from bench import bench_dedup

    result = bench_dedup.run(smoke=True)
    assert result["docs"] == 2_000 and _positive(result["speedup"], result["project_docs_per_s"])
    assert 0.8 <= result["recall"] <= 1.0 and 0.8 <= result["precision"] <= 1.0
    assert 0 < result["dropped"] < result["docs"]
    # the whole-process comparison: two fresh processes on one file
    assert result["whole_docs"] == 1_000
    assert _positive(result["whole_project_seconds"], result["whole_datasketch_seconds"])
    assert _positive(result["whole_project_cpu_seconds"], result["whole_datasketch_cpu_seconds"])
    assert result["whole_speedup"] == pytest.approx(
        result["whole_datasketch_seconds"] / result["whole_project_seconds"], rel=0.1
    )
    _check_memory(result["memory"])
    _check_summary("dedup", result)
    assert any("whole process" in row[0] for row in run_all.summary_rows("dedup", result))


def test_kcenter_smoke() -> None:
    from bench import bench_kcenter

    result = bench_kcenter.run(smoke=True)
    assert "full" not in result  # the n=1M case only runs in the full mode
    assert _positive(
        result["project_ms_per_step"], result["sklearn_ms_per_step"], result["floor_ms_per_pass"]
    )
    assert result["matrix_mib"] == pytest.approx(2_000 * 384 * 4 / MIB, abs=0.1)
    _check_memory(result["memory"])
    _check_summary("kcenter", result)


def test_kcenter_full_run_extrapolates() -> None:
    from bench import bench_kcenter

    full = bench_kcenter.full_run(n=3_000, d=16, k=100, steps=10)
    assert full["measured_steps"] == 10 and full["ms_per_step"] >= 0
    assert full["extrapolated_seconds_for_k"] >= 0 and "x" in full["extrapolation"]
    assert full["memory"]["peak_rss_mib"] > 0
    rows = bench_kcenter.summary({**bench_kcenter.run(smoke=True), "full": full})
    assert any("paper scale" in row[0] for row in rows)


def test_ratings_smoke() -> None:
    from bench import bench_ratings

    result = bench_ratings.run(smoke=True)
    assert result["n_battles"] == 5_000 and result["runs"] == 1
    assert result["max_abs_rating_diff"] < 1.0
    assert _positive(result["implied_bootstrap_speedup"], result["ours_peak_rss_mib"])
    assert result["sklearn_peak_rss_mib"] > 0
    _check_summary("ratings", result)


@pytest.mark.slow
def test_ratings_scale_smoke() -> None:
    """Whole processes of `warriorcoder rate` and of the FastChat reference, at tiny sizes."""
    from bench import bench_ratings_scale

    result = bench_ratings_scale.run(smoke=True)
    agree = result["agreement"]
    assert agree["elo_online_vs_fastchat_compute_elo"] < 1e-6  # the same online pass
    assert agree["bt_vs_fastchat_compute_bt"] < 0.5 and agree["bt_vs_arena_hard_sklearn"] < 0.5
    for method in ("elo", "bt"):
        assert _positive(
            result["vs_fastchat"][method]["ours_s"], result["vs_fastchat"][method]["fastchat_s"]
        )
    assert all(
        _positive(run["seconds"], run["peak_rss_mib"]) for run in result["scale"]["runs"].values()
    )
    assert 0 < result["coverage"]["bt"]["coverage"] <= 1
    _check_summary("ratings_scale", result)


@pytest.mark.slow
def test_embeddings_smoke() -> None:
    from bench import bench_embeddings

    result = bench_embeddings.run(smoke=True)
    assert result["texts"] == 8 and result["min_cosine_agreement"] > 0.999
    assert _positive(result["project_sentences_per_s"], result["encode_sentences_per_s"])
    _check_memory(result["memory"])
    _check_summary("embeddings", result)


def test_generation_smoke() -> None:
    from bench import bench_generation

    result = bench_generation.run(smoke=True)
    assert result["outputs_identical"] is True
    assert 0 < result["completion_tokens"] <= result["prompts"] * result["max_new_tokens"]
    assert _positive(result["speedup"], result["batched_tokens_per_s"])
    _check_memory(result["memory"])
    _check_summary("generation", result)


@pytest.mark.slow
def test_sft_smoke() -> None:
    from bench import bench_sft

    result = bench_sft.run(smoke=True)
    for config in ("padded", "packed"):
        figures = result[config]
        assert figures["steps"] == 2 and _positive(figures["tokens"], figures["tokens_per_s"])
        assert figures["peak_rss_mib"] > 0
    _check_summary("sft", result)


@pytest.mark.slow
def test_dbt_marts_smoke(tmp_path: Path) -> None:
    from bench import bench_dbt_marts

    result = bench_dbt_marts.run(smoke=True, root=tmp_path)
    size = result["sizes"]["2k"]
    assert size["llm_votes"] == 3 * bench_dbt_marts.votes_per_instruction()
    assert size["battle_votes_rows"] >= size["llm_votes"]  # plus execution votes
    build = size["build"]
    assert build["peak_rss_mib"] > 50  # dbt + DuckDB, polled from /proc
    assert all(build["model_seconds"][m] is not None for m in bench_dbt_marts.MARTS)
    assert size["baseline_plain_duckdb_pair_counts"]["results_match"] is True
    increment = size["incremental_battle_votes"]
    assert increment["matches_plain_duckdb"] is True
    assert increment["rows_after_increment"] > size["battle_votes_rows"]
    assert not (tmp_path / "votes_2000").exists()  # scratch lake and warehouse removed
    _check_summary("dbt_marts", result)


def test_sandbox_smoke() -> None:
    from bench import bench_sandbox

    result = bench_sandbox.run(smoke=True)
    assert _positive(*result["runs_per_s"].values())
    assert _positive(
        result["ratio_after_vs_before_sequential"], result["ratio_after_vs_before_workers2"]
    )
    assert result["execution_judge"]["responses"] == 8
    # 2 of 4 bodies right (1.0); the wrong ones fail their own module-level assert: 0.25
    assert result["execution_judge"]["mean_exec_score"] == 0.625
    floor = result["floor"]  # bare interpreter starts vs sandbox runs, same workers, alternating
    assert floor["tier"] == result["tier_after"]
    assert len(floor["ratios"]) == floor["rounds"] == 1
    assert _positive(floor["floor_median_per_s"], floor["sandbox_median_per_s"], *floor["ratios"])
    assert _positive(floor["floor_median_cpu_ms"], floor["sandbox_median_cpu_ms"])
    _check_summary("sandbox", result)


def test_render_from_saved_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved results render into one document; notes survive; absent modules are tolerated."""
    results_dir = tmp_path / "results"
    records = SMOKE_RESULTS or {"kcenter": _tiny_kcenter_result()}
    for name, result in records.items():
        run_all.save_result(
            results_dir, name, {"result": result, "mode": "smoke", "machine": run_all.machine()}
        )
    # A benchmark whose module does not exist (yet): a generic row, its figures in the details.
    run_all.save_result(
        results_dir, "not_written_yet", {"result": {"answer": 42}, "mode": "full", "machine": {}}
    )
    document = tmp_path / "BENCHMARKS.md"
    document.write_text(
        f"# old\n{run_all.NOTES_START}\nMeasured by hand: keep me.\n{run_all.NOTES_END}\n"
    )
    monkeypatch.setattr(run_all, "BENCHMARKS", (*run_all.BENCHMARKS, "not_written_yet"))
    run_all.main(["--render-only", "--write", str(document), "--results-dir", str(results_dir)])
    text = document.read_text()
    assert text.count("Measured by hand: keep me.") == 1
    assert "## Summary" in text and "## Details" in text and "| cpu |" in text
    for name in records:
        assert f"### {name}" in text
    assert "### not_written_yet" in text and "| answer | 42 |" in text
    summary = text.split("## Summary")[1].split("## Notes")[0]
    assert summary.count("\n| ") >= 2 + len(records)  # header + rule + one row each at least
    assert json.loads((results_dir / "not_written_yet.json").read_text())["result"] == {
        "answer": 42
    }
    # Rendering again keeps the notes exactly once.
    run_all.main(["--render-only", "--write", str(document), "--results-dir", str(results_dir)])
    assert document.read_text().count("keep me") == 1


def test_run_all_skips_missing_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_all, "BENCHMARKS", ("not_written_yet",))
    records = run_all.main(["--only", "not_written_yet"])
    assert records == {}


@pytest.mark.parametrize("name", ["kcenter", "dbt_marts", "fresh_arena", "cluster"])
def test_module_cli_parses(name: str) -> None:
    """`python -m bench.bench_<name>` still works as a script (its --help, light modules)."""
    out = subprocess.run(
        [sys.executable, "-m", f"bench.bench_{name}", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--quick" in out.stdout


def _tiny_kcenter_result() -> dict[str, Any]:
    from bench import bench_kcenter

    return bench_kcenter.run(smoke=True)
