"""How far the demo's pass@1 moves across machines, emulated on this one (issue 26).

Training and evaluation are deterministic on one machine: the same seed gives the same weights
and the same pass@1. Another machine can still give another number, because its CPU runs other
kernels (AVX-512, AVX2 or none: each sums floating-point numbers in another order) and its
thread count splits the reductions differently; a rounding difference in one step moves every
later step of SFT. Without a second machine, this script runs the same SFT + evaluation under
*profiles* that select those kernels on this CPU:

- ``native``: this CPU's own kernels (AVX-512 here);
- ``avx2``: PyTorch's ATen kernels, MKL and oneDNN held to AVX2 (a machine without AVX-512);
- ``generic``: no vector extensions beyond SSE4 (ATen's ``default`` kernels);

each at a thread count (``native:2`` is ``make demo``'s OMP_NUM_THREADS=2). Every profile trains
the config's target on the arena's winners (the home's exported SFT set, as ``demo_effect``
trains its arena condition) at each seed, with the SFT stage's settings, and evaluates it on the config's first
benchmark, as ``wc_demo.sweep_runs`` does for the sweeps (each run a child process, its result
kept by key under ``<home>/sweeps/runs``, so a rerun trains nothing). It reports, per seed,
whether the profiles trained bit-identical weights and how far their pass@1 spread, and for each
profile against ``native:1`` the paired bootstrap interval over tasks x seeds. With
``--conditions arena best_single_expert`` it also trains the best single expert's answers (as
``demo_effect`` does) under every profile, and reports the arena's margin over it per profile:
whether the demo's effect holds on each emulated machine, not only its pass@1.

What it cannot emulate: another CPU vendor's own kernels (MKL on AMD, OpenBLAS on ARM), another
torch build, or a GPU (bf16 autocast). It measures the part of the spread that kernel choice and
thread count cause, on this machine's hardware.

    python scripts/machine_spread.py --config configs/demo.yaml --home .warriorcoder \\
        --seeds 0 1 2 3 4 --profiles native:1 native:2 avx2:1 generic:1 \\
        [--conditions arena best_single_expert] --out spread.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from gpu_ops.errors import InputError
from gpu_ops.evaluation.conditions import ARENA, expert_condition
from gpu_ops.evaluation.intervals import paired_bootstrap
from wc_demo.sweep_runs import Runner, request
from wc_foundation.config import ArenaConfig, load_config
from wc_foundation.storage import Home

# environment that holds PyTorch (ATen), MKL and oneDNN to one instruction set
ISA_ENVIRONMENT = {
    "native": {},
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
    "generic": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
}
REFERENCE = "native:1"
BEST = "best_single_expert"


def parse_profile(text: str) -> tuple[str, dict[str, str]]:
    """'avx2:1' -> ('avx2:1', the environment of AVX2 kernels on one thread)."""
    isa, _, threads = text.partition(":")
    if isa not in ISA_ENVIRONMENT or not threads.isdigit() or int(threads) < 1:
        raise InputError(
            f"a profile is ISA:THREADS with ISA in {sorted(ISA_ENVIRONMENT)}, got {text!r}"
        )
    return f"{isa}:{int(threads)}", {**ISA_ENVIRONMENT[isa], "OMP_NUM_THREADS": str(int(threads))}


def condition_rows(home: Home, config: ArenaConfig) -> tuple[str, str, dict[str, list[dict]]]:
    """(benchmark, best single expert, {condition: SFT rows}) of a finished demo home, each
    condition's rows as `demo_effect` trains them (the sweeps' pool: the exported winners and
    every expert's answers to the same instructions)."""
    from wc_demo.sweep_pools import ShareArena, conditions, load_pool

    arena = ShareArena(share=0.0, home=home, config=config)  # the share only labels sweeps
    pool = load_pool(arena)
    found = conditions(arena, pool, seed=0)  # seed: the random expert's draw, not trained here
    return (
        arena.benchmark,
        pool.best,
        {ARENA: found[ARENA], BEST: found[expert_condition(pool.best)]},
    )


def _rounded(interval: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in interval.items()}


def margins(results: dict[tuple[str, str, int], dict]) -> dict[str, dict]:
    """Per profile: arena - best single expert, paired bootstrap over tasks x seeds."""
    out = {}
    for profile in sorted({p for c, p, _ in results if c == ARENA}):
        seeds = sorted(s for c, p, s in results if (c, p) == (ARENA, profile))
        if not all((BEST, profile, s) in results for s in seeds):
            continue
        arena, best = (
            {(t, s): v for s in seeds for t, v in results[(c, profile, s)]["passed"].items()}
            for c in (ARENA, BEST)
        )
        out[profile] = _rounded(paired_bootstrap(arena, best))
    return out


