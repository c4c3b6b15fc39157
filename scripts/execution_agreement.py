"""How often the execution judge's verdict agrees with a known expert order (the demo's).

For every instruction and every pair of experts, the verdict (higher ``exec_score`` wins) is
compared with the known order: ``agree`` (the better expert won), ``disagree``, or ``tie``.
Scores come from the lake's ``execution_results`` (what the pipeline stored) and, with
``--rescore``, from the current judge run on the lake's responses (cross-execution tests,
verdicts decided outside the sandbox). Reads a copy of a home folder; writes nothing.

    python scripts/execution_agreement.py --home .warriorcoder --rescore
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import duckdb
import polars as pl

from gpu_ops.arena.execution_judge import score_responses
from gpu_ops.demo.experts import DEMO_EXPERTS

ORDER = [e.slug for e in sorted(DEMO_EXPERTS, key=lambda e: e.expected_rank)]


def agreement(scores: pl.DataFrame, order: list[str]) -> dict[str, float | int]:
    """Pairwise verdicts against ``order`` (best first): counts and the agreement rates."""
    rank = {slug: i for i, slug in enumerate(order)}
    by_instruction: dict[str, dict[str, float]] = {}
    for iid, expert, score in scores.select("instruction_id", "expert", "exec_score").iter_rows():
        if expert in rank:
            by_instruction.setdefault(iid, {})[expert] = float(score or 0.0)
    counts = {"agree": 0, "disagree": 0, "tie": 0}
    for experts in by_instruction.values():
        for a, b in itertools.combinations(sorted(experts, key=rank.get), 2):  # a ranks higher
            diff = experts[a] - experts[b]
            counts["tie" if abs(diff) < 1e-9 else "agree" if diff > 0 else "disagree"] += 1
    decided = counts["agree"] + counts["disagree"]
    total = decided + counts["tie"]
    return {
        **counts,
        "pairs": total,
        "agree_rate_of_decided": round(counts["agree"] / decided, 3) if decided else 0.0,
        "agree_rate_of_all": round(counts["agree"] / total, 3) if total else 0.0,
        "mean_score": {
            slug: round(float(scores.filter(pl.col("expert") == slug)["exec_score"].mean() or 0), 3)
            for slug in order
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a WC_HOME (lake + warehouse)")
    parser.add_argument("--rescore", action="store_true", help="also score with the current judge")
    args = parser.parse_args()
    lake = args.home / "lake"
    report = {"order": ORDER}
    stored = pl.read_parquet(lake / "execution_results" / "*.parquet")
    report["stored"] = agreement(stored, ORDER)
    if args.rescore:
        with duckdb.connect(str(args.home / "warehouse.duckdb"), read_only=True) as connection:
            rows = connection.execute(
                "select instruction_id, instruction from instructions_for_battle"
            ).fetchall()
        instructions = pl.DataFrame(rows, schema=["instruction_id", "instruction"], orient="row")
        responses = pl.read_parquet(lake / "responses" / "*.parquet")
        rows = responses.join(instructions, on="instruction_id").select(
            "instruction_id", "expert", "instruction", "response"
        )
        report["rescored"] = agreement(score_responses(rows, timeout_s=5, workers=2), ORDER)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
