"""Ratings at scale and side by side with FastChat / arena-hard (issues #28 and #29).

Four measurements, each against a baseline run in the same bench run:

1. **Agreement** on an 80k-battle log in FastChat's clean_battle format (a JSON array with
   question_id, tstamp, anony, judge and nested conversations), read by `warriorcoder rate`
   with no conversion: BT against FastChat's `compute_bt` and arena-hard's scikit-learn fit,
   online Elo (K=4) against `compute_elo`, and both bootstrap medians against FastChat's.
2. **2M votes, 100 rounds, whole processes**: `warriorcoder rate --method elo` against FastChat's
   `compute_bootstrap_elo`, `--method bt` against `compute_bootstrap_bt` (the reference
   implementation in `bench/baseline/fastchat_ratings.py`; a vote-level bootstrap on both
   sides, as the log has no instruction ids). Targets: Elo <= 1.0x, BT <= 0.5x.
3. **10M votes from 10 experts, 100 rounds, cluster bootstrap**: `warriorcoder rate --method
   both`, whole process: wall time and peak RSS. Target: <= 5 min and <= 4 GiB on 2 cores.
4. **Interval coverage of planted truths**: the share of 95% intervals that contain the planted
   rating, for BT and for Elo at K=4 (FastChat) and K=40 (the paper's script), on clustered
   votes (one outcome per instruction, 6 votes each), with their mean width.

    python -m bench.bench_ratings_scale            # full sizes (minutes; 10M needs ~2 GB of disk)
    python -m bench.bench_ratings_scale --quick    # 80k / 200k / 1M, fewer replications
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from bench.baseline import fastchat_ratings as fastchat
from bench.bench_ratings import lmsys_design, sklearn_fit
from bench.timing import MIB, run_command
from gpu_ops.arena.ratings import bootstrap_bradley_terry, bootstrap_online_elo, win_probability

REPO = Path(__file__).resolve().parents[1]
RATE = [sys.executable, "-m", "warriorcoder.cli", "rate"]
BASELINE = [sys.executable, "-m", "bench.baseline.fastchat_ratings"]


def planted(n_experts: int) -> dict[str, float]:
    """Planted ratings, mean 1000, spread over 400 points."""
    return {f"expert-{i:02d}": float(r) for i, r in enumerate(np.linspace(1200, 800, n_experts))}


def synthetic_votes(
    n_votes: int,
    truth: dict[str, float],
    seed: int,
    votes_per_instruction: int | None,
    tie_rate: float = 0.1,
) -> pl.DataFrame:
    """Random pairs, winners drawn from the planted ratings (`tie_rate` ties), in log order.

    Ties drawn regardless of strength pull the ratings together, so coverage is measured
    without them.

    With votes_per_instruction, consecutive votes share an instruction_id (a cluster)."""
    rng = np.random.default_rng(seed)
    names = np.array(list(truth))
    true = np.array(list(truth.values()))
    a = rng.integers(0, len(names), n_votes)
    b = (a + rng.integers(1, len(names), n_votes)) % len(names)
    a_wins = rng.random(n_votes) < win_probability(true[a], true[b])
    tie = rng.random(n_votes) < tie_rate
    columns: dict[str, Any] = {
        "model_a": names[a],
        "model_b": names[b],
        "winner": np.where(tie, "tie", np.where(a_wins, "model_a", "model_b")),
    }
    if votes_per_instruction:
        columns["instruction_id"] = (
            pl.Series(np.arange(n_votes) // votes_per_instruction).cast(pl.String).to_numpy()
        )
    return pl.DataFrame(columns)


def fastchat_json(frame: pl.DataFrame, path: Path) -> None:
    """The votes as FastChat's clean_battle JSON array (in tstamp order)."""
    records = [
        {
            "question_id": f"q{i}",
            "model_a": row[0],
            "model_b": row[1],
            "winner": row[2],
            "judge": f"arena_user_{i % 97}",
            "conversation_a": [{"role": "user", "content": "hi"}],
            "conversation_b": [{"role": "user", "content": "hi"}],
            "turn": 1,
            "anony": True,
            "language": "English",
            "tstamp": 1_700_000_000.0 + i,
        }
        for i, row in enumerate(frame.iter_rows())
    ]
    path.write_text(json.dumps(records))