def spread_report(results: dict[tuple[str, int], dict], reference: str) -> dict[str, Any]:
    """Per seed: pass@1 of every profile, its range, and how many distinct weights; per profile:
    the mean and the paired interval against ``reference`` over tasks x seeds."""
    profiles = sorted({p for p, _ in results})
    seeds = sorted({s for _, s in results})
    per_seed = []
    for seed in seeds:
        values = {p: results[(p, seed)]["pass_at_1"] for p in profiles}
        weights = {p: results[(p, seed)].get("weights_sha256") for p in profiles}
        per_seed.append(
            {
                "seed": seed,
                "pass_at_1": values,
                "range": round(max(values.values()) - min(values.values()), 4),
                "distinct_weights": len(set(weights.values())),
                "weights_sha256": weights,
            }
        )
    outcomes = {
        p: {(task, s): v for s in seeds for task, v in results[(p, s)]["passed"].items()}
        for p in profiles
    }
    per_profile = {}
    for p in profiles:
        entry: dict[str, Any] = {
            "pass_at_1": round(statistics.mean(results[(p, s)]["pass_at_1"] for s in seeds), 4),
            "per_seed": [round(results[(p, s)]["pass_at_1"], 4) for s in seeds],
        }
        if p != reference and reference in outcomes:
            entry[f"minus_{reference}"] = _rounded(
                paired_bootstrap(outcomes[p], outcomes[reference])
            )
        per_profile[p] = entry
    ranges = [row["range"] for row in per_seed]
    return {
        "profiles": profiles,
        "seeds": seeds,
        "reference": reference,
        "per_seed": per_seed,
        "per_profile": per_profile,
        "max_range": max(ranges),
        "mean_range": round(statistics.mean(ranges), 4),
        "seeds_with_identical_weights": sum(row["distinct_weights"] == 1 for row in per_seed),
    }


def full_report(
    results: dict[tuple[str, str, int], dict], conditions: list[str], reference: str
) -> dict[str, Any]:
    """Per condition its spread_report, and the arena's margin per profile."""
    report: dict[str, Any] = {
        condition: spread_report(
            {(p, s): r for (c, p, s), r in results.items() if c == condition}, reference
        )
        for condition in conditions
    }
    report["arena_minus_best_single"] = margins(results)
    return report


def print_report(report: dict[str, Any]) -> None:
    profiles = report["profiles"]
    print("| seed | " + " | ".join(profiles) + " | range | distinct weights |")
    print("| --- " * (len(profiles) + 3) + "|")
    for row in report["per_seed"]:
        cells = " | ".join(f"{row['pass_at_1'][p]:.3f}" for p in profiles)
        print(f"| {row['seed']} | {cells} | {row['range']:.3f} | {row['distinct_weights']} |")
    means = " | ".join(f"{report['per_profile'][p]['pass_at_1']:.3f}" for p in profiles)
    print(f"| mean | {means} | {report['mean_range']:.3f} (max {report['max_range']:.3f}) | |")
    for p in profiles:
        diff = report["per_profile"][p].get(f"minus_{report['reference']}")
        if diff:
            print(
                f"{p} - {report['reference']}: {diff['difference']:+.4f} "
                f"[{diff['lower']:+.4f}, {diff['upper']:+.4f}]"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True, help="a home after `warriorcoder run`")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--profiles", nargs="+", default=["native:1", "native:2", "avx2:1", "generic:1"]
    )
    parser.add_argument(
        "--conditions",
        nargs="+",
        choices=[ARENA, BEST],
        default=[ARENA],
        help="what the target is trained on, as demo_effect trains it: the arena's winners and/or "
        "the best single expert's answers",
    )
    parser.add_argument("--workers", type=int, default=2, help="runs at a time")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args()

    config = load_config(args.config, args.home.resolve())
    if config.target is None:
        raise InputError(f"{args.config} has no `target` to fine-tune")
    home = Home.resolve(args.home)
    benchmark, best, rows = condition_rows(home, config)
    profiles = dict(parse_profile(text) for text in args.profiles)
    reference = REFERENCE if REFERENCE in profiles else next(iter(profiles))
    results = {}
    for name, env in profiles.items():  # one profile at a time: `workers` runs, not more
        threads = int(env["OMP_NUM_THREADS"])
        runner = Runner(
            home, config, benchmark, workers=max(1, args.workers // threads), environment=env
        )
        planned = [(c, s) for c in args.conditions for s in args.seeds]
        found = runner.run([request(f"{c}/{name}/seed-{s}", rows[c], s) for c, s in planned])
        results.update({(c, name, s): r for (c, s), r in zip(planned, found, strict=True)})
    report = full_report(results, args.conditions, reference)
    report.update(
        best_single_expert_slug=best,
        config=str(args.config),
        sft_rows={c: len(rows[c]) for c in args.conditions},
        benchmark=benchmark,
    )
    for condition in args.conditions:
        print(f"\n{condition}" + (f" ({best})" if condition == BEST else ""))
        print_report(report[condition])
    for profile, diff in report["arena_minus_best_single"].items():
        print(
            f"arena - best single, {profile}: {diff['difference']:+.4f} "
            f"[{diff['lower']:+.4f}, {diff['upper']:+.4f}]"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
