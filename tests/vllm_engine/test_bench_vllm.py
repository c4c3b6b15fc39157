"""bench.bench_vllm: skipped by run_all without the vLLM env; a quick run with it (structure and
agreement only, never timings)."""

from __future__ import annotations

import pytest

from bench import bench_arena_scaling, bench_vllm, run_all


def test_run_all_skips_it_without_the_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("WC_VLLM_ENV", str(tmp_path / "absent"))
    assert "make vllm-env" in bench_vllm.missing()
    assert run_all.run_one("vllm", quick=True) is None


@pytest.mark.vllm_engine
@pytest.mark.slow
def test_quick_run_compares_both_backends_on_the_same_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if bench_vllm.missing():
        pytest.skip(bench_vllm.missing())
    # Always the tiny random model, never the demo experts: under `make test` the main suite
    # builds (or rebuilds) them in the same run, beside this test.
    monkeypatch.setattr(bench_arena_scaling, "demo_models_dir", lambda: None)
    result = bench_vllm.run(quick=True)
    assert result["model"].startswith("tiny random llama")
    hf, vl = result["transformers"], result["vllm_cpu"]
    for side in (hf, vl):
        assert side["generation"]["completion_tokens"] > 0
        assert side["logprob"]["judgments"] == side["generate"]["judgments"] == 2 * 4  # both orders
    assert (
        vl["logprob"]["prompt_tokens_per_judgment"] == hf["logprob"]["prompt_tokens_per_judgment"]
    )
    assert 0 < vl["logprob"]["prefix_cache_hit_rate"] < 1
    assert result["max_p_first_difference"] < 1e-3
    assert result["generation_speedup"] > 0
    rows = bench_vllm.summary(result)
    assert len(rows) == 3 and all(len(row) == 4 for row in rows)
