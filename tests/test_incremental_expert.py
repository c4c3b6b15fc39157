"""N -> N+1 experts: only the new cells are computed, counted in model calls (cache misses).

The expected counts follow from the arena's definition, with k selected instructions (k-center
continues from the earlier order, so the selection is unchanged), N old experts and one new one:
- mining: the newcomer's L x S x samples calls; old miners make none;
- responses: the newcomer answers the k instructions; old experts make no call;
- judging (logprob: one call per vote): each new pair (new, old x) is judged by the N - 1 old
  judges other than x, in both orders: 2k * N * (N - 1); the newcomer judges the C(N, 2) existing
  pairs (judging.new_expert_judges_existing: on): 2k * C(N, 2).
Disabling an expert afterwards removes it from the ratings without deleting its data.

The newcomer runs the expert-text demo model under a new slug: its own seeds make its mining and
response calls new, and it mines near duplicates of earlier instructions, which dedup resolves in
favour of the earlier generation (so earlier picks stay). As a judge it shares expert-text's
weights, and the call cache is keyed by the model, not the slug: a judge prompt expert-text
already answered is a cache hit for the newcomer. So the judging calls are counted per model: the
distinct judge prompts of that model's new votes that none of its judges had answered before.
"""

import shutil
from math import comb

import dagster as dg
import polars as pl
import pytest

from dagster_wc.orchestration.runner import run_pipeline
from tests.small_arena import EXPERTS, SAMPLES, UP_TO_SFT, K, arena_yaml, calls_made
from wc_foundation.storage import Home, read_lake_table
from wc_foundation.warehouse import query

pytestmark = pytest.mark.slow


def test_adding_an_expert_computes_only_the_new_cells(
    tmp_path, demo_models_dir, small_arena_reference
):
    _, reference = small_arena_reference
    shutil.copytree(reference.root, tmp_path / "home")  # the N-expert arena, already run
    home = Home.resolve(tmp_path / "home")
    config = tmp_path / "arena.yaml"
    old = list(EXPERTS)
    votes_before = read_lake_table(home, "judgments")
    selected_before = read_lake_table(home, "instructions_selected")["instruction_id"].to_list()
    assert len(selected_before) == K

    newcomer = ("newcomer", "expert-text", True)
    config.write_text(arena_yaml(demo_models_dir, [*old, newcomer]))
    second = run_pipeline(config, home, stages=UP_TO_SFT)
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    runs = set(second.run_ids)
    n = len(old)

    assert (
        read_lake_table(home, "instructions_selected")["instruction_id"].to_list()[:K]
        == selected_before
    )
    mined = calls_made(instance, "instructions_mined", runs)
    assert mined == {"text": 0, "lists": 0, "numbers": 0, "newcomer": SAMPLES}
    answered = calls_made(instance, "responses", runs)
    assert answered == {"text": 0, "lists": 0, "numbers": 0, "newcomer": K}
    judged = calls_made(instance, "judgments", runs)
    votes = read_lake_table(home, "judgments")
    new_votes = votes.join(
        votes_before, on=["instruction_id", "judge", "model_a", "model_b", "order"], how="anti"
    )
    by_newcomer = new_votes.filter(pl.col("judge") == "newcomer")
    assert len(by_newcomer) == 2 * K * comb(n, 2)
    assert len(new_votes) - len(by_newcomer) == 2 * K * n * (n - 1)
    # one call per distinct judge prompt of a model (two votes whose prompts are identical share
    # one call, e.g. when two experts gave the same answer); nothing judged before is asked again
    model_of = {slug: model for slug, model, _ in [*old, newcomer]}
    for model in set(model_of.values()):
        judges = [slug for slug, judge_model in model_of.items() if judge_model == model]
        old_prompts = votes_before.filter(pl.col("judge").is_in(judges))["prompt_hash"].implode()
        fresh = new_votes.filter(
            pl.col("judge").is_in(judges) & ~pl.col("prompt_hash").is_in(old_prompts)
        )
        assert sum(judged[judge] for judge in judges) == fresh["prompt_hash"].n_unique(), model
    assert judged["newcomer"] > 0
    # scorers: each old scorer scores only the newcomer's surviving instructions
    scored = calls_made(instance, "instruction_scores", runs)
    new_survivors = query(
        home, "select count(*) as n from instructions_dedup where miner = 'newcomer'"
    )["n"][0]
    assert all(scored[s] <= new_survivors for s in ("text", "lists", "numbers"))

    # a third run with nothing new runs no Python step at all (their inputs did not change)
    third = run_pipeline(config, home, stages=["mining", "scoring", "selection", "arena"])
    assert third.steps_skipped and all(label.startswith("dbt:") for label in third.steps_run)
    for asset in ("instructions_mined", "instruction_scores", "responses", "judgments"):
        assert set(calls_made(instance, asset, set(third.run_ids)).values()) <= {0}, asset

    # disabling keeps the data but leaves the ratings and winners
    config.write_text(arena_yaml(demo_models_dir, [*old, (*newcomer[:2], False)]))
    run_pipeline(config, home, stages=["registry", "arena", "ratings", "sft_data"])
    rated = set(read_lake_table(home, "expert_ratings")["expert"].to_list())
    assert "newcomer" not in rated and rated == {"text", "lists", "numbers"}
    assert "newcomer" in read_lake_table(home, "responses")["expert"].to_list()
    winners = pl.read_parquet(home.lake / "sft_winners" / "all.parquet")
    assert "newcomer" not in winners["winner"].to_list()
