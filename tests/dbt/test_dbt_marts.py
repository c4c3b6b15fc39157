"""The dbt marts built from the synthetic fixture lake give the designed (hand-derived) answers."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from gpu_ops.curation import dedup
from tests.dbt.dbt_runner import REPO_ROOT, run_dbt
from tests.fixtures import lake_fixture as lake
from wc_foundation.storage import Home, read_lake_table, write_lake_table


def query(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).pl()


def test_sources_carry_dagster_asset_keys_and_lake_locations(fixture_warehouse: Path) -> None:
    manifest = json.loads((fixture_warehouse.parents[1] / "target" / "manifest.json").read_text())
    sources = {node["name"]: node for node in manifest["sources"].values()}
    lake_tables = {path.name for path in (fixture_warehouse.parent / "lake").iterdir()}
    assert set(sources) == lake_tables
    written_beside = {"sft_decontamination": "sft_dataset", "evaluation_results": "evaluation"}
    for name, node in sources.items():
        assert node["meta"]["dagster"]["asset_key"] == [written_beside.get(name, name)]
        location = node["config"]["external_location"]
        assert location.startswith(f"read_parquet('{fixture_warehouse.parent}/lake/")
        assert all(column["description"] for column in node["columns"].values())


def test_dagster_asset_keys_are_unique(fixture_warehouse: Path) -> None:
    """Sources share their Python asset's key; no model may take a Python asset's key."""
    from dagster_dbt import DagsterDbtTranslator

    manifest = json.loads((fixture_warehouse.parents[1] / "target" / "manifest.json").read_text())
    nodes = [*manifest["nodes"].values(), *manifest["sources"].values()]
    translator = DagsterDbtTranslator()
    keys = [
        translator.get_asset_key(node).to_user_string()
        for node in nodes
        if node["resource_type"] in ("model", "source")
    ]
    assert len(keys) == len(set(keys))
    assert "leaderboard" in keys and "expert_ratings" in keys


def test_every_mined_row_gets_its_designed_drop_reason(fixture_warehouse: Path) -> None:
    cleaned = query(fixture_warehouse, "select mined_id, drop_reason from instructions_screened")
    expected = {mined_id: reason for mined_id, *_, reason in lake.MINED}
    assert dict(zip(cleaned["mined_id"], cleaned["drop_reason"], strict=True)) == expected
    clean = query(fixture_warehouse, "select instruction_id from instructions_clean")
    assert set(clean["instruction_id"]) == {i for i, r in expected.items() if r is None}


def test_dedup_groups_read_the_python_survivors(fixture_warehouse: Path) -> None:
    """Each dropped row maps to its survivor; the stale row of the dropped i06 is ignored."""
    groups = query(fixture_warehouse, "select * from dedup_groups")
    assert (
        dict(zip(groups["instruction_id"], groups["survivor_id"], strict=True))
        == lake.EXPECTED_SURVIVORS
    )
    sizes = dict(zip(groups["instruction_id"], groups["group_size"], strict=True))
    assert sizes == {"i09": 2, "i11": 2, "i13": 3, "i14": 3}
    reasons = dict(zip(groups["instruction_id"], groups["dedup_reason"], strict=True))
    assert reasons["i09"] == "exact" and reasons["i14"] == "near_duplicate"
    survivors = query(fixture_warehouse, "select instruction_id from instructions_dedup")
    clean = query(fixture_warehouse, "select instruction_id from instructions_clean")
    assert set(survivors["instruction_id"]) == set(clean["instruction_id"]) - set(
        lake.EXPECTED_SURVIVORS
    )


def test_difficulty_buckets_and_kept_flag(fixture_warehouse: Path) -> None:
    difficulty = query(fixture_warehouse, "select * from instruction_difficulty")
    rows = {row["instruction_id"]: row for row in difficulty.iter_rows(named=True)}
    assert set(rows) == set(lake.EXPECTED_DIFFICULTY)
    for instruction_id, (mean, bucket, kept) in lake.EXPECTED_DIFFICULTY.items():
        assert rows[instruction_id]["mean_score"] == pytest.approx(mean)
        assert (rows[instruction_id]["bucket"], rows[instruction_id]["kept"]) == (bucket, kept)
    assert (rows["i10"]["n_scores"], rows["i10"]["n_unparsed"]) == (2, 1)
    kept = query(fixture_warehouse, "select instruction_id from instructions_kept")
    assert set(kept["instruction_id"]) == {
        i for i, (_, _, k) in lake.EXPECTED_DIFFICULTY.items() if k
    }


def test_instructions_for_battle_follow_selection_rank(fixture_warehouse: Path) -> None:
    battle = query(fixture_warehouse, "select instruction_id, miner from instructions_for_battle")
    assert tuple(battle["instruction_id"]) == lake.SELECTED
    assert battle["miner"].to_list() == ["gamma", "alpha", "gamma"]


def test_battle_votes_keep_enabled_experts_only(fixture_warehouse: Path) -> None:
    votes = query(fixture_warehouse, "select * from battle_votes")
    experts = set(votes["model_a"]) | set(votes["model_b"]) | set(votes["judge"])
    assert experts == {*lake.ENABLED_EXPERTS, "execution"}
    llm = votes.filter(pl.col("judge_kind") == "llm")
    # 3 instructions x 6 pairs x 2 uninvolved judges x 2 orders
    assert llm.height == 3 * 6 * 2 * 2
    execution = votes.filter(pl.col("judge_kind") == "execution")
    decisive = execution.filter(pl.col("winner") != "tie").height
    assert (decisive, execution.height - decisive) == lake.EXPECTED_EXECUTION_VOTES


def test_rating_pair_counts_match_the_designed_votes(fixture_warehouse: Path) -> None:
    counts = query(fixture_warehouse, "select * from rating_pair_counts")
    got = {
        (r["model_a"], r["model_b"]): (r["wins_a"], r["wins_b"], r["ties"])
        for r in counts.iter_rows(named=True)
    }
    assert got == lake.EXPECTED_RATING_PAIR_COUNTS


def test_pair_win_matrix_mirrors_pair_counts(fixture_warehouse: Path) -> None:
    matrix = query(fixture_warehouse, "select * from pair_win_matrix")
    rows = {(r["model"], r["opponent"]): r for r in matrix.iter_rows(named=True)}
    assert len(rows) == 2 * len(lake.EXPECTED_RATING_PAIR_COUNTS)
    for (a, b), (wins_a, wins_b, ties) in lake.EXPECTED_RATING_PAIR_COUNTS.items():
        assert (rows[(a, b)]["wins"], rows[(a, b)]["losses"], rows[(a, b)]["ties"]) == (
            wins_a,
            wins_b,
            ties,
        )
        assert (rows[(b, a)]["wins"], rows[(b, a)]["losses"]) == (wins_b, wins_a)
        assert rows[(a, b)]["win_rate"] == pytest.approx(wins_a / (wins_a + wins_b))


def test_battles_local_scores_and_order_agreement(fixture_warehouse: Path) -> None:
    battles = query(fixture_warehouse, "select * from battles")
    assert battles.height == 3 * 6
    rows = {
        (r["instruction_id"], r["model_a"], r["model_b"]): r for r in battles.iter_rows(named=True)
    }
    # gamma: a, a, invalid; kappa (always first): a then b; no execution vote on i10
    flaky = rows[("i10", "alpha", "beta")]
    assert (flaky["votes_a"], flaky["votes_b"], flaky["ties"], flaky["invalid"]) == (2, 1, 0, 1)
    assert flaky["local_score_a"] == pytest.approx(2 / 3)
    assert flaky["both_orders_agree"] == 0.0  # only kappa judged both orders validly, and flipped
    tied = rows[("i18", "gamma", "kappa")]  # alpha: a, a; beta: tie, tie; execution: a
    assert (tied["votes_a"], tied["votes_b"], tied["ties"]) == (3, 0, 2)
    assert tied["local_score_a"] == 1.0 and tied["both_orders_agree"] == 1.0


def test_judge_position_bias_finds_the_first_picker(fixture_warehouse: Path) -> None:
    bias = query(fixture_warehouse, "select * from judge_position_bias")
    rows = {r["judge"]: r for r in bias.iter_rows(named=True)}
    assert set(rows) == set(lake.ENABLED_EXPERTS)
    assert (rows["kappa"]["first_pick_share"], rows["kappa"]["flip_rate"]) == (1.0, 1.0)
    assert (rows["alpha"]["first_pick_share"], rows["alpha"]["flip_rate"]) == (0.5, 0.0)
    assert rows["gamma"]["first_pick_share"] == pytest.approx(9 / 17)
    assert (rows["gamma"]["n_order_pairs"], rows["beta"]["n_decisive"]) == (8, 12)


def test_judge_agreement(fixture_warehouse: Path) -> None:
    agreement = query(fixture_warehouse, "select * from judge_agreement")
    rows = {(r["judge_a"], r["judge_b"]): r for r in agreement.iter_rows(named=True)}
    assert rows[("alpha", "gamma")]["agreement_rate"] == 1.0  # both pick the stronger model
    assert rows[("gamma", "kappa")]["agreement_rate"] == 0.0  # kappa's flips net to a tie
    assert rows[("alpha", "beta")]["agreement_rate"] == 0.0  # beta ties gamma vs kappa
    assert (
        rows[("execution", "kappa")]["shared_battles"],
        rows[("execution", "kappa")]["agreements"],
    ) == (6, 2)


def test_judge_vs_execution_splits_agreement_by_executions_verdict(
    fixture_warehouse: Path,
) -> None:
    rows = {
        r["judge"]: r
        for r in query(fixture_warehouse, "select * from judge_vs_execution").iter_rows(named=True)
    }
    pairwise = query(
        fixture_warehouse,
        "select judge_a, judge_b, agreement_rate, shared_battles from judge_agreement "
        "where 'execution' in (judge_a, judge_b)",
    )
    for r in pairwise.iter_rows(named=True):  # the same total as the pairwise mart
        judge = r["judge_b"] if r["judge_a"] == "execution" else r["judge_a"]
        assert (rows[judge]["agreement_rate"], rows[judge]["shared_battles"]) == (
            r["agreement_rate"],
            r["shared_battles"],
        )
    # kappa flips every battle: it agrees exactly on execution's ties, the no-skill floor
    kappa = rows["kappa"]
    assert (kappa["agreement_on_decided"], kappa["agreement_on_ties"]) == (0.0, 1.0)
    assert kappa["agreement_rate"] == kappa["no_skill_agreement"] == 2 / 6
    # alpha picks the stronger model: every battle execution decides, never a tie it calls
    alpha = rows["alpha"]
    assert (alpha["execution_decided"], alpha["agreement_on_decided"]) == (3, 1.0)
    assert (alpha["execution_ties"], alpha["agreement_on_ties"]) == (1, 0.0)


def test_reporting_marts(fixture_warehouse: Path) -> None:
    evaluation = query(fixture_warehouse, "select model_label, pass_at_1 from evaluation_summary")
    assert (
        dict(zip(evaluation["model_label"], evaluation["pass_at_1"], strict=True))
        == lake.EXPECTED_PASS_AT_1
    )
    winners = query(fixture_warehouse, "select winner, miner, n_won from sft_winners_summary")
    expected = {}
    for _, miner, winner, *_ in lake.WINNERS:
        expected[(winner, miner)] = expected.get((winner, miner), 0) + 1
    assert {
        (r["winner"], r["miner"]): r["n_won"] for r in winners.iter_rows(named=True)
    } == expected
    leaderboard = query(
        fixture_warehouse, "select expert from leaderboard where method = 'bt' order by rank"
    )
    assert leaderboard["expert"].to_list() == list(lake.ENABLED_EXPERTS)


def test_stage_token_costs_add_up_per_stage_and_expert(fixture_warehouse: Path) -> None:
    costs = query(fixture_warehouse, "select * from stage_token_costs")
    got = {
        (r["stage"], r["expert"]): (r["n_calls"], r["prompt_tokens"], r["completion_tokens"])
        for r in costs.iter_rows(named=True)
    }
    frames = {
        "mining": (lake._mined(), "expert"),
        "scoring": (lake._scores(), "scorer"),
        "responding": (lake._responses(), "expert"),
        "judging": (lake._judgments(), "judge"),
    }
    expected = {}
    for stage, (frame, by) in frames.items():
        totals = frame.group_by(by).agg(
            pl.len(), pl.col("prompt_tokens").sum(), pl.col("completion_tokens").sum()
        )
        for expert, n_calls, prompt_tokens, completion_tokens in totals.iter_rows():
            expected[(stage, expert)] = (n_calls, prompt_tokens, completion_tokens)
    assert got == expected
    assert all(got[key][1] > 0 for key in got if key[0] == "judging")  # judging's input side


def test_dbt_unit_tests_pass(fixture_warehouse: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"  # dbt opens it for writing: the shared one is read
    shutil.copy(fixture_warehouse, warehouse)
    result = run_dbt(
        ["test", "--select", "test_type:unit"],
        wc_home=fixture_warehouse.parent,
        warehouse=warehouse,
        work_dir=tmp_path,
    )
    declared = sum(
        len(yaml.safe_load(path.read_text()).get("unit_tests") or [])
        for path in (REPO_ROOT / "dbt_project" / "models").rglob("*.yml")
    )
    summary = re.search(
        r"PASS=(\d+) WARN=\d+ ERROR=(\d+) SKIP=\d+ NO-OP=\d+ TOTAL=(\d+)", result.stdout
    )
    assert summary, result.stdout[-2000:]
    passed, errors, total = map(int, summary.groups())
    assert errors == 0 and passed == total == declared >= 9  # every declared unit test ran


@pytest.mark.slow
def test_battle_votes_incremental_follows_the_execution_weight(
    fixture_warehouse: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(fixture_warehouse, warehouse)
    before = query(warehouse, "select count(*) as n from battle_votes where judge_kind = 'llm'")[
        "n"
    ][0]

    run_dbt(
        ["run", "--select", "battle_votes", "--vars", "{execution_judge_weight: 0.5}"],
        wc_home=fixture_warehouse.parent,
        warehouse=warehouse,
        work_dir=tmp_path,
    )
    # changed fingerprints: the execution votes are replaced, not duplicated
    halved = query(
        warehouse, "select judge_kind, weight, count(*) as n from battle_votes group by all"
    )
    assert sorted(halved.iter_rows()) == [
        ("execution", 0.5, sum(lake.EXPECTED_EXECUTION_VOTES)),
        ("llm", 1.0, before),
    ]


@pytest.mark.slow
def test_execution_stays_the_reference_at_weight_zero(
    fixture_warehouse: Path, tmp_path: Path
) -> None:
    """`judging.execution.weight: 0` (LLM judges decide, the paper's setting): no execution vote
    counts, yet every LLM judge is still measured against execution, as at a positive weight."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(fixture_warehouse, warehouse)
    reference = "select * from judge_vs_execution order by judge"
    before = query(fixture_warehouse, reference)
    run_dbt(
        [
            "run",
            "--select",
            "battle_votes+",
            "--vars",
            "{execution_judge_weight: 0}",
        ],
        wc_home=fixture_warehouse.parent,
        warehouse=warehouse,
        work_dir=tmp_path,
    )
    kinds = query(warehouse, "select distinct judge_kind from battle_votes")["judge_kind"]
    assert kinds.to_list() == ["llm"]  # no execution vote weighs in
    after = query(warehouse, reference)
    assert len(after) == len(before) > 0
    assert after.equals(before)


@pytest.mark.slow
def test_battle_votes_reads_only_votes_newer_than_its_watermark(
    fixture_warehouse: Path, tmp_path: Path
) -> None:
    """A rewritten judge file keeps its old rows' first_seen_at; an incremental run inserts the
    new vote and never re-reads the old ones (a tampered old row stays tampered until a full
    refresh), and re-enabling an expert brings back its votes although they are old."""
    home = tmp_path / "home"
    shutil.copytree(fixture_warehouse.parent, home)
    warehouse = home / "warehouse.duckdb"
    key = "instruction_id, model_a, model_b, judge, presentation_order"
    votes_sql = f"select {key}, winner from battle_votes where judge_kind = 'llm' order by all"
    before = query(warehouse, votes_sql)
    first = before.row(0, named=True)
    with duckdb.connect(str(warehouse)) as connection:  # tamper with one old vote
        connection.execute(
            "update battle_votes set winner = 'tampered' where instruction_id = ? and model_a = ?"
            " and model_b = ? and judge = ? and presentation_order = ?",
            [first[c] for c in key.split(", ")],
        )
    judge_file = read_lake_table(Home(home), "judgments", partition="alpha")
    new_vote = judge_file.head(1).with_columns(pl.lit("i-new").alias("instruction_id"))
    rewritten = pl.concat([judge_file, new_vote]).drop("first_seen_at")
    write_lake_table(Home(home), "judgments", rewritten, partition="alpha")
    stamped = read_lake_table(Home(home), "judgments", partition="alpha")
    assert stamped["first_seen_at"].n_unique() == 2  # old rows kept their time

    run_dbt(
        ["run", "--select", "stg_judgments", "battle_votes"],  # views point at this home's lake
        wc_home=home,
        warehouse=warehouse,
        work_dir=tmp_path,
    )
    after = query(warehouse, votes_sql)
    assert after.height == before.height + 1
    assert "i-new" in after["instruction_id"].to_list()
    assert after.filter(pl.col("winner") == "tampered").height == 1  # old rows were not re-read

    run_dbt(
        ["run", "--select", "battle_votes", "--full-refresh"],
        wc_home=home,
        warehouse=warehouse,
        work_dir=tmp_path,
    )
    refreshed = query(warehouse, votes_sql)
    assert refreshed.filter(pl.col("winner") == "tampered").is_empty()
    assert refreshed.height == after.height

    # votes of an enabled expert with none here (as after it was disabled, then re-enabled) come
    # back although they are older than the watermark
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("delete from battle_votes where judge = 'alpha'")
    run_dbt(
        ["run", "--select", "stg_judgments", "battle_votes"],  # views point at this home's lake
        wc_home=home,
        warehouse=warehouse,
        work_dir=tmp_path,
    )
    assert query(warehouse, votes_sql).equals(refreshed)


@pytest.mark.slow
def test_battle_votes_reweigh_old_votes_when_the_adaptive_schedule_says_so(
    fixture_warehouse: Path, tmp_path: Path
) -> None:
    """battle_judges rows newer than the watermark make an incremental run re-read every vote of
    their battle (older than the watermark) with weight judges_full / judges asked."""
    home = tmp_path / "home"
    shutil.copytree(fixture_warehouse.parent, home)
    warehouse = home / "warehouse.duckdb"
    battle = read_lake_table(Home(home), "judgments", partition="alpha").row(0, named=True)
    key = {c: battle[c] for c in ("instruction_id", "model_a", "model_b")}
    rows = pl.DataFrame([{**key, "judge": "alpha", "judges_full": 3}])
    write_lake_table(Home(home), "battle_judges", rows, partition="alpha")

    run_dbt(
        ["run", "--select", "stg_battle_judges", "battle_votes"],
        wc_home=home,
        warehouse=warehouse,
        work_dir=tmp_path,
    )
    reweighed = (
        "instruction_id = '{instruction_id}' and model_a = '{model_a}' and model_b = '{model_b}'"
    )
    weights = query(
        warehouse,
        f"select ({reweighed.format(**key)}) as reweighed, weight, count(*) > 0 as any"
        " from battle_votes where judge_kind = 'llm' group by all order by all",
    )
    assert weights.rows() == [(False, 1.0, True), (True, 3.0, True)]


def near_duplicate_corpus(seed: int = 0) -> list[str]:
    """Instructions with exact (case/spacing) copies, light edits and edit chains."""
    rng = random.Random(seed)
    words = [
        f"{stem}{n}" for stem in ("parse", "sort", "cache", "graph", "queue") for n in range(80)
    ]
    texts = []
    for base_index in range(12):
        base = rng.sample(words, 14)
        texts.append("Write a function that " + " ".join(base))
        variant = list(base)
        for _ in range(3):  # a chain: each step edits 2 to 7 more words
            for position in rng.sample(range(len(variant)), rng.randint(2, 7)):
                variant[position] = rng.choice(words)
            texts.append("Write a function that " + " ".join(variant))
        if base_index % 3 == 0:
            texts.append("WRITE a function  that " + " ".join(base).upper())
    return texts


@pytest.mark.slow
def test_dedup_marts_read_the_python_groups_on_a_partly_filled_lake(tmp_path: Path) -> None:
    """The dedup stage's lake table (gpu_ops.curation.dedup, generations as priority) is what
    dedup_groups and instructions_dedup show; unfilled tables stay empty."""
    texts = near_duplicate_corpus()
    ids = [lake.content_id("cross-check", index) for index in range(len(texts))]
    wc_home = tmp_path / "home"
    # every third instruction comes from an expert that joined later: it survives only where
    # its group has no first-generation member
    registry = lake._registry().with_columns(
        joined_generation=pl.when(pl.col("expert") == "beta").then(1).otherwise(0)
    )
    lake._write(registry, wc_home, "expert_registry")
    miners = ["beta" if index % 3 == 0 else "alpha" for index in range(len(texts))]
    mined = lake._mined().head(1).drop("mined_id", "raw_text", "expert")
    mined = pl.concat([mined] * len(texts)).with_columns(
        mined_id=pl.Series(ids), raw_text=pl.Series(texts), expert=pl.Series(miners)
    )
    for miner in ("alpha", "beta"):
        lake._write(mined.filter(pl.col("expert") == miner), wc_home, "instructions_mined", miner)
    priority = [1 if miner == "beta" else 0 for miner in miners]
    survivors = dedup.survivors_table(ids, texts, priority)
    lake._write(survivors, wc_home, "instruction_survivors")
    warehouse = wc_home / "warehouse.duckdb"
    run_dbt(
        ["run", "--select", "+instructions_dedup", "+battles"],
        wc_home=wc_home,
        warehouse=warehouse,
        work_dir=tmp_path,
    )

    by_id_only = dedup.find_duplicate_groups(ids, texts)
    assert not survivors["survivor_id"].equals(by_id_only["survivor_id"])  # the priority decides
    dropped = survivors.filter(pl.col("reason") != "survivor")
    expected = dict(zip(dropped["instruction_id"], dropped["survivor_id"], strict=True))
    groups = query(warehouse, "select instruction_id, survivor_id from dedup_groups")
    assert dict(zip(groups["instruction_id"], groups["survivor_id"], strict=True)) == expected
    assert len(set(expected.values())) >= 4 and len(expected) >= 10  # the corpus has real groups
    assert query(warehouse, "select count(*) as n from instructions_dedup")["n"][0] == len(
        texts
    ) - len(expected)
    assert query(warehouse, "select count(*) as n from battles")["n"][0] == 0  # no judgments yet
