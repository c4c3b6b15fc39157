"""N -> N+1 experts: only the new cells are computed, counted in model calls (cache misses).

The expected counts follow from the arena's definition, with k selected instructions (k-center
continues from the earlier order, so the selection is unchanged), N old experts and one new one:
- mining: the newcomer's L x S x samples calls; old miners make none;
- responses: the newcomer answers the k instructions; old experts make no call;
- judging (logprob: one call per vote): each new pair (new, old x) is judged by the N - 1 old
  judges other than x, in both orders: 2k * N * (N - 1); the newcomer judges the C(N, 2) existing
  pairs (judging.new_expert_judges_existing: on): 2k * C(N, 2).
Disabling an expert afterwards removes it from the ratings without deleting its data.
"""

from math import comb

import dagster as dg
import polars as pl
import pytest

from dagster_wc.runner import run_pipeline
from warriorcoder.storage import Home, read_lake_table
from warriorcoder.warehouse import query

pytestmark = pytest.mark.slow
K = 6
SAMPLES = 4


def arena_yaml(models, experts: list[tuple[str, str, bool]]) -> str:
    lines = ["experts:"]
    for slug, model, enabled in experts:
        lines.append(
            f"  - {{slug: {slug}, model: '{models}/demo/{model}', family: {slug}, batch_size: 32,"
            f" max_model_len: 2048, enabled: {str(enabled).lower()}}}"
        )
    lines += [
        "mining: {languages: [python], sampling_grid: [{temperature: 0.7, top_p: 0.95}],",
        f"         samples_per_setting: {SAMPLES}, max_new_tokens: 64, system_prompt: none}}",
        "scoring: {mode: logprob, min_score: 1}",
        f"selection: {{k: {K}}}",
        "responses: {temperature: 0.7, top_p: 0.95, max_new_tokens: 48}",
        "judging: {mode: logprob, execution: {enabled: true, timeout_s: 5}}",
        "ratings: {bootstrap_rounds: 20}",
    ]
    return "\n".join(lines) + "\n"


def calls_made(instance: dg.DagsterInstance, asset: str, run_ids: set[str]) -> dict[str, int]:
    """llm_calls_made per partition from the materializations of the given runs."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    made: dict[str, int] = {}
    for record in records:
        if record.run_id in run_ids:
            materialization = record.asset_materialization
            made[materialization.partition] = int(materialization.metadata["llm_calls_made"].value)
    return made


def test_adding_an_expert_computes_only_the_new_cells(tmp_path, demo_models_dir):
    home = Home.resolve(tmp_path / "home")
    config = tmp_path / "arena.yaml"
    old = [
        ("strong", "expert-strong", True),
        ("mid", "expert-mid", True),
        ("weak", "expert-weak", True),
    ]
    config.write_text(arena_yaml(demo_models_dir, old))
    run_pipeline(config, home)
    selected_before = read_lake_table(home, "instructions_selected")["instruction_id"].to_list()
    assert len(selected_before) == K

    config.write_text(arena_yaml(demo_models_dir, [*old, ("newcomer", "expert-strong", True)]))
    second = run_pipeline(config, home)
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    runs = set(second.run_ids)
    n = len(old)

    assert (
        read_lake_table(home, "instructions_selected")["instruction_id"].to_list()[:K]
        == selected_before
    )
    mined = calls_made(instance, "instructions_mined", runs)
    assert mined == {"strong": 0, "mid": 0, "weak": 0, "newcomer": SAMPLES}
    answered = calls_made(instance, "responses", runs)
    assert answered == {"strong": 0, "mid": 0, "weak": 0, "newcomer": K}
    judged = calls_made(instance, "judgments", runs)
    assert judged["newcomer"] == 2 * K * comb(n, 2)
    assert sum(v for slug, v in judged.items() if slug != "newcomer") == 2 * K * n * (n - 1)
    # scorers: each old scorer scores only the newcomer's surviving instructions
    scored = calls_made(instance, "instruction_scores", runs)
    new_survivors = query(
        home, "select count(*) as n from instructions_dedup where miner = 'newcomer'"
    )["n"][0]
    assert all(scored[s] <= new_survivors for s in ("strong", "mid", "weak"))

    # a third run with nothing new makes no model call at all
    third = run_pipeline(config, home, stages=["mining", "scoring", "selection", "arena"])
    for asset in ("instructions_mined", "instruction_scores", "responses", "judgments"):
        assert set(calls_made(instance, asset, set(third.run_ids)).values()) == {0}, asset

    # disabling keeps the data but leaves the ratings and winners
    config.write_text(arena_yaml(demo_models_dir, [*old, ("newcomer", "expert-strong", False)]))
    run_pipeline(config, home, stages=["registry", "arena", "ratings", "sft_data"])
    rated = set(read_lake_table(home, "expert_ratings")["expert"].to_list())
    assert "newcomer" not in rated and rated == {"strong", "mid", "weak"}
    assert "newcomer" in read_lake_table(home, "responses")["expert"].to_list()
    winners = pl.read_parquet(home.lake / "sft_winners" / "all.parquet")
    assert "newcomer" not in winners["winner"].to_list()
