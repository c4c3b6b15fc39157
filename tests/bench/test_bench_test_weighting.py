"""Smoke tests of ``bench.bench_test_weighting``: the corpora are built as described and the
verdict metrics mean what the report says (figures at tiny sizes; the full run is by hand)."""

from __future__ import annotations

import ast

import pytest

from bench import bench_test_weighting as bench
from bench import run_all
from gpu_ops.evaluation.humaneval import load_humaneval


def test_metrics_count_pairs_with_a_right_answer_and_pass_fail_hits() -> None:
    task = [(True, 1.0, True), (True, 0.75, False), (False, 0.5, False), (False, 1.0, True)]
    found = bench.metrics([task])
    assert found["pairs"] == 5  # every pair but the two wrong answers
    # (r1,r2): truth tie, judge A -> no; (r1,w1): A, A -> yes; (r1,w2): A, tie -> no;
    # (r2,w1): A, A -> yes; (r2,w2): A, B -> no
    assert found["pairwise_agreement"] == 0.4
    assert found["pass_fail_accuracy"] == 0.5  # r1 pass, r2 fail (wrong), w1 fail, w2 pass
    assert found["right_answers_below_top"] == 0.5


def test_the_simulation_is_seeded_and_consensus_beats_uniform_on_it() -> None:
    first, again = bench.simulate(60), bench.simulate(60)
    assert first == again
    assert ("m5-copy", "m5") in first["merged_sources"]  # the second checkpoint: one source
    for key in ("uniform", "consensus", "consensus_without_sources"):
        assert 0.0 <= first[key]["pairwise_agreement"] <= 1.0 and first[key]["pairs"] > 0
    assert first["consensus"]["pairwise_agreement"] > first["uniform"]["pairwise_agreement"]


def test_humaneval_asserts_and_mutants_are_read_without_running_anything() -> None:
    problem = next(p for p in load_humaneval() if p["task_id"] == "HumanEval/0")
    asserts = bench.official_asserts(problem)
    assert asserts and all(call.startswith("has_close_elements(") for call, _ in asserts)
    right = ast.unparse(ast.parse(problem["prompt"] + problem["canonical_solution"]))
    kinds = {kind for kind, _ in bench._sites(ast.parse(right))}
    assert {"comparison", "arithmetic", "missing_edge_case"} <= kinds
    for kind, position in bench._sites(ast.parse(right)):
        changed = bench.mutant(right, kind, position)
        assert changed is None or changed != right
    assert bench.perturbed([1, 2]) == [1] and bench.perturbed(True) is False


@pytest.mark.slow
def test_bench_test_weighting_smoke() -> None:
    result = bench.run(smoke=True)
    he = result["humaneval"]
    assert he["corpus"]["usable"] >= 1 and he["sandbox_runs"] > 0
    for weighting in ("uniform", "consensus"):
        assert 0.0 <= he[weighting]["pass_fail_accuracy"] <= 1.0
        assert he[weighting]["answers"] == he["corpus"]["responses"]
    cost = he["partition_cost"]
    for weighting in ("uniform", "consensus"):
        runs = cost[weighting]
        assert 0 < runs["first_partition_runs"] <= runs["all_partitions_runs"]
    rows = run_all.summary_rows("test_weighting", result)
    assert len(rows) == 3 and all(len(row) == 4 for row in rows)
