"""dbt arena marts at scale: build time and peak memory at 1M and 10M votes, incremental votes.

A synthetic arena lake (`$WC_HOME/lake/<table>/<partition>.parquet`, the pipeline's layout):
N=10 enabled experts, every pair of them battles on every instruction, the 8 uninvolved experts
judge each battle in both presentation orders (720 LLM votes per instruction, one Parquet file
per judge), plus one execution result per instruction and responder (one file per responder).
Verdicts follow a strength order with ties, invalid replies and one position-biased judge.

Per size, in one process and one scratch home:
* `dbt build --full-refresh` of the arena marts and their parents (battle_votes, battles,
  pair_win_matrix, judge_position_bias, judge_agreement, rating_pair_counts, experts, staging
  views), data tests included: wall seconds, peak RSS of the dbt process, per-model seconds
  from run_results.json;
* baseline: rating_pair_counts computed by one plain DuckDB query over the Parquet files, vs the
  dbt path to it (battle_votes + rating_pair_counts model seconds); the results must match;
* 1% new votes arrive (new instructions, judge files rewritten through the storage contract,
  which keeps the old rows' first_seen_at): an incremental `dbt run` of battle_votes (it reads
  only votes newer than its watermark) vs a `--full-refresh` run of it on the same lake; both
  must give the same rows.
Each figure is one run (a 10M build takes minutes on 2 cores). The scratch home is deleted.

    python -m bench.bench_dbt_marts [--quick] [--sizes 1000000,10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from bench.timing import MIB, PeakMemory, run_command, timed
from dagster_wc.dbt.assets import dbt_subprocess
from wc_foundation.storage import Home, write_lake_table

N_EXPERTS = 10
MARTS = (
    "battle_votes",
    "battles",
    "pair_win_matrix",
    "judge_position_bias",
    "judge_agreement",
    "rating_pair_counts",
)
# `+` takes each mart's parents (experts, staging views); pair_win_matrix pulls rating_pair_counts.
SELECTION = ["+battles", "+pair_win_matrix", "+judge_position_bias", "+judge_agreement"]
BIASED_JUDGE = N_EXPERTS - 1  # always picks the response shown first
NEW_VOTE_SHARE = 0.01


def expert_names(n: int = N_EXPERTS) -> list[str]:
    return [f"expert-{i:02d}" for i in range(n)]


def votes_per_instruction(n: int = N_EXPERTS) -> int:
    """LLM votes of one instruction: C(n, 2) pairs x (n - 2) judges x 2 orders."""
    return math.comb(n, 2) * (n - 2) * 2


def instruction_ids(start: int, count: int) -> list[str]:
    return [f"ins-{i:08d}" for i in range(start, start + count)]


def judge_frame(judge: int, instructions: list[str], seed: int) -> pl.DataFrame:
    """Every vote of one judge on the given instructions (one lake partition's rows)."""
    names = expert_names()
    grid = [
        (a, b, order)
        for a, b in itertools.combinations(range(N_EXPERTS), 2)
        if judge not in (a, b)
        for order in (0, 1)
    ]
    grid_a, grid_b, grid_order = (np.array(column) for column in zip(*grid, strict=True))
    n_rows = len(instructions) * len(grid)
    cell = np.tile(np.arange(len(grid)), len(instructions))
    instruction = np.repeat(np.arange(len(instructions)), len(grid))
    model_a, model_b, order = grid_a[cell], grid_b[cell], grid_order[cell]
    first = np.where(order == 0, model_a, model_b)
    second = np.where(order == 0, model_b, model_a)
    rng = np.random.default_rng([seed, judge])
    strength = np.linspace(1.5, -1.5, N_EXPERTS)  # expert-00 strongest
    p_first_wins = 1.0 / (1.0 + np.exp(strength[second] - strength[first]))
    u = rng.random(n_rows)
    verdict = np.where(rng.random(n_rows) < p_first_wins, 0, 1)  # 0 first, 1 second
    verdict = np.where(u < 0.08, 2, np.where(u < 0.09, 3, verdict))  # 2 tie, 3 invalid
    if judge == BIASED_JUDGE:
        verdict = np.zeros(n_rows, dtype=np.int64)
    verdict_names = pl.Series(["first", "second", "tie", "invalid"])
    replies = pl.Series(["[[A]]", "[[B]]", "[[C]]", "no verdict"])
    expert_series = pl.Series(names)
    logprob = judge % 2 == 0
    p_first = rng.random(n_rows)
    frame = pl.DataFrame(
        {
            "instruction_id": pl.Series(instructions).gather(instruction),
            "judge": pl.repeat(names[judge], n_rows, eager=True),
            "model_a": expert_series.gather(model_a),
            "model_b": expert_series.gather(model_b),
            "shown_first": expert_series.gather(first),
            "shown_second": expert_series.gather(second),
            "order": pl.Series(["ab", "ba"]).gather(order),
            "mode": pl.repeat("logprob" if logprob else "generate", n_rows, eager=True),
            "verdict": verdict_names.gather(verdict),
            "p_first": pl.Series(p_first, dtype=pl.Float64)
            if logprob
            else pl.repeat(None, n_rows, dtype=pl.Float64, eager=True),
            "raw_reply": replies.gather(verdict),
            "prompt_tokens": rng.integers(600, 1200, n_rows),
            "completion_tokens": rng.integers(1, 40, n_rows),
        }
    )
    return frame.with_columns(
        p_second=(1.0 - pl.col("p_first")) * 0.9,
        p_tie=(1.0 - pl.col("p_first")) * 0.1,
        prompt_hash=pl.concat_str(
            "instruction_id", "judge", "shown_first", "shown_second", separator="|"
        )
        .hash(seed=7)
        .cast(pl.String),
    ).select(
        "instruction_id",
        "judge",
        "model_a",
        "model_b",
        "shown_first",
        "shown_second",
        "order",
        "mode",
        "verdict",
        "p_first",
        "p_second",
        "p_tie",
        "raw_reply",
        "prompt_hash",
        "prompt_tokens",
        "completion_tokens",
    )


def execution_frame(expert: int, instructions: list[str], seed: int) -> pl.DataFrame:
    """One execution result per instruction for one responder; 20% have no code (null score)."""
    rng = np.random.default_rng([seed, 1000 + expert])
    n = len(instructions)
    pass_rate = 0.9 - 0.06 * expert
    tests_passed = rng.binomial(2, pass_rate, n)
    has_code = rng.random(n) >= 0.2
    score = np.where(has_code, tests_passed / 2.0, np.nan)
    return pl.DataFrame(
        {
            "instruction_id": instructions,
            "expert": [expert_names()[expert]] * n,
            "has_code": has_code,
            "parses": has_code,
            "runs": has_code & (tests_passed > 0),
            "tests_found": np.where(has_code, 2, 0).astype(np.int32),
            "tests_passed": np.where(has_code, tests_passed, 0).astype(np.int32),
            "exec_score": pl.Series(score).fill_nan(None),
            "error_kind": pl.Series([None] * n, dtype=pl.String),
            "isolation": pl.Series(["full"] * n, dtype=pl.String),
        }
    )


def registry_frame() -> pl.DataFrame:
    names = expert_names()
    return pl.DataFrame(
        {
            "expert": names,
            "model": [f"/models/{e}" for e in names],
            "backend": ["vllm"] * len(names),
            "family": ["llama"] * len(names),
            "roles": [["miner", "scorer", "responder", "judge"]] * len(names),
            "enabled": [True] * len(names),
            "config_hash": [f"hash-{e}" for e in names],
            "joined_generation": [0] * len(names),
        }
    )


def write_lake(home: Path, instructions: list[str], seed: int) -> None:
    """Write (or rewrite, with the rows already there) the arena tables of the lake.

    Through the storage contract, as the stages write: a rewritten judge file keeps the
    first_seen_at of the rows it already held, so only the new votes are newer than the
    warehouse's watermark."""
    lake_home = Home(home)
    write_lake_table(lake_home, "expert_registry", registry_frame())
    for index, name in enumerate(expert_names()):
        for table, make in (("judgments", judge_frame), ("execution_results", execution_frame)):
            frame = make(index, instructions, seed)
            path = lake_home.table_file(table, name)
            if path.exists():
                earlier = pl.read_parquet(path).drop("first_seen_at", strict=False)
                frame = pl.concat([earlier, frame], how="vertical_relaxed")
            write_lake_table(lake_home, table, frame, partition=name)


def dbt(args: list[str], home: Path, warehouse: Path) -> dict[str, Any]:
    """Run dbt on the project against `home`; wall seconds, peak RSS, per-node seconds."""
    target = home / "dbt_target"
    command, env = dbt_subprocess(
        args, home_root=home, warehouse=warehouse, target_dir=target, log_dir=home / "dbt_logs"
    )
    result = run_command(command, env=env, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.output[-6000:]}")
    run_results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    nodes = {node["unique_id"]: round(node["execution_time"], 3) for node in run_results["results"]}
    models = {uid.split(".")[-1]: s for uid, s in nodes.items() if uid.startswith("model.")}
    tests = [s for uid, s in nodes.items() if uid.startswith("test.")]
    return {
        "wall_seconds": round(result.seconds, 2),
        "peak_rss_mib": result.peak_rss_mib,
        "models_seconds": round(sum(models.values()), 2),
        "tests_seconds": round(sum(tests), 2),
        "data_tests": len(tests),
        "model_seconds": models,
    }


PLAIN_PAIR_COUNTS = """
with experts as (
    select expert from read_parquet('{lake}/expert_registry/*.parquet') where enabled
),
judgments as (
    select * from read_parquet('{lake}/judgments/*.parquet', union_by_name=true)
    where judge in (select expert from experts)
        and model_a in (select expert from experts)
        and model_b in (select expert from experts)
),
llm as (
    select
        least(model_a, model_b) as model_a,
        greatest(model_a, model_b) as model_b,
        case verdict when 'first' then shown_first when 'second' then shown_second end as won,
        verdict = 'tie' as tie,
        1.0 as weight
    from judgments
    where verdict <> 'invalid'
),
execution as (
    select instruction_id, expert, exec_score
    from read_parquet('{lake}/execution_results/*.parquet', union_by_name=true)
    where exec_score is not null and expert in (select expert from experts)
),
execution_votes as (
    select
        a.expert as model_a,
        b.expert as model_b,
        case when a.exec_score > b.exec_score then a.expert
            when a.exec_score < b.exec_score then b.expert end as won,
        a.exec_score = b.exec_score as tie,
        1.0 as weight
    from execution as a
    inner join execution as b on a.instruction_id = b.instruction_id and a.expert < b.expert
),
votes as (select * from llm union all select * from execution_votes)
select
    model_a,
    model_b,
    coalesce(sum(weight) filter (where won = model_a), 0) as wins_a,
    coalesce(sum(weight) filter (where won = model_b), 0) as wins_b,
    coalesce(sum(weight) filter (where tie), 0) as ties,
    count(*) as n_votes
from votes
group by model_a, model_b
order by model_a, model_b
"""


def plain_pair_counts(home: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The baseline: rating_pair_counts as one DuckDB query over the Parquet files."""
    connection = duckdb.connect()
    with PeakMemory() as memory:
        frame, seconds = timed(
            lambda: connection.sql(PLAIN_PAIR_COUNTS.format(lake=home / "lake")).pl()
        )
    connection.close()
    return frame, {"seconds": round(seconds, 2), "peak_rss_mib": memory.peak_mib}


def read_warehouse(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).pl()


# Order-independent content fingerprint of battle_votes (row count and a sum of row hashes), so
# the incremental and the full-refresh tables compare without loading 10M rows into Python.
VOTES_FINGERPRINT = """
select count(*) as n_rows, sum(hash(instruction_id, model_a, model_b, judge, presentation_order,
    judge_kind, winner, winner_expert, weight, vote_fingerprint)::hugeint) as content
from battle_votes
"""


def lake_mib(home: Path) -> float:
    files = (home / "lake").rglob("*.parquet")
    return round(sum(path.stat().st_size for path in files) / MIB, 1)


def dbt_pair_counts_from_votes(warehouse: Path) -> pl.DataFrame:
    """rating_pair_counts' figures read from the current battle_votes table."""
    return read_warehouse(
        warehouse,
        """
        select model_a, model_b,
            coalesce(sum(weight) filter (where winner = 'model_a'), 0) as wins_a,
            coalesce(sum(weight) filter (where winner = 'model_b'), 0) as wins_b,
            coalesce(sum(weight) filter (where winner = 'tie'), 0) as ties,
            count(*) as n_votes
        from battle_votes where winner <> 'invalid'
        group by model_a, model_b order by model_a, model_b
        """,
    )


PAIR_COLUMNS = ("model_a", "model_b", "wins_a", "wins_b", "ties", "n_votes")


def same_pair_counts(left: pl.DataFrame, right: pl.DataFrame) -> bool:
    return left.select(PAIR_COLUMNS).equals(right.select(PAIR_COLUMNS))


def measure_size(n_votes: int, root: Path, *, smoke: bool = False, seed: int = 0) -> dict[str, Any]:
    """One size: full build, plain-DuckDB baseline, then 1% new votes incrementally.

    smoke: `dbt run` without data tests and no full-refresh comparison (each dbt start costs
    10-15 s on a small machine); the incremental result is still checked against plain DuckDB.
    """
    home = root / f"votes_{n_votes}"
    shutil.rmtree(home, ignore_errors=True)
    warehouse = home / "warehouse.duckdb"
    n_instructions = math.ceil(n_votes / votes_per_instruction())
    instructions = instruction_ids(0, n_instructions)
    _, write_s = timed(lambda: write_lake(home, instructions, seed))
    parquet_mib = lake_mib(home)

    build_command = ["run" if smoke else "build", "--full-refresh", "--select", *SELECTION]
    if not smoke:
        # cautious: only tests whose parents are all selected (not e.g. a relationships test of
        # instructions_screened that merely points at stg_expert_registry).
        build_command += ["--exclude", "test_type:unit", "--indirect-selection", "cautious"]
    build = dbt(build_command, home, warehouse)
    marts = {m: build["model_seconds"].get(m) for m in MARTS}
    dbt_pair_counts = read_warehouse(warehouse, "select * from rating_pair_counts order by all")
    total_votes = int(read_warehouse(warehouse, "select count(*) from battle_votes").item())
    plain, plain_figures = plain_pair_counts(home)
    dbt_path_s = marts["battle_votes"] + marts["rating_pair_counts"]

    n_new = max(1, math.ceil(n_instructions * NEW_VOTE_SHARE))
    write_lake(home, instruction_ids(n_instructions, n_new), seed + 1)
    incremental = dbt(["run", "--select", "battle_votes"], home, warehouse)
    incremental_s = incremental["model_seconds"]["battle_votes"]
    fingerprint_incremental = read_warehouse(warehouse, VOTES_FINGERPRINT).rows()
    plain_after, _ = plain_pair_counts(home)
    increment: dict[str, Any] = {
        "new_instructions": n_new,
        "new_llm_votes": n_new * votes_per_instruction(),
        "rows_after_increment": int(fingerprint_incremental[0][0]),
        "incremental_model_seconds": incremental_s,
        "incremental_wall_seconds": incremental["wall_seconds"],
        "incremental_peak_rss_mib": incremental["peak_rss_mib"],
        "matches_plain_duckdb": same_pair_counts(
            plain_after, dbt_pair_counts_from_votes(warehouse)
        ),
    }
    if not smoke:
        full_refresh = dbt(["run", "--full-refresh", "--select", "battle_votes"], home, warehouse)
        full_s = full_refresh["model_seconds"]["battle_votes"]
        increment |= {
            "full_refresh_model_seconds": full_s,
            "full_refresh_wall_seconds": full_refresh["wall_seconds"],
            "full_refresh_peak_rss_mib": full_refresh["peak_rss_mib"],
            "full_refresh_over_incremental": round(full_s / max(incremental_s, 1e-9), 2),
            "same_rows_as_full_refresh": (
                read_warehouse(warehouse, VOTES_FINGERPRINT).rows() == fingerprint_incremental
            ),
        }
    shutil.rmtree(home, ignore_errors=True)
    return {
        "llm_votes": n_instructions * votes_per_instruction(),
        "battle_votes_rows": total_votes,
        "instructions": n_instructions,
        "lake_write_seconds": round(write_s, 1),
        "lake_parquet_mib": parquet_mib,
        "build": {**build, "model_seconds": marts},
        "baseline_plain_duckdb_pair_counts": {
            **plain_figures,
            "dbt_battle_votes_plus_rating_pair_counts_seconds": round(dbt_path_s, 2),
            "dbt_over_plain": round(dbt_path_s / max(plain_figures["seconds"], 1e-9), 2),
            "results_match": same_pair_counts(plain, dbt_pair_counts),
        },
        "incremental_battle_votes": increment,
    }


def size_label(n_votes: int) -> str:
    if n_votes % 1_000_000 == 0:
        return f"{n_votes // 1_000_000}M"
    if n_votes % 1_000 == 0:
        return f"{n_votes // 1_000}k"
    return str(n_votes)


def run(
    quick: bool = False,
    smoke: bool = False,
    sizes: list[int] | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """Full: 1M and 10M LLM votes; quick: 100k; smoke: 2k (see measure_size)."""
    if sizes is None:
        sizes = [2_000] if smoke else [100_000] if quick else [1_000_000, 10_000_000]
    scratch = root or Path(tempfile.mkdtemp(prefix="bench_dbt_marts_"))
    try:
        measured = {size_label(n): measure_size(n, scratch, smoke=smoke) for n in sizes}
    finally:
        if root is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {
        "benchmark": "dbt_marts",
        "experts": N_EXPERTS,
        "llm_votes_per_instruction": votes_per_instruction(),
        "selection": " ".join(SELECTION),
        "runs_per_figure": 1,
        "sizes": measured,
    }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of the summary table: (benchmark, what is compared, result, target)."""
    rows = []
    for label, size in result["sizes"].items():
        build, plain = size["build"], size["baseline_plain_duckdb_pair_counts"]
        incremental = size["incremental_battle_votes"]
        kind = "`dbt build` (data tests included)" if build["data_tests"] else "`dbt run`"
        rows.append(
            (
                f"dbt arena marts, {label} votes (`bench_dbt_marts`)",
                f"{kind} --full-refresh of the six arena marts on {size['battle_votes_rows']:,} "
                f"votes ({result['experts']} experts); baseline: rating_pair_counts as one plain "
                "DuckDB query over the Parquet files",
                f"{build['wall_seconds']} s wall (node times summed over 2 dbt threads: "
                f"{build['models_seconds']} s models, {build['tests_seconds']} s tests), peak RSS of dbt "
                f"{build['peak_rss_mib']:,.0f} MiB; battle_votes + rating_pair_counts "
                f"{plain['dbt_battle_votes_plus_rating_pair_counts_seconds']} s vs plain "
                f"{plain['seconds']} s ({plain['dbt_over_plain']}x, same counts: "
                f"{plain['results_match']})",
                "report",
            )
        )
        if "full_refresh_model_seconds" in incremental:
            figures = (
                f"{incremental['incremental_model_seconds']} s vs "
                f"{incremental['full_refresh_model_seconds']} s model time: "
                f"**{incremental['full_refresh_over_incremental']}x**; same rows: "
                f"{incremental['same_rows_as_full_refresh']}; peak RSS of dbt "
                f"{incremental['incremental_peak_rss_mib']:,.0f} vs "
                f"{incremental['full_refresh_peak_rss_mib']:,.0f} MiB"
            )
        else:
            figures = f"{incremental['incremental_model_seconds']} s model time (no full refresh)"
        rows.append(
            (
                f"battle_votes incremental, {label}",
                f"{incremental['new_llm_votes']:,} new votes (1%): incremental `dbt run` of "
                "battle_votes vs `--full-refresh` of it, same lake",
                figures,
                "report",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k votes instead of 1M and 10M")
    parser.add_argument("--sizes", default="", help="comma-separated vote counts, e.g. 1000000")
    parser.add_argument(
        "--keep", type=Path, default=None, help="scratch folder instead of a temp dir"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s] or None
    print(json.dumps(run(quick=args.quick, sizes=sizes, root=args.keep), indent=2))


if __name__ == "__main__":
    main()