@dataclass(frozen=True)
class Measured:
    """A whole-process run: wall seconds, the child's user + system CPU seconds, peak RSS."""

    seconds: float
    cpu_s: float
    peak_rss_mib: float
    output: str


def command(args: list[str]) -> Measured:
    """Run a command as a whole process and measure it (see `Measured`).

    The machine is shared: wall time grows with the load, CPU time much less, so both are kept.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_command(args, env=_env(), cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:5])} failed:\n{result.output[-3000:]}")
    return Measured(result.seconds, round(cpu, 1), result.peak_rss_mib, result.output)


def rate(log: Path, out: Path, *options: str) -> tuple[dict[tuple[str, str], dict], Measured]:
    """`warriorcoder rate` as a whole process: ({(method, expert): row}, CommandResult)."""
    result = command([*RATE, str(log), "--out", str(out), *options])
    rows = json.loads(out.read_text())
    return {(row["method"], row["expert"]): row for row in rows}, result


def baseline(log: Path, function: str, rounds: int = 100) -> tuple[dict[str, float], Measured]:
    """The FastChat reference as a whole process: (median ratings, CommandResult)."""
    result = command([*BASELINE, str(log), function, "--rounds", str(rounds)])
    return json.loads(result.output.strip().splitlines()[-1]), result


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }


def _max_diff(ours: dict[str, float], theirs: dict[str, float]) -> float:
    return round(max(abs(ours[m] - theirs[m]) for m in theirs), 4)


def agreement(n_votes: int, work: Path) -> dict[str, Any]:
    """Measurement 1: the same FastChat-format log through ours, FastChat's and arena-hard's."""
    frame = synthetic_votes(n_votes, planted(12), seed=1, votes_per_instruction=None)
    log = work / "clean_battle.json"
    fastchat_json(frame, log)
    ours, _ = rate(log, work / "agree.json", "--k", "4", "--bootstrap", "100")
    battles = pd.read_json(log)
    bt_ours = {e: r["rating"] for (m, e), r in ours.items() if m == "bt"}
    elo_online = {e: r["rating_online"] for (m, e), r in ours.items() if m == "elo"}
    elo_median = {e: r["rating"] for (m, e), r in ours.items() if m == "elo"}
    np.random.seed(0)
    fastchat_elo_median = fastchat.compute_bootstrap_elo(battles, 100).median().to_dict()
    x, y, models = lmsys_design(
        pl.from_pandas(battles[["model_a", "model_b", "winner"]]), dense=False
    )
    arena_hard = sklearn_fit(x, y, models)
    bt_boot = bootstrap_bradley_terry(frame, rounds=100, seed=0)
    fastchat_bt_median = fastchat.compute_bootstrap_bt(battles, 100).median().to_dict()
    half_width = float(((bt_boot["ci_upper"] - bt_boot["ci_lower"]) / 2).mean())
    elo_half_width = float(
        np.mean([(r["ci_upper"] - r["ci_lower"]) / 2 for (m, _), r in ours.items() if m == "elo"])
    )
    return {
        "n_votes": n_votes,
        "bt_vs_fastchat_compute_bt": _max_diff(bt_ours, fastchat.compute_bt(battles)),
        "bt_vs_arena_hard_sklearn": _max_diff(bt_ours, arena_hard),
        "elo_online_vs_fastchat_compute_elo": _max_diff(elo_online, fastchat.compute_elo(battles)),
        "elo_median_vs_fastchat_bootstrap_median": _max_diff(elo_median, fastchat_elo_median),
        "elo_mean_ci_half_width": round(elo_half_width, 2),
        "bt_median_vs_fastchat_bootstrap_median": _max_diff(
            dict(zip(bt_boot["expert"], bt_boot["rating"], strict=True)), fastchat_bt_median
        ),
        "bt_mean_ci_half_width": round(half_width, 2),
    }


def fastchat_timings(n_votes: int, rounds: int, work: Path) -> dict[str, Any]:
    """Measurement 2: whole-process times, ours against the FastChat reference."""
    log = work / "votes_2m.parquet"
    synthetic_votes(n_votes, planted(10), seed=2, votes_per_instruction=None).write_parquet(log)
    out: dict[str, Any] = {"n_votes": n_votes, "rounds": rounds}
    for method, function in (("elo", "bootstrap_elo"), ("bt", "bootstrap_bt")):
        options = ["--method", method, "--bootstrap", str(rounds), "--k", "4"]
        ours, mine = rate(log, work / f"{method}.json", *options)
        theirs, base = baseline(log, function, rounds)
        medians = {e: r["rating"] for (m, e), r in ours.items() if m == method}
        out[method] = {
            "ours_s": round(mine.seconds, 1),
            "ours_cpu_s": mine.cpu_s,
            "ours_peak_rss_mib": mine.peak_rss_mib,
            "fastchat_s": round(base.seconds, 1),
            "fastchat_cpu_s": base.cpu_s,
            "fastchat_peak_rss_mib": base.peak_rss_mib,
            "ratio": round(mine.seconds / base.seconds, 3),
            "cpu_ratio": round(mine.cpu_s / max(base.cpu_s, 1e-9), 3),
            "max_median_diff": _max_diff(medians, theirs),
        }
    out["elo_target_met"] = out["elo"]["ratio"] <= 1.0
    out["bt_target_met"] = out["bt"]["ratio"] <= 0.5
    return out


def ten_million(n_votes: int, rounds: int, work: Path, suffixes: tuple[str, ...]) -> dict[str, Any]:
    """Measurement 3: `warriorcoder rate --method both` on a clustered log, whole process."""
    truth = planted(10)
    frame = synthetic_votes(n_votes, truth, seed=3, votes_per_instruction=10)
    out: dict[str, Any] = {"n_votes": n_votes, "n_experts": 10, "rounds": rounds, "runs": {}}
    for suffix in suffixes:
        log = work / f"votes{suffix}"
        if suffix == ".parquet":
            frame.write_parquet(log)
        elif suffix == ".csv":
            frame.write_csv(log)
        else:
            frame.write_ndjson(log)
        ours, result = rate(log, work / "10m.json", "--method", "both", "--bootstrap", str(rounds))
        bt_error = max(abs(ours[("bt", e)]["rating"] - truth[e]) for e in truth)
        out["runs"][suffix.lstrip(".")] = {
            "file_mib": round(log.stat().st_size / MIB),
            "seconds": round(result.seconds, 1),
            "cpu_s": result.cpu_s,
            "peak_rss_mib": result.peak_rss_mib,
            "bt_max_error_vs_planted": round(bt_error, 2),
            "target_met": result.seconds <= 300 and result.peak_rss_mib <= 4096,
        }
        log.unlink()
    return out


def coverage(replications: int) -> dict[str, Any]:
    """Measurement 4: 95% interval coverage of planted ratings, BT and Elo at K=4 and K=40."""
    truth = {"a": 1150.0, "b": 1050.0, "c": 950.0, "d": 850.0}
    hits: dict[str, list[bool]] = {"bt": [], "elo_k4": [], "elo_k40": []}
    widths: dict[str, list[float]] = {key: [] for key in hits}
    for replication in range(replications):
        one = synthetic_votes(
            600, truth, seed=100 + replication, votes_per_instruction=None, tie_rate=0.0
        )
        one = one.with_columns(instruction_id=pl.Series([f"i{i}" for i in range(one.height)]))
        log = pl.concat([one] * 6)  # 6 identical votes per instruction: clustered
        shuffled = log.sample(fraction=1.0, shuffle=True, seed=replication)
        tables = {
            "bt": bootstrap_bradley_terry(shuffled, rounds=100, seed=replication),
            "elo_k4": bootstrap_online_elo(shuffled, rounds=100, seed=replication, k=4),
            "elo_k40": bootstrap_online_elo(shuffled, rounds=100, seed=replication, k=40),
        }
        for key, table in tables.items():
            for row in table.iter_rows(named=True):
                hits[key].append(row["ci_lower"] <= truth[row["expert"]] <= row["ci_upper"])
                widths[key].append(row["ci_upper"] - row["ci_lower"])
    return {
        "replications": replications,
        "votes": "600 instructions x 6 identical votes, 4 experts 100 points apart, no ties",
        **{
            key: {
                "coverage": round(float(np.mean(hits[key])), 3),
                "mean_width": round(float(np.mean(widths[key])), 1),
            }
            for key in hits
        },
    }


def run(quick: bool = False, smoke: bool = False, only: str | None = None) -> dict[str, Any]:
    if smoke:
        sizes = {"agree": 5_000, "fastchat": 20_000, "big": 50_000, "rounds": 10, "reps": 2}
    elif quick:
        sizes = {"agree": 80_000, "fastchat": 200_000, "big": 1_000_000, "rounds": 100, "reps": 6}
    else:
        sizes = {
            "agree": 80_000,
            "fastchat": 2_000_000,
            "big": 10_000_000,
            "rounds": 100,
            "reps": 20,
        }
    parts = {
        "agreement": lambda work: agreement(sizes["agree"], work),
        "vs_fastchat": lambda work: fastchat_timings(sizes["fastchat"], sizes["rounds"], work),
        "scale": lambda work: ten_million(
            sizes["big"], sizes["rounds"], work, (".jsonl", ".parquet")
        ),
        "coverage": lambda work: coverage(sizes["reps"]),
    }
    with tempfile.TemporaryDirectory(prefix="bench_ratings_scale_") as folder:
        return {
            name: part(Path(folder)) for name, part in parts.items() if only is None or name == only
        }


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    vs = result["vs_fastchat"]
    scale = result["scale"]
    runs = "; ".join(
        f"{kind}: {r['seconds']:.0f} s, {r['peak_rss_mib'] / 1024:.2f} GiB"
        for kind, r in scale["runs"].items()
    )
    agree = result["agreement"]
    return [
        (
            "ratings at scale (`bench_ratings_scale`)",
            f"`warriorcoder rate --method both`, {scale['n_votes']:,} votes, 10 experts, "
            f"{scale['rounds']} cluster-bootstrap rounds, whole process",
            runs,
            "<= 300 s and <= 4 GiB",
        ),
        (
            "ratings vs FastChat (`bench_ratings_scale`)",
            f"{vs['n_votes']:,} votes, {vs['rounds']} rounds, whole processes: `rate --method elo` "
            "vs `compute_bootstrap_elo`, `--method bt` vs `compute_bootstrap_bt`",
            f"Elo {vs['elo']['ours_s']} s vs {vs['elo']['fastchat_s']} s (**{vs['elo']['ratio']}x**); "
            f"BT {vs['bt']['ours_s']} s vs {vs['bt']['fastchat_s']} s (**{vs['bt']['ratio']}x**); "
            f"BT {agree['bt_vs_fastchat_compute_bt']} / {agree['bt_vs_arena_hard_sklearn']} points "
            f"from FastChat / arena-hard, online Elo {agree['elo_online_vs_fastchat_compute_elo']}",
            "Elo <= 1.0x, BT <= 0.5x",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--only", choices=["agreement", "vs_fastchat", "scale", "coverage"], default=None
    )
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.smoke, args.only), indent=2))


if __name__ == "__main__":
    main()
