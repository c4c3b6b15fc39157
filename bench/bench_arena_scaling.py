"""The whole arena as it grows: model calls and wall time vs experts N and instructions k.

Runs the real pipeline (`dagster_wc.orchestration.runner.run_pipeline`, stages registry..sft_data, no training
or evaluation) on tiny local experts and reads `llm_calls_made` (call-cache misses) from each
asset's Dagster materializations. Every expert is a distinct model directory (the demo experts
plus renamed copies), because the call cache is keyed by the model: two slugs on the same weights
would share judge prompts and blur the counts. Each count is compared to its closed form,
derived from the code (L languages, S sampling settings, s samples per setting, D instructions
surviving cleaning + dedup, k selected instructions, logprob scoring and judging):

    mining     N * L * S * s                      every expert mines
    scoring    (N - 1) * D                        every scorer rates all survivors but its own
    responses  N * k                              every competitor answers every pick
    judging    2k * C(N, 2) * (N - 2)             C(N, 2) pairs, 2 orders, N - 2 uninvolved judges
    execution  N * k sandbox runs                 not LLM calls

Then N -> N+1 on the same home (calls of the second run / calls of a full run at N+1), and the
paper's scale (5 experts, ~70k battles) from the presets by `warriorcoder.capacity`.

    python -m bench.bench_arena_scaling [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from math import comb
from pathlib import Path

STAGES = ["registry", "mining", "dedup", "scoring", "selection", "arena", "ratings", "sft_data"]
LLM_ASSETS = {
    "instructions_mined": "mining",
    "instruction_scores": "scoring",
    "responses": "responses",
    "judgments": "judging",
}
CALL_STAGES = ("mining", "scoring", "responses", "judging")
SETTINGS = ((0.7, 0.95), (0.9, 0.98))  # L = 1 language (python), S = 2 settings
DEMO_SLUGS = ("expert-text", "expert-lists", "expert-numbers")
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Arena:
    """The size of one arena run."""

    n_experts: int
    k: int
    samples: int = 6  # per sampling setting
    languages: int = 1
    settings: int = len(SETTINGS)


# --- closed forms -------------------------------------------------------------------------------


def formula_calls(n: int, k: int, *, mined_per_expert: int, survivors: int) -> dict[str, int]:
    """LLM calls of a full run (logprob scoring and judging: one call per prompt)."""
    return {
        "mining": n * mined_per_expert,
        "scoring": (n - 1) * survivors,
        "responses": n * k,
        "judging": 2 * k * comb(n, 2) * (n - 2),
    }


def formula_incremental_calls(
    n: int, k: int, *, mined_per_expert: int, old_survivors: int, new_survivors: int
) -> dict[str, int]:
    """LLM calls of adding one expert to an arena of n (judging.new_expert_judges_existing: on).

    The newcomer mines and answers; the n old scorers rate its surviving instructions and it
    rates the old ones; each new pair (new, x) is judged by the n - 1 old judges other than x,
    and the newcomer judges the C(n, 2) old pairs. k-center keeps the earlier picks.
    """
    return {
        "mining": mined_per_expert,
        "scoring": n * new_survivors + old_survivors,
        "responses": k,
        "judging": 2 * k * n * (n - 1) + 2 * k * comb(n, 2),
    }


def incremental_fraction(n: int, k: int) -> float:
    """Judging calls of N -> N+1 over a full recompute at N+1 (the dominant stage): 3 / (N + 1)."""
    return (2 * k * n * (n - 1) + 2 * k * comb(n, 2)) / (2 * k * comb(n + 1, 2) * (n - 1))


def extrapolate() -> dict:
    """The paper's scale, from configs/paper.yaml and configs/recommended.yaml by
    `warriorcoder.capacity`: the same figures as the capacity table of docs/OPERATIONS.md."""
    from warriorcoder.capacity import Rates, battles, stage_costs
    from wc_foundation.config import load_config

    rates, out, lines = Rates(), {}, []
    with tempfile.TemporaryDirectory() as home:
        for name in ("paper", "recommended"):
            config = load_config(REPO / "configs" / f"{name}.yaml", home=Path(home))
            costs = stage_costs(config, rates)
            out[f"{name}_calls"] = {c.stage: c.calls for c in costs}
            out[f"{name}_battles"] = battles(config)
            out[f"{name}_total_calls"] = sum(c.calls for c in costs)
            out[f"{name}_gpu_hours"] = round(sum(c.gpu_hours for c in costs), 1)
            out[f"{name}_judging_gpu_hours"] = round(costs[-1].gpu_hours, 1)
            lines += [
                f"{name}.yaml {c.stage}: {c.calls} calls, {c.prompt_tokens:.3g} prompt + "
                f"{c.generated_tokens:.3g} generated tokens = {c.gpu_hours:.1f} GPU-hours"
                for c in costs
            ]
    return {**out, "paper_arithmetic": [*lines, f"rates: {rates.source}"]}


# --- running the pipeline -----------------------------------------------------------------------


def demo_models_dir() -> Path | None:
    """The folder that holds the built demo experts, or None."""
    candidates = [
        os.environ.get("WC_DEMO_MODELS"),
        str(Path(__file__).resolve().parents[1] / ".warriorcoder" / "models"),
    ]
    for root in filter(None, candidates):
        demo = Path(root) / "demo"
        if all((demo / slug / "model.safetensors").is_file() for slug in DEMO_SLUGS):
            return demo
    return None


def expert_dirs(n: int, root: Path) -> list[tuple[str, Path]]:
    """n distinct model directories: demo experts, then renamed copies (a new cache identity).

    Without built demo experts, tiny random Llamas with different seeds (they never stop early,
    so runs are slower, but every count is the same).
    """
    demo = demo_models_dir()
    out = []
    for i in range(n):
        slug = f"e{i + 1}"
        path = root / f"bench-expert-{i + 1}"
        if demo is not None:
            source = demo / DEMO_SLUGS[i % len(DEMO_SLUGS)]
            if not (path / "model.safetensors").is_file():
                shutil.copytree(source, path, dirs_exist_ok=True)
        else:
            from wc_demo.tiny_model import build_tiny_model, build_tokenizer

            tokenizer = build_tokenizer(root / "tokenizer")
            path = build_tiny_model(path, tokenizer_dir=tokenizer, seed=i, hidden_size=32)
        out.append((slug, path))
    return out


def arena_yaml(experts: list[tuple[str, Path]], arena: Arena) -> str:
    """The arena config: logprob scoring and judging, every instruction kept (min_score 1)."""
    lines = ["experts:"]
    for slug, path in experts:
        lines.append(
            f"  - {{slug: {slug}, model: '{path}', family: {slug}, batch_size: 32,"
            " max_model_len: 2048}"
        )
    grid = ", ".join(f"{{temperature: {t}, top_p: {p}}}" for t, p in SETTINGS[: arena.settings])
    lines += [
        f"mining: {{languages: [python], sampling_grid: [{grid}],",
        f"         samples_per_setting: {arena.samples}, max_new_tokens: 64, system_prompt: none}}",
        "scoring: {mode: logprob, min_score: 1}",
        f"selection: {{k: {arena.k}}}",
        "responses: {temperature: 0.7, top_p: 0.95, max_new_tokens: 48}",
        "judging: {mode: logprob, execution: {enabled: true, timeout_s: 5}}",
        "ratings: {bootstrap_rounds: 20}",
    ]
    return "\n".join(lines) + "\n"


def run_arena(config: Path, home_dir: Path, stages: list[str]) -> dict:
    """One pipeline run: LLM calls and sandbox runs per stage (this run only), seconds per stage."""
    import dagster as dg

    from dagster_wc.orchestration.runner import run_pipeline
    from wc_foundation.storage import Home
    from wc_foundation.warehouse import query

    home = Home.resolve(home_dir)
    seconds: dict[str, float] = defaultdict(float)
    started: dict[int, float] = {}

    def on_step(index: int, total: int, step, phase: str) -> None:
        if phase == "start":
            started[index] = time.perf_counter()
        else:
            took = time.perf_counter() - started[index]
            if step.label.startswith("dbt:"):
                stage = "dbt"
            else:
                stage = LLM_ASSETS.get(step.label.split("[")[0], step.stage)
            seconds[stage] += took
            print(f"  {step.label}: {took:.1f} s", file=sys.stderr, flush=True)

    wall = time.perf_counter()
    summary = run_pipeline(config, home, stages=stages, on_step=on_step)
    wall = time.perf_counter() - wall
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    runs = set(summary.run_ids)
    calls: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for asset, stage in LLM_ASSETS.items():
        calls[stage], tokens[stage] = 0, 0
        for record in instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records:
            if record.run_id in runs:
                meta = record.asset_materialization.metadata
                calls[stage] += int(meta["llm_calls_made"].value)
                if "completion_tokens" in meta:
                    tokens[stage] += int(meta["completion_tokens"].value)
    sandbox = 0
    for record in instance.fetch_materializations(
        dg.AssetKey("execution_results"), limit=1000
    ).records:
        if record.run_id in runs:
            sandbox += int(record.asset_materialization.metadata["rows"].value)
    counts = query(
        home,
        "select (select count(*) from stg_instructions_mined) as mined,"
        " (select count(*) from instructions_dedup) as survivors,"
        " (select count(*) from instructions_for_battle) as k,"
        " (select count(*) from battle_votes) as votes",
    ).row(0, named=True)
    per_miner = query(
        home, "select miner, count(*) as n from instructions_dedup group by miner order by miner"
    )
    return {
        "calls": calls,
        "completion_tokens": tokens,
        "sandbox_runs": sandbox,
        "seconds": {stage: round(s, 1) for stage, s in seconds.items()},
        "wall_seconds": round(wall, 1),
        "mined": int(counts["mined"]),
        "survivors": int(counts["survivors"]),
        "survivors_by_miner": dict(per_miner.iter_rows()),
        "k_selected": int(counts["k"]),
        "battle_votes": int(counts["votes"]),
    }


def full_run(arena: Arena, root: Path, models: Path, stages: list[str] = STAGES) -> dict:
    """A fresh arena of arena.n_experts experts, measured against the closed forms."""
    tag = f"n{arena.n_experts}-k{arena.k}"
    config = root / f"{tag}.yaml"
    config.write_text(arena_yaml(expert_dirs(arena.n_experts, models), arena))
    measured = run_arena(config, root / tag, stages)
    mined_per_expert = arena.languages * arena.settings * arena.samples
    formula = formula_calls(
        arena.n_experts,
        measured["k_selected"],
        mined_per_expert=mined_per_expert,
        survivors=measured["survivors"],
    )
    return {
        "n_experts": arena.n_experts,
        "k": arena.k,
        **measured,
        "formula_calls": formula,
        "calls_match_formula": measured["calls"] == formula,
        "total_calls": sum(measured["calls"].values()),
    }


def incremental_run(
    arena: Arena, root: Path, models: Path, base: dict, stages: list[str] = STAGES
) -> dict:
    """Add one expert to the arena measured in `base` (same home) and count the second run."""
    n = arena.n_experts
    tag = f"n{n}-k{arena.k}"
    config = root / f"{tag}.yaml"
    config.write_text(arena_yaml(expert_dirs(n + 1, models), Arena(n + 1, arena.k, arena.samples)))
    measured = run_arena(config, root / tag, stages)
    newcomer = f"e{n + 1}"
    new_survivors = measured["survivors_by_miner"].get(newcomer, 0)
    formula = formula_incremental_calls(
        n,
        measured["k_selected"],
        mined_per_expert=arena.languages * arena.settings * arena.samples,
        old_survivors=base["survivors"],
        new_survivors=new_survivors,
    )
    return {
        "from_n": n,
        "to_n": n + 1,
        "k": arena.k,
        **measured,
        "formula_calls": formula,
        "calls_match_formula": measured["calls"] == formula,
        "total_calls": sum(measured["calls"].values()),
    }


def run(quick: bool = False) -> dict:
    """quick: one fresh arena (N=3, k=4, stages up to arena); full: three arenas and N=3 -> 4."""
    root = Path(tempfile.mkdtemp(prefix="wc_bench_arena_"))
    models = Path(tempfile.gettempdir()) / "wc_bench_arena_models"
    models.mkdir(exist_ok=True)
    if quick:
        grid, stages = [Arena(3, 4, samples=3)], STAGES[: STAGES.index("arena") + 1]
    else:
        grid, stages = [Arena(3, 4), Arena(4, 4), Arena(3, 8)], STAGES
    result: dict = {
        "benchmark": "arena_scaling",
        "model": "demo experts + renamed copies" if demo_models_dir() else "tiny llamas",
        "stages": stages,
        "formulas": {
            "mining": "N x L x S x samples",
            "scoring": "(N - 1) x D (D = survivors of cleaning + dedup; logprob: 1 call each)",
            "responses": "N x k",
            "judging": "2k x C(N,2) x (N-2) LLM votes (+ N x k sandbox runs)",
            "incremental judging": "2k x N(N-1) + 2k x C(N,2) = 3k x N(N-1)",
            "incremental / full judging": "3 / (N + 1)",
        },
    }
    try:
        result["runs"] = [full_run(a, root, models, stages) for a in grid]
        if not quick:
            base, at_n1 = result["runs"][0], result["runs"][1]  # N = 3 and N = 4, k = 4
            grown = incremental_run(Arena(3, 4), root, models, base, stages)
            result["incremental"] = grown
            result["incremental_fraction_of_full"] = round(
                grown["total_calls"] / at_n1["total_calls"], 3
            )
            result["incremental_fraction_by_stage"] = {
                stage: round(grown["calls"][stage] / max(at_n1["calls"][stage], 1), 3)
                for stage in CALL_STAGES
            }
            result["incremental_wall_fraction"] = round(
                grown["wall_seconds"] / at_n1["wall_seconds"], 3
            )
            result["incremental_judging_fraction_formula"] = round(incremental_fraction(3, 4), 3)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {**result, **extrapolate()}


def summary(result: dict) -> list[tuple[str, str, str, str]]:
    """Rows for the top table of docs/BENCHMARKS.md: (benchmark, compared, result, target)."""
    runs = result["runs"]
    matched = sum(r["calls_match_formula"] for r in runs)
    biggest = max(runs, key=lambda r: (r["n_experts"], r["k"]))
    rows = [
        (
            "arena_scaling",
            "LLM calls per stage vs closed form, N in "
            f"{sorted({r['n_experts'] for r in runs})}, k in {sorted({r['k'] for r in runs})}",
            f"{matched}/{len(runs)} runs exact",
            "all exact",
        ),
        (
            "arena_scaling",
            f"wall time of one run, N={biggest['n_experts']}, k={biggest['k']} (tiny models, CPU);"
            " share spent in dbt builds",
            f"{biggest['wall_seconds']} s; {biggest['seconds'].get('dbt', 0) / biggest['wall_seconds']:.0%}",
            "-",
        ),
    ]
    if result.get("incremental_fraction_of_full") is not None:
        grown = result["incremental"]
        judging = result["incremental_fraction_by_stage"]["judging"]
        rows.append(
            (
                "arena_scaling",
                f"N={grown['from_n']} -> {grown['to_n']}: calls of the increment / full recompute"
                " (all stages; judging)",
                f"{result['incremental_fraction_of_full']:.2f}; {judging:.2f}"
                + (" (calls exact)" if grown["calls_match_formula"] else " (calls off formula)"),
                f"judging {result['incremental_judging_fraction_formula']:.2f} = 3/(N+1)",
            )
        )
        rows.append(
            (
                "arena_scaling",
                f"N={grown['from_n']} -> {grown['to_n']}: sandbox runs of the execution judge",
                f"{grown['sandbox_runs']}",
                f"{grown['k']} (new expert's responses only)",
            )
        )
    rows.append(
        (
            "arena_scaling",
            "paper scale, configs/paper.yaml and recommended.yaml (5 experts, 70k battles): LLM "
            "calls / GPU-hours (the capacity table of docs/OPERATIONS.md)",
            f"{result['paper_total_calls']:,} / {result['paper_gpu_hours']:,} h; "
            f"{result['recommended_total_calls']:,} / {result['recommended_gpu_hours']:,} h",
            "-",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run at N=3, k=4 plus N -> 4")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
