"""The analyst queries in dbt_project/analyses/ run on the fixture warehouse and give the designed answers.

Each query is read as plain text and run with plain duckdb on the warehouse opened read-only,
the way `warriorcoder sql NAME` and any reader use it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.dbt.dbt_runner import REPO_ROOT
from tests.fixtures import lake_fixture as lake

MODELS_SQL = REPO_ROOT / "dbt_project" / "analyses"
REQUIRED_QUERIES = {
    "leaderboard",
    "pair_win_matrix",
    "judge_position_bias",
    "judge_agreement",
    "judge_vs_execution",
    "difficulty_mix_per_miner",
    "task_mix_per_language",
    "instructions_won_by_expert",
    "stage_token_costs",
    "dedup_drop_reasons",
    "cleaning_drop_reasons",
}


@pytest.fixture(scope="session")
def warehouse(fixture_warehouse: Path) -> Path:
    """The dbt tests' fixture warehouse (tests/conftest.py), built once for the run."""
    return fixture_warehouse


def run_named(warehouse: Path, name: str) -> pl.DataFrame:
    sql = (MODELS_SQL / f"{name}.sql").read_text()
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).pl()


def header(name: str) -> dict[str, str]:
    """The `-- key: value` header fields (continuation lines appended to the previous key)."""
    fields: dict[str, str] = {}
    key = None
    for line in (MODELS_SQL / f"{name}.sql").read_text().splitlines():
        if not line.startswith("--"):
            break
        text = line[2:].strip()
        head, _, rest = text.partition(":")
        if head in ("title", "description", "columns") and rest:
            key = head
            fields[key] = rest.strip()
        elif key:
            fields[key] += " " + text
    return fields


def test_every_required_query_exists_with_a_header() -> None:
    names = {path.stem for path in MODELS_SQL.glob("*.sql")}
    assert names >= REQUIRED_QUERIES
    for name in names:
        assert set(header(name)) == {"title", "description", "columns"}, name


@pytest.mark.parametrize("name", sorted(REQUIRED_QUERIES))
def test_query_returns_rows_with_documented_columns(warehouse: Path, name: str) -> None:
    result = run_named(warehouse, name)
    assert result.height > 0
    documented = header(name)["columns"]
    if name != "pair_win_matrix":  # one column per expert after the pivot
        for column in result.columns:
            assert column in documented, (name, column)


def test_leaderboard_ranks_with_confidence_intervals(warehouse: Path) -> None:
    result = run_named(warehouse, "leaderboard").filter(pl.col("method") == "bt")
    assert result["expert"].to_list() == list(lake.ENABLED_EXPERTS)
    assert (result["ci_lower"] < result["rating"]).all() and (
        result["rating"] < result["ci_upper"]
    ).all()


def test_pair_win_matrix_pivot(warehouse: Path) -> None:
    result = run_named(warehouse, "pair_win_matrix")
    assert result.columns == ["model", *sorted(lake.ENABLED_EXPERTS)]
    alpha = result.row(by_predicate=pl.col("model") == "alpha", named=True)
    assert alpha["alpha"] is None
    assert alpha["beta"] == 0.75  # 9 wins, 3 losses, 1 tie
    assert result.row(by_predicate=pl.col("model") == "kappa", named=True)["alpha"] == 0.0


def test_judge_position_bias_lists_the_most_biased_first(warehouse: Path) -> None:
    result = run_named(warehouse, "judge_position_bias")
    assert result.row(0, named=True)["judge"] == "kappa"
    assert result.row(0, named=True)["flip_rate"] == 1.0


def test_judge_agreement(warehouse: Path) -> None:
    result = run_named(warehouse, "judge_agreement")
    assert result.height == 10  # 4 LLM judges and the execution judge: C(5, 2) pairs
    assert result.row(0, named=True)["agreement_rate"] == 1.0


def test_judge_vs_execution_ranks_by_lift_over_no_skill(warehouse: Path) -> None:
    result = run_named(warehouse, "judge_vs_execution")
    assert result.height == 4  # the LLM judges; execution is the reference
    assert result["lift"].to_list() == sorted(result["lift"].to_list(), reverse=True)
    kappa = result.row(by_predicate=pl.col("judge") == "kappa", named=True)
    assert (kappa["lift"], kappa["on_decided"], kappa["on_ties"]) == (0.0, 0.0, 1.0)


def test_difficulty_mix_per_miner(warehouse: Path) -> None:
    result = run_named(warehouse, "difficulty_mix_per_miner")
    gamma = result.row(by_predicate=pl.col("miner") == "gamma", named=True)
    # gamma's deduplicated instructions: i10 (good, kept) and i18 (excellent, kept)
    assert (gamma["n_instructions"], gamma["excellent"], gamma["good"], gamma["kept_share"]) == (
        2,
        1,
        1,
        1.0,
    )
    assert result["n_instructions"].sum() == len(lake.EXPECTED_DIFFICULTY)


def test_task_mix_per_language(warehouse: Path) -> None:
    result = run_named(warehouse, "task_mix_per_language")
    got = {
        (r["language"], r["task_type"]): r["n_instructions"] for r in result.iter_rows(named=True)
    }
    # kept: i01 python "Write ..." generation, i10 python "Explain ..." explanation,
    # i15 rust "Implement ..." generation, i18 cpp "Debug ... segmentation fault" debugging
    assert got == {
        ("python", "generation"): 1,
        ("python", "explanation"): 1,
        ("rust", "generation"): 1,
        ("cpp", "debugging"): 1,
    }


def test_instructions_won_by_expert(warehouse: Path) -> None:
    result = run_named(warehouse, "instructions_won_by_expert")
    alpha = result.row(0, named=True)
    assert (alpha["winner"], alpha["n_won"], alpha["n_won_on_own_instructions"]) == ("alpha", 2, 1)
    assert alpha["share_of_all"] == pytest.approx(2 / 3, abs=1e-3)


def test_stage_token_costs_totals(warehouse: Path) -> None:
    result = run_named(warehouse, "stage_token_costs")
    totals = result.filter(pl.col("expert") == "(all)")
    assert totals["stage"].to_list() == ["mining", "scoring", "responding", "judging"]
    assert totals["n_calls"].to_list() == [
        len(lake.MINED),
        len(lake.SCORES),
        len(lake._responses()),
        len(lake._judgments()),
    ]
    mining = result.filter(pl.col("stage") == "mining", pl.col("expert") != "(all)")
    assert mining["completion_tokens"].sum() == totals["completion_tokens"][0]


def test_dedup_drop_reasons(warehouse: Path) -> None:
    result = run_named(warehouse, "dedup_drop_reasons")
    got = {r["outcome"]: (r["n_instructions"], r["n_groups"]) for r in result.iter_rows(named=True)}
    assert got == {"kept": (7, None), "exact": (1, 1), "near_duplicate": (3, 2)}


def test_cleaning_drop_reasons(warehouse: Path) -> None:
    result = run_named(warehouse, "cleaning_drop_reasons").filter(pl.col("miner") == "(all)")
    got = dict(zip(result["outcome"], result["n_rows"], strict=True))
    expected: dict[str, int] = {}
    for *_, reason in lake.MINED:
        expected[reason or "kept"] = expected.get(reason or "kept", 0) + 1
    assert got == expected
